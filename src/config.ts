// Every setting, parsed once: a flag (--port 8080 or --port=8080) wins over its environment
// variable, which wins over the default. `--help` prints this table.
import { z } from "./protocol/zod";

// Schemas are built only for the values someone gave: a default is already a typed value. Most
// starts give one or two settings, and building zod schemas is the slow part of parsing (all
// fifteen took ~3 ms of the binary's start-up).
// Not z.coerce alone: it reads "" (and "  ") as 0.
const numeric = () => z.string().check(z.trim(), z.minLength(1, "a number is needed"));
const int = (min: number, max = Number.MAX_SAFE_INTEGER) => () => z.pipe(numeric(), z.coerce.number<string>().check(z.int(), z.minimum(min), z.maximum(max)));
const number = (min: number) => () => z.pipe(numeric(), z.coerce.number<string>().check(z.minimum(min)));
const bool = () => z.pipe(z.enum(["true", "false", "1", "0", "yes", "no"]), z.transform((v) => v === "true" || v === "1" || v === "yes"));
const list = () => z.pipe(z.string(), z.transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean)));
const text = () => z.string().check(z.minLength(1));
const optional = <T extends z.ZodMiniType>(schema: () => T) => () => z.union([z.pipe(z.literal(""), z.transform(() => undefined)), schema()]);

interface Option<S extends z.ZodMiniType> {
  env: string;
  default: z.output<S>;
  schema: () => S;
  help: string;
  /**
   * Its value is never shown as given (errors, logs): "url" holds a password, shown through
   * `redactUrl`; "whole" is a secret from end to end and is not shown at all.
   */
  secret?: "url" | "whole";
}
const option = <S extends z.ZodMiniType>(o: Option<S>) => o;

