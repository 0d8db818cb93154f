// parseConfig against the README's configuration table: defaults, environment, flags (which win),
// and errors that name the setting.
import { describe, expect, test } from "bun:test";
import { ConfigError, parseConfig, usage } from "../src/config";

const fails = (argv: string[], env: Record<string, string> = {}): string => {
  try {
    parseConfig(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error(`parseConfig(${JSON.stringify(argv)}, ${JSON.stringify(env)}) accepted it`);
};

describe("parseConfig", () => {
  test("defaults are the README's", () => {
    expect(parseConfig([], {})).toEqual({
      port: 3000,
      host: "0.0.0.0",
      db: "./chat.db",
      databaseUrl: undefined,
      redisUrl: undefined,
      history: 100,
      retentionDays: undefined,
      rateLimit: 2,
      rateBurst: 10,
      joinRate: 5,
      joinBurst: 100,
      maxConnectionsPerIp: 100,
      maxHttpConnectionsPerIp: 128,
      maxBufferedBytes: 1048576,
      joinTimeoutMs: 10000,
      heartbeatMs: 30000,
      idleGcAfter: 500,
      eventLoopSliceUs: 300,
      maxFrameBytes: 32768,
      origins: [],
      hosts: [],
      trustProxy: false,
      authSecret: undefined,
      authPublicKey: undefined,
      authJwksUrl: undefined,
      authIssuer: undefined,
      authAudience: undefined,
      anonymous: true,
      apiKeys: [],
      logLevel: "info",
    });
  });

  test("every setting comes from its environment variable", () => {
    const config = parseConfig([], {
      PORT: "8080",
      HOST: "127.0.0.1",
      CHAT_DB: "/tmp/x.db",
      DATABASE_URL: "postgres://chat:pw@db.internal:5432/chat",
      REDIS_URL: "redis://:pw@cache.internal:6379",
      CHAT_HISTORY: "7",
      CHAT_RETENTION_DAYS: "1.5",
      CHAT_RATE_LIMIT: "0",
      CHAT_RATE_BURST: "3",
      CHAT_JOIN_RATE: "0.5",
      CHAT_JOIN_BURST: "4",
      CHAT_MAX_CONNECTIONS_PER_IP: "0",
      CHAT_MAX_HTTP_CONNECTIONS_PER_IP: "0",
      CHAT_HOSTS: "chat.example.com, localhost",
      CHAT_MAX_FRAME_BYTES: "2048",
      CHAT_ORIGINS: "https://a.example, https://b.example",
      CHAT_TRUST_PROXY: "true",
      CHAT_IDLE_GC_AFTER: "0",
      CHAT_EVENT_LOOP_SLICE_US: "0",
      CHAT_LOG_LEVEL: "silent",
    });
    expect(config).toEqual({
      port: 8080,
      host: "127.0.0.1",
      db: "/tmp/x.db",
      databaseUrl: "postgres://chat:pw@db.internal:5432/chat",
      redisUrl: "redis://:pw@cache.internal:6379",
      history: 7,
      retentionDays: 1.5,
      rateLimit: 0,
      rateBurst: 3,
      joinRate: 0.5,
      joinBurst: 4,
      maxConnectionsPerIp: 0,
      maxHttpConnectionsPerIp: 0,
      maxBufferedBytes: 1048576,
      joinTimeoutMs: 10000,
      heartbeatMs: 30000,
      idleGcAfter: 0,
      eventLoopSliceUs: 0,
      maxFrameBytes: 2048,
      origins: ["https://a.example", "https://b.example"],
      hosts: ["chat.example.com", "localhost"],
      trustProxy: true,
      authSecret: undefined,
      authPublicKey: undefined,
      authJwksUrl: undefined,
      authIssuer: undefined,
      authAudience: undefined,
      anonymous: true,
      apiKeys: [],
      logLevel: "silent",
    });
  });

  test("each variable's name works as a flag too (--chat-db for CHAT_DB)", () => {
    const config = parseConfig(["--chat-db", "a.db", "--chat-history=3", "--chat-rate-limit", "0"], { CHAT_DB: "env.db" });
    expect(config).toMatchObject({ db: "a.db", history: 3, rateLimit: 0 });
    expect(parseConfig(["--join-rate", "2", "--join-burst=9"], { CHAT_JOIN_RATE: "7" })).toMatchObject({ joinRate: 2, joinBurst: 9 });
  });

  test("the join burst follows the connection cap; with the cap off, joins are not limited unless a join setting is given", () => {
    expect(parseConfig([], { CHAT_MAX_CONNECTIONS_PER_IP: "250" })).toMatchObject({ joinRate: 5, joinBurst: 250 });
    expect(parseConfig(["--join-burst", "7"], { CHAT_MAX_CONNECTIONS_PER_IP: "250" })).toMatchObject({ joinBurst: 7 });
    // The shared benchmark lifts the documented per-address limits (all its load is one address).
    expect(parseConfig([], { CHAT_MAX_CONNECTIONS_PER_IP: "0", CHAT_RATE_LIMIT: "0" })).toMatchObject({ joinRate: 0 });
    expect(parseConfig(["--join-rate", "3"], { CHAT_MAX_CONNECTIONS_PER_IP: "0" })).toMatchObject({ joinRate: 3, joinBurst: 100 });
    expect(parseConfig([], { CHAT_MAX_CONNECTIONS_PER_IP: "0", CHAT_JOIN_BURST: "40" })).toMatchObject({ joinRate: 5, joinBurst: 40 });
  });

  test("a flag wins over the environment, in both --flag value and --flag=value forms", () => {
    const config = parseConfig(["--port", "4000", "--history=5", "--db", "other.db", "--retention-days=2"], {
      PORT: "8080",
      CHAT_HISTORY: "7",
      CHAT_DB: "env.db",
      CHAT_RETENTION_DAYS: "9",
    });
    expect(config.port).toBe(4000);
    expect(config.history).toBe(5);
    expect(config.db).toBe("other.db");
    expect(config.retentionDays).toBe(2);
  });

  test("port 0 (any free port) and history 0 are allowed", () => {
    expect(parseConfig(["--port", "0", "--history", "0"], {})).toMatchObject({ port: 0, history: 0 });
  });

  test("invalid values are errors naming the flag and the variable", () => {
    expect(fails([], { PORT: "abc" })).toContain("PORT");
    expect(fails(["--port", "70000"])).toContain("--port");
    expect(fails(["--port", "80.5"])).toContain("--port");
    expect(fails(["--history", "-1"])).toContain("--history");
    expect(fails([], { CHAT_HISTORY: "lots" })).toContain("CHAT_HISTORY");
    expect(fails([], { CHAT_RETENTION_DAYS: "0" })).toContain("CHAT_RETENTION_DAYS");
    expect(fails([], { CHAT_RETENTION_DAYS: "-3" })).toContain("CHAT_RETENTION_DAYS");
    expect(fails([], { CHAT_RATE_BURST: "0" })).toContain("CHAT_RATE_BURST");
    expect(fails([], { CHAT_JOIN_RATE: "-1" })).toContain("CHAT_JOIN_RATE");
    expect(fails(["--join-burst", "0"])).toContain("--join-burst");
    expect(fails([], { CHAT_TRUST_PROXY: "maybe" })).toContain("CHAT_TRUST_PROXY");
    expect(fails([], { CHAT_LOG_LEVEL: "loud" })).toContain("CHAT_LOG_LEVEL");
    expect(fails(["--db", ":memory:"])).toContain("in-memory database");
  });

  test("DATABASE_URL: a postgres:// or postgresql:// URL (--database-url); an invalid one is refused without showing its password", () => {
    expect(parseConfig(["--database-url", "postgresql://u@localhost/db"], {}).databaseUrl).toBe("postgresql://u@localhost/db");
    expect(parseConfig([], { DATABASE_URL: "" }).databaseUrl).toBeUndefined();
    const message = fails([], { DATABASE_URL: "mysql://chat:hunter2@db/chat" });
    expect(message).toContain("DATABASE_URL");
    expect(message).toContain("mysql://chat:***@db/chat");
    expect(message).not.toContain("hunter2");
    expect(fails(["--database-url", "not a url with hunter2"])).not.toContain("hunter2");
  });

  test("REDIS_URL: a redis:// or rediss:// URL (--redis-url), only with DATABASE_URL; its password is never shown", () => {
    const pg = { DATABASE_URL: "postgres://u@db/chat" };
    expect(parseConfig(["--redis-url", "rediss://:s3cret@cache:6380"], pg).redisUrl).toBe("rediss://:s3cret@cache:6380");
    expect(parseConfig([], { ...pg, REDIS_URL: "" }).redisUrl).toBeUndefined();
    const bad = fails([], { ...pg, REDIS_URL: "http://:hunter2@cache" });
    expect(bad).toContain("REDIS_URL");
    expect(bad).toContain("http://:***@cache");
    expect(bad).not.toContain("hunter2");
    // A SQLite file is one node's: a cluster member without a shared database is refused.
    const alone = fails([], { REDIS_URL: "redis://:hunter2@cache:6379" });
    expect(alone).toContain("DATABASE_URL");
    expect(alone).toContain("one PostgreSQL database");
    expect(alone).not.toContain("hunter2");
  });

  test("an invalid flag fails even when the environment holds a valid value", () => {
    expect(fails(["--port", "abc"], { PORT: "8080" })).toContain("--port");
  });

  test("an empty value is not silently a number: PORT= is the default port, --port= is an error", () => {
    // z.coerce.number("") is 0: an empty PORT would otherwise listen on a random port.
    expect(parseConfig([], { PORT: "", CHAT_HISTORY: "" })).toMatchObject({ port: 3000, history: 100 });
    expect(fails(["--port="])).toContain("--port");
    expect(fails(["--history", " "])).toContain("--history");
  });

  test("unknown options and missing values are errors; every problem is reported at once", () => {
    expect(fails(["--bogus"])).toContain("--bogus");
    expect(fails(["--port"])).toContain("--port");
    const message = fails(["--bogus", "--history", "-1"], { PORT: "abc" });
    expect(message).toContain("--bogus");
    expect(message).toContain("--history");
    expect(message).toContain("PORT");
  });

  test("usage lists every flag with its variable and default", () => {
    const text = usage();
    for (const [flag, env] of [
      ["--port", "PORT"],
      ["--host", "HOST"],
      ["--db", "CHAT_DB"],
      ["--database-url", "DATABASE_URL"],
      ["--history", "CHAT_HISTORY"],
      ["--retention-days", "CHAT_RETENTION_DAYS"],
      ["--rate-limit", "CHAT_RATE_LIMIT"],
      ["--join-rate", "CHAT_JOIN_RATE"],
      ["--join-burst", "CHAT_JOIN_BURST"],
      ["--max-frame-bytes", "CHAT_MAX_FRAME_BYTES"],
      ["--log-level", "CHAT_LOG_LEVEL"],
    ]) {
      expect(text).toMatch(new RegExp(`${flag} <${env}>`));
    }
    expect(text).toContain("default: 3000");
    expect(text).toContain("default: ./chat.db");
    expect(text).toContain("default: 100");
    expect(text).toContain("--help");
  });

  test("a default is not parsed at start-up, so each one shown by --help must parse to itself", () => {
    const shown: Record<string, string> = {};
    for (const [, env, value] of usage().matchAll(/ <([A-Z_]+)>.*\(default: (.*)\)$/gm)) shown[env!] = value!;
    expect(Object.keys(shown).length).toBeGreaterThan(10);
    expect(parseConfig([], shown)).toEqual(parseConfig([], {}));
  });
});

describe("identity and access settings", () => {
  const SECRET = "s3cret-value-that-is-32-bytes-long!!";

  test("each comes from its variable and its flag", () => {
    expect(
      parseConfig([], {
        CHAT_AUTH_SECRET: SECRET,
        CHAT_AUTH_ISSUER: "https://app.example",
        CHAT_AUTH_AUDIENCE: "chat",
        CHAT_ANONYMOUS: "false",
        CHAT_API_KEY: "key-one, key-two",
      }),
    ).toMatchObject({ authSecret: SECRET, authIssuer: "https://app.example", authAudience: "chat", anonymous: false, apiKeys: ["key-one", "key-two"] });
    expect(parseConfig(["--auth-public-key", "/keys/pub.pem", "--auth-issuer=i", "--auth-audience", "a"], {})).toMatchObject({
      authPublicKey: "/keys/pub.pem",
      authIssuer: "i",
      authAudience: "a",
    });
    expect(parseConfig(["--chat-auth-jwks-url", "https://id.example/.well-known/jwks.json", "--anonymous", "no", "--api-keys", "k"], {})).toMatchObject({
      authJwksUrl: "https://id.example/.well-known/jwks.json",
      anonymous: false,
      apiKeys: ["k"],
    });
    expect(parseConfig(["--auth-secret", SECRET], {}).authSecret).toBe(SECRET);
  });

  test("a secret under 32 bytes is refused, naming the setting, never showing it", () => {
    const short = "hunter2-but-only-31-bytes-long!";
    expect(new TextEncoder().encode(short).length).toBe(31);
    for (const message of [fails([], { CHAT_AUTH_SECRET: short }), fails(["--auth-secret", short]), fails([`--auth-secret=${short}`])]) {
      expect(message).toContain("CHAT_AUTH_SECRET");
      expect(message).toContain("32 bytes");
      expect(message).not.toContain("hunter2");
    }
    // Bytes, not characters: 11 three-byte characters are 33 bytes.
    expect(parseConfig([], { CHAT_AUTH_SECRET: "€".repeat(11) }).authSecret).toBe("€".repeat(11));
  });

  test("two key sources at once are refused with a clear message that quotes no value", () => {
    const message = fails(["--auth-public-key", "/keys/pub.pem"], { CHAT_AUTH_SECRET: SECRET });
    expect(message).toContain("one key source");
    expect(message).toContain("CHAT_AUTH_SECRET");
    expect(message).toContain("CHAT_AUTH_PUBLIC_KEY");
    expect(message).not.toContain(SECRET);
    expect(message).not.toContain("/keys/pub.pem");
    expect(fails([], { CHAT_AUTH_PUBLIC_KEY: "p.pem", CHAT_AUTH_JWKS_URL: "https://id.example/jwks" })).toContain("CHAT_AUTH_JWKS_URL");
    expect(fails([], { CHAT_AUTH_SECRET: SECRET, CHAT_AUTH_PUBLIC_KEY: "p.pem", CHAT_AUTH_JWKS_URL: "https://id.example/jwks" })).toContain("not 3");
  });

  test("an issuer, an audience or CHAT_ANONYMOUS=false without a key are refused: nothing could be verified", () => {
    expect(fails([], { CHAT_AUTH_ISSUER: "i" })).toContain("CHAT_AUTH_ISSUER needs a key");
    expect(fails([], { CHAT_AUTH_AUDIENCE: "a" })).toContain("CHAT_AUTH_AUDIENCE needs a key");
    expect(fails([], { CHAT_ANONYMOUS: "false" })).toContain("CHAT_ANONYMOUS set to false needs a key");
    expect(parseConfig([], { CHAT_ANONYMOUS: "true" }).anonymous).toBe(true);
  });

  test("a JWKS URL must be http(s); an invalid one is shown without its password", () => {
    const message = fails([], { CHAT_AUTH_JWKS_URL: "ftp://user:hunter2@id.example/jwks" });
    expect(message).toContain("CHAT_AUTH_JWKS_URL");
    expect(message).not.toContain("hunter2");
    expect(fails(["--auth-jwks-url", "jwks.json"])).toContain("--auth-jwks-url");
  });

  test("API keys: blanks are dropped; a mistyped flag with a key inline is named without the key", () => {
    expect(parseConfig([], { CHAT_API_KEY: " , " }).apiKeys).toEqual([]);
    expect(parseConfig(["--chat-api-key", "a,b"], {}).apiKeys).toEqual(["a", "b"]);
    const message = fails(["--api-token=topsecret-key"]);
    expect(message).toContain("--api-token");
    expect(message).not.toContain("topsecret");
  });

  test("the verified-join settings and the server API's key are in --help", () => {
    const text = usage();
    for (const env of ["CHAT_AUTH_SECRET", "CHAT_AUTH_PUBLIC_KEY", "CHAT_AUTH_JWKS_URL", "CHAT_AUTH_ISSUER", "CHAT_AUTH_AUDIENCE", "CHAT_ANONYMOUS", "CHAT_API_KEY"]) expect(text).toContain(env);
  });
});
