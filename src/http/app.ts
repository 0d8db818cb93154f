// The Elysia app: HTTP routes and the room socket. Built by a function so tests, the binary and
// the Eden client's `App` type all share one definition.
import type { Server } from "bun";
import { Elysia } from "elysia";
import { z } from "../protocol/zod";
import page from "../../public/index.html";
import { localFanout } from "../bus/local";
import { silentLogger, type Logger } from "../log";
import { CLOSE, isRoomName, LIMITS } from "../protocol/limits";
import { MessagesPage, MessagesQuery, RoomList, RoomsQuery } from "../protocol/rest";
import { Hub, Session } from "../rooms/hub";
import type { ClusterLink } from "../bus/cluster";
import type { AccessStore, Fanout, MessageStore, TokenVerifier } from "../rooms/ports";
import type { PresenceOptions } from "../rooms/presence";
import { RateLimiter } from "../rooms/rate-limit";
import { Connections } from "./connections";
import { clientAddress, clientKey, originAllowed } from "./guards";
import { docs } from "./docs";
import { serverApi } from "./api";
import { createMetrics, type Metrics } from "./metrics";
import { clusterEvents, hubEvents, observe } from "./observe";
import { requestGuard } from "./request-guard";
import { socketData } from "./socket";

/**
 * What the app is built from. main.ts builds the parts (store, fan-out, limiters, hub) and passes
 * them in; a test may pass only a store and get the rest built here from the plain settings
 * below (those are ignored for a part that is given).
 */
export interface AppOptions {
  store: MessageStore;
  /** Which store that is, for GET /health (default "sqlite"). */
  storeKind?: "sqlite" | "postgres";
  /** The room logic; default: one built here on `fanout` (or `cluster`) and the limits below. */
  hub?: Hub;
  /**
   * Several nodes (src/bus/cluster.ts): the hub catches up when its link comes back, /health
   * reports Redis, shutdown closes the link. A hub given above must be built on the same link.
   */
  cluster?: ClusterLink;
  /** Join and history tokens are checked with it (src/auth/tokens.ts); without it no token is accepted. */
  verifier?: TokenVerifier;
  /** Room settings and bans; default: the store, when it keeps them (every store of src/store does). */
  access?: AccessStore;
  /**
   * The server API under /api: CHAT_API_KEY's keys (none: every /api route is 404), and what
   * POST /api/tokens signs with (CHAT_AUTH_SECRET, issuer, audience; no secret: 404).
   */
  api?: { keys: readonly string[]; tokenSecret?: string; issuer?: string; audience?: string };
  /** CHAT_ANONYMOUS (default true): joins and history reads without a token, in public rooms. */
  anonymous?: boolean;
  /** How a room's frames reach its members; default: Bun's topics on this server (src/bus/local.ts). */
  fanout?: Fanout;
  /** Messages per client; default: one from `rateLimit`/`rateBurst`. */
  limiter?: RateLimiter;
  /** Joins per client; default: one from `joinRate`/`joinBurst`. */
  joinLimiter?: RateLimiter;
  historyLimit?: number;
  /** Messages per second per client IP; 0 = off. */
  rateLimit?: number;
  rateBurst?: number;
  /** Joins per second per client IP; 0 = off. */
  joinRate?: number;
  joinBurst?: number;
  maxConnectionsPerIp?: number;
  /** Open HTTP connections (not sockets) per client IP; 0 = no cap. */
  maxHttpConnectionsPerIp?: number;
  /** Host names the server answers for (DNS rebinding); empty: any. */
  hosts?: string[];
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
  /** How a busy room holds its presence changes (src/rooms/presence.ts); tests tune it, it is no setting. */
  presence?: Partial<PresenceOptions>;
  logger?: Logger;
  /** Where counters go (GET /metrics); pass one to share it with the store's onCommit. */
  metrics?: Metrics;
  now?: () => number;
}

const BAD_ROOM = "bad room name: 1-64 characters of A-Z a-z 0-9 _ - .";

interface UpgradeRefusal {
  status: 400 | 403 | 426 | 429;
  body: string;
  headers?: Record<string, string>;
}

