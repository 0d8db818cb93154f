// The compiled ./chat-server (built by `npm run build`), started from an empty temp folder:
// what it serves, its configuration errors, graceful shutdown, and durability across kill -9.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BINARY, Client, startBinary, tempDir } from "./helpers";
import { pumpMessages, say } from "./http/lib";

if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build\` first`);

/** Runs the binary to its exit; resolves with its code and output. */
async function run(args: string[], env: Record<string, string> = {}, timeoutMs = 5000) {
  const cwd = tempDir();
  const proc = Bun.spawn([BINARY, ...args], { cwd, env: { PATH: process.env.PATH ?? "", PORT: "0", ...env }, stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  return { code, stdout, stderr, cwd };
}

/** Resolves with the exit code, or rejects after timeoutMs. */
function exitWithin(proc: { exited: Promise<number> }, timeoutMs: number) {
  return Promise.race([
    proc.exited,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs)),
  ]);
}

async function allMessages(base: string, room: string) {
  const all: any[] = [];
  let before: number | undefined;
  for (;;) {
    const res = await fetch(`${base}/rooms/${room}/messages?limit=200${before === undefined ? "" : `&before=${before}`}`);
    expect(res.status).toBe(200);
    const page = ((await res.json()) as { messages: any[] }).messages;
    if (!page.length) return all;
    all.unshift(...page);
    before = page[0].id;
  }
}

