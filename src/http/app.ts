// The Elysia app: HTTP routes and the room socket. Built by a function so tests, the binary and
// the Eden client's `App` type all share one definition.
import { Elysia, status as reply, ValidationError } from "elysia";
import { z } from "zod";
import page from "../../public/index.html";
import {
  ClientFrame,
  isRoomName,
  LIMITS,
  MessagesPage,
  MessagesQuery,
  RoomList,
  ServerFrame,
  type ErrorCode,
} from "../protocol/frames";
import { Hub, Session } from "../rooms/hub";
import type { MessageStore } from "../rooms/ports";
import { RateLimiter } from "../rooms/rate-limit";
import { silentLogger, type Logger } from "../log";
import { Connections, type Socket } from "./connections";
import { clientAddress, originAllowed } from "./guards";

export interface AppOptions {
  store: MessageStore;
  historyLimit?: number;
  /** Messages per second per client IP; 0 = off. */
  rateLimit?: number;
  rateBurst?: number;
  maxConnectionsPerIp?: number;
  maxFrameBytes?: number;
  /** Browser origins allowed besides the server's own host. */
  origins?: string[];
  trustProxy?: boolean;
  joinTimeoutMs?: number;
  heartbeatMs?: number;
  /** A socket whose unsent data passes this is closed (slow consumer). */
  maxBufferedBytes?: number;
  /** Delete messages older than this (ms); unset: keep everything. */
  retentionMs?: number;
  /** How often the retention job runs (default: hourly, or a tenth of the retention). */
  pruneEveryMs?: number;
  logger?: Logger;
  now?: () => number;
}

type SocketData = { session: Session; alive: boolean };

export function createApp(options: AppOptions) {
  const now = options.now ?? Date.now;
  const log = options.logger ?? silentLogger;
  const limiter = new RateLimiter(options.rateLimit ?? 0, options.rateBurst ?? 10);
  const connections = new Connections({
    maxPerClient: options.maxConnectionsPerIp ?? 0,
    joinTimeoutMs: options.joinTimeoutMs ?? 10_000,
  });

  const app = new Elysia({
    websocket: {
      maxPayloadLength: options.maxFrameBytes ?? 64 * 1024,
      backpressureLimit: options.maxBufferedBytes ?? 1024 * 1024,
      closeOnBackpressureLimit: true,
      perMessageDeflate: false,
      // Liveness is our own heartbeat (see Connections); Bun's idle timer is only a backstop.
      idleTimeout: 960,
      sendPings: false,
    },
  });

  const hub = new Hub({
    store: options.store,
    broadcast: (room, data) => void app.server?.publish(room, data),
    historyLimit: options.historyLimit ?? 100,
    limiter: limiter.enabled ? limiter : undefined,
    now,
  });

  const timers = [
    setInterval(() => connections.closeUnjoined(now()), Math.max(250, (options.joinTimeoutMs ?? 10_000) / 4)),
    setInterval(() => connections.heartbeat(), options.heartbeatMs ?? 30_000),
    setInterval(() => limiter.sweep(now()), 60_000),
  ];
  const { retentionMs } = options;
  const prune = async () => {
    if (retentionMs === undefined) return 0;
    try {
      const deleted = await hub.prune(now() - retentionMs);
      log.info("pruned", { deleted });
      return deleted;
    } catch (error) {
      log.error("prune failed", { error: String(error) });
      return 0;
    }
  };
  if (retentionMs !== undefined) {
    void prune();
    timers.push(setInterval(prune, options.pruneEveryMs ?? Math.min(3_600_000, retentionMs / 10)));
  }

  const refuseFrame = (code: ErrorCode, message: string) => ({ type: "error" as const, code, message });

  return app
    .decorate("chat", { hub, connections, prune })
    .onStop(() => timers.forEach(clearInterval))
    .get("/", page)
    .get("/health", () => ({ ok: true as const, connections: connections.size, rooms: hub.liveRooms }))
    .get("/rooms", async () => ({ rooms: await hub.summaries() }), { response: RoomList })
    .get(
      "/rooms/:room/messages",
      async ({ params, query, status }) => {
        if (!isRoomName(params.room)) return status(400, "bad room name: 1-64 characters of A-Z a-z 0-9 _ - .");
        const parsed = MessagesQuery.safeParse({ before: query.before, limit: query.limit === undefined ? undefined : Math.min(Number(query.limit), LIMITS.pageMax) });
        if (!parsed.success) return status(400, "before and limit are positive integers");
        const { before, limit = LIMITS.pageDefault } = parsed.data;
        return { messages: await options.store.page(params.room, { before, limit }) };
      },
      { response: { 200: MessagesPage, 400: z.string() } },
    )
    .get("/rooms/:room/ws", ({ params, status, set }) => {
      if (!isRoomName(params.room)) return status(400, "bad room name: 1-64 characters of A-Z a-z 0-9 _ - .");
      set.headers.upgrade = "websocket";
      return status(426, "this route is a WebSocket: send Upgrade: websocket");
    })
    .ws("/rooms/:room/ws", {
      body: ClientFrame,
      response: ServerFrame,
      // Runs before the upgrade; a thrown status becomes the HTTP answer and nothing is upgraded.
      beforeHandle(context) {
        const { params, request, server } = context;
        if (!isRoomName(params.room)) throw reply(400, "bad room name: 1-64 characters of A-Z a-z 0-9 _ - .");
        if (!originAllowed(request, options.origins ?? [])) throw reply(403, "origin not allowed");
        const client = clientAddress(request, server, options.trustProxy ?? false);
        if (!connections.reserve(client)) throw reply(429, "too many connections from this address");
        (context as unknown as SocketData).session = new Session(params.room, client, now());
      },
      open(ws) {
        connections.opened(ws.raw as Socket);
      },
      message(ws, frame) {
        const socket = ws.raw as Socket;
        socket.data.alive = true;
        const { session } = socket.data;
        if (frame.type === "join") void hub.join(socket, session, frame);
        else void hub.send(socket, session, frame);
      },
      pong(ws) {
        (ws.raw as Socket).data.alive = true;
      },
      close(ws) {
        const socket = ws.raw as Socket;
        connections.closed(socket);
        hub.leave(socket.data.session);
      },
      error({ error }) {
        // Anything else (a status thrown before the upgrade) keeps Elysia's own handling.
        if (!(error instanceof ValidationError)) return;
        const value = error.value as unknown;
        if (typeof value !== "object" || value === null || Array.isArray(value)) {
          return typeof value === "string" ? refuseFrame("bad_json", "a frame is one JSON object") : refuseFrame("bad_frame", "a frame is one JSON object with a string type");
        }
        const frame = value as Record<string, unknown>;
        if (frame.type === "message" && typeof frame.message === "string" && frame.message.length > LIMITS.message) {
          return refuseFrame("too_long", `a message is at most ${LIMITS.message} characters`);
        }
        const issue = error.all[0];
        const where = issue && "path" in issue && issue.path ? String(issue.path).replace(/^\//, "") : "";
        return refuseFrame("bad_frame", `invalid frame${where ? ` (${where})` : ""}: see the protocol`);
      },
    });
}

export type App = ReturnType<typeof createApp>;