export function createApp(options: AppOptions) {
  const now = options.now ?? Date.now;
  const log = options.logger ?? silentLogger;
  const metrics = options.metrics ?? createMetrics();
  const connections = new Connections({
    maxPerClient: options.maxConnectionsPerIp ?? 0,
    joinTimeoutMs: options.joinTimeoutMs ?? 10_000,
  });
  const observed = observe({ metrics, log, connections });
  // Every request passes it before any route (serve.ts runs it): Host, HTTP connections, descriptors.
  const guard = requestGuard(
    { hosts: options.hosts ?? [], maxConnectionsPerClient: options.maxHttpConnectionsPerIp ?? 0, trustProxy: options.trustProxy ?? false, log },
    () => app.server ?? undefined,
    now,
  );

  const storeKind = options.storeKind ?? "sqlite";
  const { cluster } = options;
  // A node whose Redis is down still serves its own members: ok, with redis "down".
  const health = () => ({
    ok: true as const,
    store: storeKind,
    ...(cluster && { redis: cluster.bus.status().up ? ("up" as const) : ("down" as const) }),
    connections: connections.size,
    rooms: hub.liveRooms,
  });
  const app = new Elysia({
    serve: {
      // Not Bun's development mode: it would start a file watcher (HMR for the page) per server.
      development: false,
      // Served by Bun's router, before Elysia's: the page (with its bundled assets), and GET
      // /health, so that a starting server's first answer does not wait for Elysia to compile.
      // The room socket too (socketUpgrade): through Elysia each upgrade built a request context;
      // without it, 5.6-5.7 -> 5.2-5.3 KiB of RSS per idle connection.
      routes: {
        "/": page,
        "/health": { GET: () => Response.json(health()) },
        "/rooms/:room/ws": {
          GET: (request: Bun.BunRequest, server: Server<unknown>) => {
            const refusal = socketUpgrade(request.params.room ?? "", request, server);
            return refusal && new Response(refusal.body, { status: refusal.status, headers: refusal.headers });
          },
        },
      },
    },
    websocket: {
      maxPayloadLength: options.maxFrameBytes ?? 32 * 1024, // see config.ts
      backpressureLimit: options.maxBufferedBytes ?? 1024 * 1024,
      closeOnBackpressureLimit: true,
      perMessageDeflate: false,
      // Liveness is our own heartbeat (see Connections); Bun's idle timer is only a backstop.
      idleTimeout: 960,
      sendPings: false,
    },
  });

  const bus = cluster && metrics.countedBus(cluster.bus);
  const access = options.access ?? accessOf(options.store);
  const hub: Hub =
    options.hub ??
    new Hub({
      store: options.store,
      fanout: bus ?? metrics.counted(options.fanout ?? localFanout(() => app.server)),
      cluster: cluster && bus && { bus, directory: cluster.directory, events: clusterEvents(metrics, log) },
      historyLimit: options.historyLimit ?? 100,
      limiter: options.limiter ?? new RateLimiter(options.rateLimit ?? 0, options.rateBurst ?? 10),
      joinLimiter: options.joinLimiter ?? new RateLimiter(options.joinRate ?? 0, options.joinBurst ?? 100),
      presence: options.presence,
      now,
      events: hubEvents(metrics, log),
      verifier: options.verifier,
      access,
      anonymous: options.anonymous,
    });
  cluster?.onLinkBack(() => hub.linkBack());
  metrics.watch({ connections: () => connections.size, rooms: () => hub.liveRooms, clients: () => connections.clients });

  const timers = [
    setInterval(() => observed.neverJoined(connections.closeUnjoined(now())), Math.max(250, (options.joinTimeoutMs ?? 10_000) / 4)),
    setInterval(() => observed.deadPeers(connections.heartbeat()), options.heartbeatMs ?? 30_000),
    setInterval(() => hub.sweep(now()), 60_000),
    setInterval(guard.watch, 1000),
  ];
  const { retentionMs } = options;
  const prune = async () => {
    if (retentionMs === undefined) return 0;
    try {
      const started = performance.now();
      const deleted = await hub.prune(now() - retentionMs);
      log.info("pruned", { deleted, ms: Math.round(performance.now() - started) });
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

  const newSocketData = socketData({ hub, connections, events: observed.sockets });

  /** GET /rooms/:room/ws: upgrades to the room socket; a refusal says why. */
  function socketUpgrade(room: string, request: Request, server: Server<unknown> | null): UpgradeRefusal | undefined {
    if (!isRoomName(room)) {
      observed.refused("bad_room");
      return { status: 400, body: BAD_ROOM };
    }
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return { status: 426, body: "this route is a WebSocket: send Upgrade: websocket", headers: { upgrade: "websocket" } };
    }
    // One key per client for every per-client cap downstream (an IPv6 /64 is one client).
    const client = clientKey(clientAddress(request, server, options.trustProxy ?? false));
    if (!originAllowed(request, options.origins ?? [])) {
      observed.refused("origin", { origin: request.headers.get("origin"), client });
      return { status: 403, body: "origin not allowed" };
    }
    const session = new Session(room, client, now());
    if (!connections.reserve(session)) {
      observed.refused("too_many_connections", { client });
      return { status: 429, body: "too many connections from this address" };
    }
    if (server?.upgrade(request, { data: newSocketData(session) })) return undefined;
    return { status: 400, body: "WebSocket upgrade failed" };
  }

  const routes = app
    .decorate("chat", { hub, connections, prune, guard })
    .use(docs)
    .use(
      serverApi({
        keys: options.api?.keys ?? [],
        hub,
        access,
        tokens: { secret: options.api?.tokenSecret, issuer: options.api?.issuer, audience: options.api?.audience },
        log,
        now,
        events: {
          request(route, status) {
            const key = `${route}\t${status}`;
            metrics.tally.api.set(key, (metrics.tally.api.get(key) ?? 0) + 1);
          },
          kicked: (closed) => void (metrics.tally.kicks += closed),
          banned: () => void metrics.tally.bans++,
        },
      }),
    )
    .onStop(() => timers.forEach(clearInterval))
    .get("/metrics", async ({ set }) => {
      set.headers["content-type"] = metrics.contentType;
      return metrics.text();
    })
    .get("/health", health) // declared for the docs, Eden and app.handle(); served by the route above
    .get(
      "/rooms",
      ({ query }) => {
        const { after, limit = LIMITS.roomsPageDefault } = RoomsQuery.parse(query);
        return hub.summaries({ after, limit: Math.min(limit, LIMITS.roomsPageMax) });
      },
      {
        query: RoomsQuery,
        response: { 200: RoomList, 400: z.string() },
        error: ({ code, status }) => (code === "VALIDATION" ? status(400, "limit is a whole number > 0; after is the `next` of an earlier page") : undefined),
      },
    )
    .get(
      "/rooms/:room/messages",
      async ({ params, query, request, set, status }) => {
        if (!isRoomName(params.room)) return status(400, BAD_ROOM);
        const access = await hub.historyAccess(params.room, bearerToken(request.headers.get("authorization")));
        if (access === "unauthorized") {
          set.headers["www-authenticate"] = 'Bearer realm="chat"';
          return status(401, "this room's history needs Authorization: Bearer <a user token>");
        }
        if (access === "forbidden") return status(403, "the token does not cover this room");
        // Elysia checked the query against the schema; parse again for its coerced values.
        const { before, after, limit = LIMITS.pageDefault } = MessagesQuery.parse(query);
        return { messages: await options.store.page(params.room, { before, after, limit: Math.min(limit, LIMITS.pageMax) }) };
      },
      {
        query: MessagesQuery,
        response: { 200: MessagesPage, 400: z.string(), 401: z.string(), 403: z.string() },
        error: ({ code, status }) => (code === "VALIDATION" ? status(400, "before, after and limit are whole numbers (before and limit > 0)") : undefined),
      },
    )
    // A room name that is empty or holds a slash matches none of the routes above: still a bad
    // room name (400, as the contract says), not an unknown route. (Not an onError hook: in
    // Elysia 1.4 a NOT_FOUND answered there turns every later 404 into an empty 200.)
    .get("/rooms/*", ({ path, status }) => (/\/(ws|messages)$/.test(path) ? status(400, BAD_ROOM) : status(404, "not found")), { detail: { hide: true } })
    // Served by the Bun route above; declared for the docs, Eden and app.handle().
    .get("/rooms/:room/ws", ({ params, request, server, set, status }) => {
      const refusal = socketUpgrade(params.room, request, server);
      if (!refusal) return;
      Object.assign(set.headers, refusal.headers);
      return status(refusal.status, refusal.body);
    });

  return {
    /** The Elysia app: serve it with serve.ts. */
    app: routes,
    /**
     * Graceful shutdown: stops taking connections, commits and delivers every message accepted
     * so far (those senders get their acks), closes every socket (1001, going away), commits
     * what was read meanwhile (stored, its ack lost: a client's retry finds it by its clientId,
     * where a closed store would have refused it), and stops the app. The store is the
     * caller's to close after.
     */
    async shutdown() {
      app.server?.stop(false); // open connections stay until they are closed below
      await hub.drain();
      for (const ws of connections.sockets) ws.close(CLOSE.goingAway, "server shutting down");
      await hub.drain();
      await routes.stop(true);
      // The directory's close removes this node's rosters at once: the others need no ttl to see them go.
      if (cluster) await Promise.all([cluster.directory.close(), cluster.bus.close()]);
    },
  };
}

/** The store's room settings and bans, when it keeps them. */
function accessOf(store: MessageStore): AccessStore | undefined {
  const maybe = store as MessageStore & Partial<AccessStore>;
  return typeof maybe.roomSettings === "function" && typeof maybe.isBanned === "function" ? (maybe as MessageStore & AccessStore) : undefined;
}

/** The token of `Authorization: Bearer <token>` (the scheme is case-insensitive, RFC 7235). */
function bearerToken(header: string | null): string | undefined {
  const match = header && /^Bearer +(\S+)\s*$/i.exec(header);
  return match ? match[1] : undefined;
}

/** The room socket as Eden sees it: the frames of the contract (served by socket.ts, not by this). */
function declareRoomSocket() {
  const { ClientFrame, ServerFrame } = require("../protocol/frames") as typeof import("../protocol/frames"); // never called: types only
  return new Elysia().ws("/rooms/:room/ws", { body: ClientFrame, response: ServerFrame });
}

export type App = ReturnType<typeof createApp>["app"] & ReturnType<typeof declareRoomSocket>;

