// The Elysia app: HTTP routes and the room socket. Built by a function so tests, the binary and
// the Eden client's `App` type all share one definition.
import { Elysia } from "elysia";
import { openapi } from "@elysiajs/openapi";
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
} from "../protocol/frames";
import { Hub, Session } from "../rooms/hub";
import type { MessageStore } from "../rooms/ports";
import { RateLimiter } from "../rooms/rate-limit";
import { silentLogger, type Logger } from "../log";
import { Connections } from "./connections";
import { socketData } from "./socket";
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

  const newSocketData = socketData({ hub, connections });

  return app
    .decorate("chat", { hub, connections, prune })
    .use(openapi({ mapJsonSchema: { zod: z.toJSONSchema }, exclude: { paths: ["/", "/rooms/:room/ws"] }, documentation: { info: { title: "chat-server", version: "0.1.0", description: "REST routes of the chat server; the room socket is GET /rooms/:room/ws (see PROTOCOL.md)" } } }))
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
    .get("/rooms/:room/ws", ({ params, request, server, set, status }) => {
      if (!isRoomName(params.room)) return status(400, "bad room name: 1-64 characters of A-Z a-z 0-9 _ - .");
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        set.headers.upgrade = "websocket";
        return status(426, "this route is a WebSocket: send Upgrade: websocket");
      }
      if (!originAllowed(request, options.origins ?? [])) return status(403, "origin not allowed");
      const session = new Session(params.room, clientAddress(request, server, options.trustProxy ?? false), now());
      if (!connections.reserve(session)) return status(429, "too many connections from this address");
      if (server?.upgrade(request, { data: newSocketData(session) })) return;
      return status(400, "WebSocket upgrade failed");
    });
}

/** The room socket as Eden sees it: the frames of the contract (served by socket.ts, not by this). */
function declareRoomSocket() {
  return new Elysia().ws("/rooms/:room/ws", { body: ClientFrame, response: ServerFrame });
}

export type App = ReturnType<typeof createApp> & ReturnType<typeof declareRoomSocket>;