const OPTIONS = {
  port: option({ env: "PORT", default: 3000, schema: int(0, 65535), help: "TCP port (0: any free port)" }),
  host: option({ env: "HOST", default: "0.0.0.0", schema: text, help: "address to listen on" }),
  db: option({
    env: "CHAT_DB",
    default: "./chat.db",
    // Three connections (reads, writes, and checkpoints on a thread of their own) must see one database: a file.
    schema: () => text().check(z.refine((path) => path !== ":memory:", "a file path (an in-memory database cannot be shared by the checkpointer thread)")),
    help: "SQLite database file (created if missing)",
  }),
  databaseUrl: option({
    env: "DATABASE_URL",
    default: undefined as string | undefined,
    schema: optional(() => text().check(z.refine(isPostgresUrl, "a postgres:// or postgresql:// URL"))),
    secret: "url",
    help: "PostgreSQL URL (postgres://user:password@host:5432/db): store messages there instead of the SQLite file; nodes may share it",
  }),
  redisUrl: option({
    env: "REDIS_URL",
    default: undefined as string | undefined,
    schema: optional(() => text().check(z.refine(isRedisUrl, "a redis:// or rediss:// URL"))),
    secret: "url",
    help: "Redis URL (redis://:password@host:6379): join the other nodes on this Redis (needs DATABASE_URL, shared by all of them)",
  }),
  history: option({ env: "CHAT_HISTORY", default: 100, schema: int(0, 10_000), help: "messages sent on join" }),
  retentionDays: option({
    env: "CHAT_RETENTION_DAYS",
    default: undefined,
    schema: optional(() => number(0)().check(z.refine((d) => d > 0, "must be more than 0"))),
    help: "delete messages older than this many days (unset: keep everything)",
  }),
  rateLimit: option({ env: "CHAT_RATE_LIMIT", default: 2, schema: number(0), help: "messages per second per client IP (0: off)" }),
  rateBurst: option({ env: "CHAT_RATE_BURST", default: 10, schema: int(1), help: "messages a client IP may send at once" }),
  // The burst defaults to the connection cap (see parseConfig): an office behind one address whose
  // every tab reconnects at once (a server restart) joins at once; a script churning joins gets 5 a second.
  joinRate: option({ env: "CHAT_JOIN_RATE", default: 5, schema: number(0), help: "joins per second per client IP, after the burst (0: off)" }),
  joinBurst: option({ env: "CHAT_JOIN_BURST", default: 100, schema: int(1), help: "joins a client IP may make at once (unless given: the connection cap)" }),
  maxConnectionsPerIp: option({ env: "CHAT_MAX_CONNECTIONS_PER_IP", default: 100, schema: int(0), help: "open sockets per client IP, IPv6 per /64 (0: off)" }),
  maxHttpConnectionsPerIp: option({
    env: "CHAT_MAX_HTTP_CONNECTIONS_PER_IP",
    default: 128,
    schema: int(0),
    help: "open HTTP connections (keep-alive included) per client IP, IPv6 per /64 (0: off)",
  }),
  maxBufferedBytes: option({ env: "CHAT_MAX_BUFFERED_BYTES", default: 1048576, schema: int(16 * 1024), help: "a socket with more unsent data is closed (slow consumer)" }),
  joinTimeoutMs: option({ env: "CHAT_JOIN_TIMEOUT_MS", default: 10000, schema: int(100), help: "a socket that has not joined by then is closed 1008" }),
  heartbeatMs: option({ env: "CHAT_HEARTBEAT_MS", default: 30000, schema: int(100), help: "ping interval; a socket silent for a whole interval is closed" }),
  idleGcAfter: option({
    env: "CHAT_IDLE_GC_AFTER",
    default: 500,
    schema: int(0),
    help: "a full garbage collection runs once the server has been quiet for a second, when this many sockets (and half as many as are open) opened since the last (0: off)",
  }),
  eventLoopSliceUs: option({
    env: "CHAT_EVENT_LOOP_SLICE_US",
    default: 300,
    schema: int(0, 100_000),
    help: "the event loop's time slice asked of Linux's scheduler (6.12+), in microseconds: sooner turns, not more CPU (0: the kernel's default)",
  }),
  // The largest valid frame, written by an encoder that escapes everything but ASCII (Python's
  // json.dumps does): a message of 2,000 astral characters, each "\ud83d\ude00" (12 bytes), is
  // 24,000 bytes, plus a 64-character clientId (768), a timestamp and the keys: ~24.9 KB. A join
  // is smaller (a 4,096-character token is ASCII). JSON.stringify writes at most ~8.4 KB of
  // either. 32 KiB fits them all with room; more only makes each bad frame dearer to read.
  maxFrameBytes: option({ env: "CHAT_MAX_FRAME_BYTES", default: 32768, schema: int(1024, 16 * 1024 * 1024), help: "largest accepted frame; larger ones are closed 1009" }),
  origins: option({ env: "CHAT_ORIGINS", default: [], schema: list, help: "extra allowed browser origins, comma-separated (the server's own host is always allowed)" }),
  hosts: option({
    env: "CHAT_HOSTS",
    default: [],
    schema: list,
    help: "host names the server answers for, comma-separated (a port in Host is ignored); others get 421 (empty: any)",
  }),
  trustProxy: option({ env: "CHAT_TRUST_PROXY", default: false, schema: bool, help: "take the client IP from X-Forwarded-For" }),
  // Identity and access (PROTOCOL.md, "Identity and access"): verified joins and private rooms.
  authSecret: option({
    env: "CHAT_AUTH_SECRET",
    default: undefined as string | undefined,
    // RFC 7518 3.2: an HS256 key at least as long as the hash; a short one can be brute-forced
    // offline from any one token.
    schema: optional(() => text().check(z.refine((secret) => new TextEncoder().encode(secret).length >= AUTH_SECRET_MIN_BYTES, `at least ${AUTH_SECRET_MIN_BYTES} bytes`))),
    secret: "whole",
    help: "verify join tokens signed with HS256 and this shared secret (at least 32 bytes); prefer the variable: flags show in ps",
  }),
  authPublicKey: option({
    env: "CHAT_AUTH_PUBLIC_KEY",
    default: undefined as string | undefined,
    schema: optional(text),
    help: "verify join tokens with this PEM public key file: RSA (RS256), EC P-256 (ES256) or Ed25519 (EdDSA)",
  }),
  authJwksUrl: option({
    env: "CHAT_AUTH_JWKS_URL",
    default: undefined as string | undefined,
    schema: optional(() => text().check(z.refine(isHttpUrl, "an http:// or https:// URL"))),
    secret: "url",
    help: "verify join tokens with the keys of this JWKS URL (RS256, ES256, EdDSA; refetched on an unknown kid)",
  }),
  authIssuer: option({ env: "CHAT_AUTH_ISSUER", default: undefined as string | undefined, schema: optional(text), help: "tokens must carry this iss" }),
  authAudience: option({ env: "CHAT_AUTH_AUDIENCE", default: undefined as string | undefined, schema: optional(text), help: "tokens must carry this aud" }),
  anonymous: option({ env: "CHAT_ANONYMOUS", default: true, schema: bool, help: "joins without a token may enter public rooms" }),
  apiKeys: option({
    env: "CHAT_API_KEY",
    default: [] as string[],
    schema: list,
    secret: "whole",
    help: "keys of the server API under /api (Authorization: Bearer <key>), comma-separated (empty: no /api)",
  }),
  logLevel: option({ env: "CHAT_LOG_LEVEL", default: "info", schema: () => z.enum(["debug", "info", "warn", "error", "silent"]), help: "debug, info, warn, error or silent" }),
};

type Options = typeof OPTIONS;
export type Config = { [K in keyof Options]: Options[K]["default"] };

const flagOf = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

export class ConfigError extends Error {}

/** The shortest CHAT_AUTH_SECRET: 256 bits, the size of HS256's hash. */
export const AUTH_SECRET_MIN_BYTES = 32;

/** How a value given for the option may appear in an error. */
function shown(option: { secret?: "url" | "whole" }, raw: string): string {
  if (option.secret === "whole") return "(not shown: secret)";
  return JSON.stringify(option.secret === "url" ? redactUrl(raw) : raw);
}

