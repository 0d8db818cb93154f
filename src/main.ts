// The executable: parse the configuration, open the store, serve, shut down gracefully.
import { ConfigError, parseConfig, redactUrl, usage } from "./config";
import type { ClusterLink } from "./bus/cluster";
import { localFanout } from "./bus/local";
import { requestSlice } from "./event-loop-slice";
import { createApp } from "./http/app";
import { startIdleCollector } from "./http/idle-collect";
import { createMetrics } from "./http/metrics";
import { clusterEvents, hubEvents } from "./http/observe";
import { serve } from "./http/serve";
import { createLogger } from "./log";
import { Hub } from "./rooms/hub";
import type { AccessStore, MessageStore, TokenVerifier } from "./rooms/ports";
import { RateLimiter } from "./rooms/rate-limit";
import { openSqliteStore } from "./store/sqlite";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  process.stdout.write(usage());
  process.exit(0);
}

let config;
try {
  config = parseConfig(argv, process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`chat-server: invalid configuration\n${error.message}\n\nRun with --help for the options.\n`);
  process.exit(2);
}
// With a key configured, joins may carry tokens: jose (and the key) are loaded only then, so an
// open server's start-up does not pay for them. A key that cannot be used is a configuration error.
let verifier: TokenVerifier | undefined;
if (config.authSecret !== undefined || config.authPublicKey !== undefined || config.authJwksUrl !== undefined) {
  try {
    const { createTokenVerifier } = await import("./auth/tokens");
    verifier = await createTokenVerifier(config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`chat-server: invalid configuration\n${error.message}\n`);
    process.exit(2);
  }
}

const log = createLogger(config.logLevel);
// Asked before the store starts its checkpointer thread, which puts its own slice back.
const slice = config.eventLoopSliceUs === 0 ? undefined : requestSlice(config.eventLoopSliceUs);
if (slice && !slice.applied) log.debug("event loop slice not applied", { why: slice.why });
const metrics = createMetrics();
// PostgreSQL when DATABASE_URL is set (its module, loaded only then, stays out of a SQLite
// node's start-up), else the SQLite file.
const storeKind = config.databaseUrl === undefined ? "sqlite" : "postgres";
const where = {
  ...(config.databaseUrl === undefined ? { db: config.db } : { database: redactUrl(config.databaseUrl) }),
  ...(config.redisUrl !== undefined && { redis: redactUrl(config.redisUrl) }),
};
let store: MessageStore & AccessStore;
try {
  // The executable is read into the page cache by the checkpointer thread, off the event loop.
  if (config.databaseUrl === undefined) store = openSqliteStore(config.db, { onCommit: metrics.onCommit, warm: process.execPath });
  else {
    const { openPgStore } = await import("./store/pg");
    store = await openPgStore(config.databaseUrl, { onCommit: metrics.onCommit });
  }
} catch (error) {
  log.error("cannot open the database", { ...where, error: String(error) });
  process.exit(1);
}

// The parts are built and wired here, and only here: a store or a fan-out for several nodes is
// chosen by swapping one line below, not inside the app.
// With REDIS_URL, a cluster member: frames and rosters shared with the other nodes through Redis
// (its module, too, is loaded only then).
let cluster: ClusterLink | undefined;
if (config.redisUrl !== undefined) {
  const { openCluster } = await import("./bus/cluster");
  cluster = openCluster({ url: config.redisUrl, server: () => chat.app.server, log });
  // A few seconds at most: with Redis down the node starts anyway, serving its own members.
  if (!(await cluster.ready(3_000))) log.warn("redis not reachable yet: serving this node's members only until it is", { redis: redactUrl(config.redisUrl) });
}
const bus = cluster && metrics.countedBus(cluster.bus);
const fanout = bus ?? metrics.counted(localFanout(() => chat.app.server)); // Bun's topics exist once it listens
const hub = new Hub({
  store,
  fanout,
  cluster: cluster && bus && { bus, directory: cluster.directory, events: clusterEvents(metrics, log) },
  historyLimit: config.history,
  limiter: new RateLimiter(config.rateLimit, config.rateBurst),
  joinLimiter: new RateLimiter(config.joinRate, config.joinBurst),
  events: hubEvents(metrics, log),
  verifier,
  access: store,
  anonymous: config.anonymous,
});

const chat = createApp({
  store,
  storeKind,
  hub,
  cluster,
  maxConnectionsPerIp: config.maxConnectionsPerIp,
  maxHttpConnectionsPerIp: config.maxHttpConnectionsPerIp,
  hosts: config.hosts,
  maxFrameBytes: config.maxFrameBytes,
  maxBufferedBytes: config.maxBufferedBytes,
  joinTimeoutMs: config.joinTimeoutMs,
  heartbeatMs: config.heartbeatMs,
  origins: config.origins,
  trustProxy: config.trustProxy,
  retentionMs: config.retentionDays === undefined ? undefined : config.retentionDays * 86_400_000,
  api: { keys: config.apiKeys, tokenSecret: config.authSecret, issuer: config.authIssuer, audience: config.authAudience },
  logger: log,
  metrics,
});
let app;
try {
  app = serve(chat.app, { port: config.port, hostname: config.host });
} catch (error) {
  log.error("cannot listen", { host: config.host, port: config.port, error: String(error) });
  process.exit(1);
}

log.info("listening", { url: app.server.url.href, store: storeKind, ...where, ...(slice?.applied && { eventLoopSliceUs: slice.us }) });

const server = app.server;
const idleCollector = startIdleCollector({
  after: config.idleGcAfter,
  activity: () => ({ opened: metrics.tally.opened, frames: metrics.tally.framesIn }),
  open: () => server.pendingWebSockets,
  collect: () => Bun.gc(true),
  collected(ms, open) {
    metrics.tally.idleCollections++;
    log.info("idle collection", { ms: Math.round(ms * 10) / 10, connections: open });
  },
});

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info("shutting down", { signal });
  setTimeout(() => {
    log.error("shutdown took over 5 s; exiting anyway");
    process.exit(1);
  }, 5000).unref();
  idleCollector.stop();
  await chat.shutdown(); // what is pending is committed first: those senders get their acks
  await store.close();
  log.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