describe("the compiled binary", () => {
  test("serves /, /health and a chat round trip from an empty folder, creating ./chat.db there", async () => {
    const cwd = tempDir();
    expect(readdirSync(cwd)).toEqual([]);
    const server = await startBinary({ cwd, env: { CHAT_RATE_LIMIT: "0" } });
    expect(existsSync(join(cwd, "chat.db"))).toBe(true);

    const page = await fetch(`${server.base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect((await page.text()).toLowerCase()).toContain("<!doctype html>");
    const health = await fetch(`${server.base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true });
    expect((await fetch(`${server.base}/rooms/lobby/ws`)).status).toBe(426);

    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    const bob = await Client.joined(server.wsUrl("lobby"), "bob");
    const m = await say(ada, "hello from the binary", "b1");
    expect(await bob.next("message")).toMatchObject({ id: m.id, name: "ada", message: "hello from the binary" });
    const db = new Database(join(cwd, "chat.db"), { readonly: true });
    expect(db.query("SELECT message, client_id FROM messages").all()).toEqual([{ message: "hello from the binary", client_id: "b1" }]);
    db.close();
    // prom-client is loaded on first use: from inside the binary too.
    const metrics = await fetch(`${server.base}/metrics`);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    expect(await metrics.text()).toMatch(/^chat_messages_stored_total 1$/m);
  });

  test("the page's scripts and styles are served from the binary too", async () => {
    const server = await startBinary();
    const html = await (await fetch(`${server.base}/`)).text();
    const assets = [...html.matchAll(/<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !/^(https?:|data:)/.test(u));
    expect(assets.length).toBeGreaterThan(0);
    for (const asset of assets) {
      const res = await fetch(new URL(asset, `${server.base}/`));
      expect({ asset, status: res.status }).toEqual({ asset, status: 200 });
      expect((await res.text()).length).toBeGreaterThan(0);
    }
  });

  test("--db and --history flags are honoured", async () => {
    const cwd = tempDir();
    const server = await startBinary({ cwd, args: ["--db", "data.db", "--history", "2"], env: { CHAT_RATE_LIMIT: "0" } });
    const ada = await Client.joined(server.wsUrl("r"), "ada");
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await say(ada, `m${i}`)).id);
    const bob = await Client.joined(server.wsUrl("r"), "bob");
    expect(bob.history.map((m) => m.id)).toEqual(ids.slice(-2));
    expect(existsSync(join(cwd, "data.db"))).toBe(true);
    expect(existsSync(join(cwd, "chat.db"))).toBe(false);
  });

  test("--help exits 0 and lists the options with their defaults", async () => {
    const { code, stdout } = await run(["--help"]);
    expect(code).toBe(0);
    for (const option of ["--port", "--host", "--db", "--history", "--retention-days", "PORT", "CHAT_DB", "CHAT_HISTORY", "CHAT_RETENTION_DAYS"]) {
      expect(stdout).toContain(option);
    }
    expect(stdout).toContain("3000");
    expect(stdout).toContain("./chat.db");
  });

  for (const [what, args, env, mention] of [
    ["PORT=abc", [], { PORT: "abc" }, "PORT"],
    ["--history -1", ["--history", "-1"], {}, "--history"],
    ["an unknown flag", ["--bogus"], {}, "--bogus"],
    ["--port without a value", ["--port"], {}, "--port"],
  ] as const) {
    test(`an invalid configuration (${what}) exits 2 with a clear message and serves nothing`, async () => {
      const { code, stderr, cwd } = await run([...args], env);
      expect(code).toBe(2);
      expect(stderr).toContain(mention);
      expect(stderr.toLowerCase()).toContain("invalid");
      expect(readdirSync(cwd)).toEqual([]); // not even a database
    });
  }

  // Identity and access settings are checked at start-up: a bad one (or the server API's key, not
  // built yet) exits 2, never showing a secret.
  const SECRET = "a-valid-shared-secret-of-40-bytes-000000";
  for (const [what, args, env, mention] of [
    ["a secret under 32 bytes", [], { CHAT_AUTH_SECRET: "hunter2-hunter2" }, "at least 32 bytes"],
    ["two key sources", ["--auth-public-key", "/no/such.pem"], { CHAT_AUTH_SECRET: SECRET }, "one key source"],
    ["a public key file that is not one", [], { CHAT_AUTH_PUBLIC_KEY: "/no/such/key.pem" }, "CHAT_AUTH_PUBLIC_KEY"],
  ] as const) {
    test(`identity and access (${what}): exit 2, no secret shown, nothing served`, async () => {
      const { code, stdout, stderr, cwd } = await run([...args], env);
      expect(code).toBe(2);
      expect(stderr).toContain(mention);
      for (const secret of ["hunter2", SECRET]) expect(stdout + stderr).not.toContain(secret);
      expect(readdirSync(cwd)).toEqual([]);
    });
  }

  test("--help offers the verified-join settings and the server API's key", async () => {
    const { stdout } = await run(["--help"]);
    expect(stdout).toContain("CHAT_DB");
    expect(stdout).toContain("CHAT_AUTH_SECRET");
    expect(stdout).toContain("CHAT_API_KEY");
  });

  test("a port already in use: exits 1 and says so; the server on it goes on alone", async () => {
    const first = await startBinary();
    const { code, stderr } = await run(["--host", "127.0.0.1", "--port", new URL(first.base).port]);
    expect(code).toBe(1);
    expect(stderr).toContain("cannot listen");
    expect(stderr).toContain("in use");
    const ada = await Client.joined(first.wsUrl("lobby"), "ada");
    expect((await say(ada, "still here", "s1")).message).toBe("still here");
  });

  test("SIGTERM: sockets closed with 1001, acknowledged messages in the database, exit 0 within 5 s", async () => {
    const server = await startBinary({ env: { CHAT_RATE_LIMIT: "0" } });
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    const bob = await Client.joined(server.wsUrl("lobby"), "bob");
    const lurker = await Client.open(server.wsUrl("lobby")); // never joined
    const acked = await say(ada, "just before", "last-1");
    // more in flight as the signal arrives
    for (let i = 0; i < 20; i++) ada.send({ type: "message", message: `burst ${i}`, clientId: `burst-${i}` });
    server.proc.kill("SIGTERM");
    const [code, adaClose, bobClose, lurkerClose] = await Promise.all([exitWithin(server.proc, 5000), ada.waitClose(), bob.waitClose(), lurker.waitClose()]);
    expect(code).toBe(0);
    expect(adaClose.code).toBe(1001);
    expect(bobClose.code).toBe(1001);
    expect(lurkerClose.code).toBe(1001);
    const acks = ada.frames.filter((f) => f.type === "message" && f.clientId);
    const db = new Database(join(server.cwd, "chat.db"), { readonly: true });
    const rows = db.query("SELECT id, message, client_id FROM messages ORDER BY id").all() as any[];
    db.close();
    expect(rows.some((r) => r.id === acked.id && r.message === "just before")).toBe(true);
    for (const ack of acks) expect(rows).toContainEqual({ id: ack.id, message: ack.message, client_id: ack.clientId });
    // pending messages are committed and acknowledged before the close: none stored without an ack
    expect(rows.length).toBe(acks.length);
  }, 15_000);

  test("SIGINT shuts down the same way", async () => {
    const server = await startBinary();
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    server.proc.kill("SIGINT");
    const [code, close] = await Promise.all([exitWithin(server.proc, 5000), ada.waitClose()]);
    expect(code).toBe(0);
    expect(close.code).toBe(1001);
  }, 15_000);

  test("kill -9 mid-stream loses no acknowledged message", async () => {
    const cwd = tempDir();
    const first = await startBinary({ cwd, env: { CHAT_RATE_LIMIT: "0" } });
    const clients = await Promise.all(["a", "b", "c", "d"].map((n) => Client.joined(first.wsUrl("durable"), n)));
    // 10 messages in flight per client; killed once 400 are acknowledged
    const pump = pumpMessages(clients, (name, i) => `${name} says ${i}`);
    const { acked } = pump;
    let inFlightAtKill = 0;
    const kill = async () => {
      while (acked.size < 400 && !clients.every((c) => c.closed)) await new Promise((resolve) => setImmediate(resolve));
      pump.stop();
      inFlightAtKill = pump.sent - acked.size;
      first.proc.kill("SIGKILL");
    };
    await Promise.all([kill(), pump.done]);
    expect(await exitWithin(first.proc, 5000)).not.toBe(0);
    await Promise.all(clients.map((c) => c.waitClose()));
    expect(acked.size).toBeGreaterThanOrEqual(400);
    expect(inFlightAtKill).toBeGreaterThan(0); // sent and not yet acknowledged: the kill was mid-stream

    const second = await startBinary({ cwd });
    const stored = await allMessages(second.base, "durable");
    const byId = new Map(stored.map((m) => [m.id, m]));
    for (const [clientId, ack] of acked) {
      const row = byId.get(ack.id);
      expect(row ? { id: row.id, name: row.name, message: row.message } : clientId).toEqual(ack);
    }
    // and the history on join agrees with REST
    const eve = await Client.joined(second.wsUrl("durable"), "eve");
    expect(eve.history).toEqual(stored.slice(-100));
  }, 20_000);
});