export function usage(): string {
  const listed = Object.entries(OPTIONS);
  const flags = listed.map(([key, o]) => `${flagOf(key)} <${o.env}>`);
  const width = Math.max(...flags.map((f) => f.length)) + 2; // the longest flag still leaves a gap
  const rows = listed.map(([, o], i) => {
    const flag = flags[i]!.padEnd(width);
    const shown = Array.isArray(o.default) ? o.default.join(",") : (o.default ?? "");
    return `  ${flag}${o.help}${shown === "" ? "" : ` (default: ${shown})`}`;
  });
  return [
    "chat-server: a multi-room WebSocket chat server",
    "",
    "Usage: chat-server [options]",
    "",
    "Options (each also an environment variable, shown in <>, and a flag of that name, e.g.",
    "--chat-db; a flag wins over the variable):",
    ...rows,
    `  ${"--help".padEnd(width)}print this and exit`,
    "",
  ].join("\n");
}

/** Parses argv (without the executable and script) and env; throws ConfigError with every problem. */
export function parseConfig(argv: string[], env: Record<string, string | undefined>): Config {
  const flags = new Map<string, string>();
  const problems: string[] = [];
  // Each option also answers to its variable's name as a flag (--chat-db for CHAT_DB).
  const byFlag = new Map(
    Object.entries(OPTIONS).flatMap(([key, o]) => [
      [flagOf(key), key],
      [`--${o.env.toLowerCase().replace(/_/g, "-")}`, key],
    ]),
  );
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    const key = byFlag.get(flag!);
    if (!key) {
      problems.push(`unknown option ${flag}`);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined) problems.push(`${flag} needs a value`);
    else flags.set(key, value);
  }
  const config: Record<string, unknown> = {};
  for (const [key, option] of Object.entries(OPTIONS)) {
    const raw = flags.get(key) ?? (env[option.env] || undefined); // VAR= is unset
    if (raw === undefined) {
      config[key] = option.default;
      continue;
    }
    const parsed = (option.schema as () => z.ZodMiniType)().safeParse(raw);
    if (parsed.success) config[key] = parsed.data;
    else problems.push(`${named(key as keyof Options)}: ${shown(option, raw)} is invalid (${parsed.error.issues[0]?.message ?? "bad value"})`);
  }
  problems.push(...authProblems(config as Config));
  // Nodes deliver each other's messages from one history: a SQLite file is one node's alone.
  if (config.redisUrl !== undefined && config.databaseUrl === undefined)
    problems.push(`${named("redisUrl")} needs ${named("databaseUrl")}: the nodes must share one PostgreSQL database (a SQLite file is one node's)`);
  if (problems.length) throw new ConfigError(problems.join("\n"));
  const given = (key: keyof typeof OPTIONS) => flags.has(key) || Boolean(env[OPTIONS[key].env]);
  // The join burst follows the connection cap: every socket an address may hold can (re)join at
  // once. With the cap off (0: a load test, or one address that is many people) joins are not
  // limited either, unless a join setting says otherwise: a load test that lifts the documented
  // per-address limits must not meet a hidden one.
  if (!given("joinBurst") && config.maxConnectionsPerIp !== 0) config.joinBurst = config.maxConnectionsPerIp;
  if (!given("joinRate") && !given("joinBurst") && config.maxConnectionsPerIp === 0) config.joinRate = 0;
  return config as Config;
}

const named = (key: keyof Options) => `${flagOf(key)} / ${OPTIONS[key].env}`;

// Settings that only mean something together; values are never quoted (some are secrets).
function authProblems(config: Config): string[] {
  const sources = (["authSecret", "authPublicKey", "authJwksUrl"] as const).filter((key) => config[key] !== undefined);
  if (sources.length > 1) return [`give one key source, not ${sources.length}: ${sources.map(named).join(" and ")}`];
  if (sources.length === 1) return [];
  const needKey = `needs a key: ${named("authSecret")}, ${named("authPublicKey")} or ${named("authJwksUrl")}`;
  const problems = (["authIssuer", "authAudience"] as const).filter((key) => config[key] !== undefined).map((key) => `${named(key)} ${needKey}`);
  // Without a key no token can be verified: no one could join at all.
  if (config.anonymous === false) problems.push(`${named("anonymous")} set to false ${needKey}`);
  return problems;
}

function isHttpUrl(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
}

function isRedisUrl(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && (url.protocol === "redis:" || url.protocol === "rediss:") && url.hostname !== "";
}

function isPostgresUrl(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && (url.protocol === "postgres:" || url.protocol === "postgresql:") && url.hostname !== "";
}

/** A URL as it may be shown (logs, errors): its password replaced; text that is no URL is not shown. */
export function redactUrl(value: string): string {
  const url = URL.parse(value);
  if (!url) return "(not shown: not a URL)";
  if (url.password) url.password = "***";
  return url.href;
}
