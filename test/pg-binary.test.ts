// The compiled ./chat-server on PostgreSQL (DATABASE_URL), started from an empty folder: its
// migrations are embedded, it stores there and not in a file, nodes started together share one
// database, and a database it cannot reach stops it with exit code 1 and no password shown.
import { describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { existsSync, readdirSync } from "node:fs";
import { BINARY, Client, defer, startBinary, tempDir } from "./helpers";
import { say } from "./http/lib";
import { usePostgres } from "./pg";
import { openPgStore } from "../src/store/pg";
import { SECRET, sign } from "./auth/keys";

if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build\` first`);

const pg = usePostgres();

function peek(url: string) {
  const client = new SQL({ url, max: 1 });
  defer(() => client.close());
  return client;
}

describe("the compiled binary with DATABASE_URL", () => {
  test("serves from an empty folder and stores in PostgreSQL (no chat.db); a restart keeps the history; SIGTERM exits 0", async () => {
    const url = await pg.server.createDatabase();
    const cwd = tempDir();
    const first = await startBinary({ cwd, env: { DATABASE_URL: url, CHAT_RATE_LIMIT: "0" } });
    expect(await (await fetch(`${first.base}/health`)).json()).toMatchObject({ ok: true, store: "postgres" });
    const ada = await Client.joined(first.wsUrl("lobby"), "ada");
    const m = await say(ada, "hello from the binary", "b1");
    const rows = await peek(url)`select id, message, client_id from messages`;
    expect(rows.map((r: any) => ({ id: Number(r.id), message: r.message, client_id: r.client_id }))).toEqual([{ id: m.id, message: "hello from the binary", client_id: "b1" }]);
    expect(readdirSync(cwd)).toEqual([]);
    ada.close();
    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);

    const second = await startBinary({ cwd, env: { DATABASE_URL: url, CHAT_RATE_LIMIT: "0" } });
    const bob = await Client.joined(second.wsUrl("lobby"), "bob");
    expect(bob.history).toEqual([{ id: m.id, room: "lobby", name: "ada", message: "hello from the binary", timestamp: m.timestamp }]);
    expect((await say(bob, "after the restart")).id).toBeGreaterThan(m.id);
  });

  test("two nodes started at once on an empty database both serve it: what one stores, the other's history holds", async () => {
    const url = await pg.server.createDatabase();
    const [a, b] = await Promise.all([startBinary({ env: { DATABASE_URL: url } }), startBinary({ env: { DATABASE_URL: url } })]);
    const ada = await Client.joined(a.wsUrl("lobby"), "ada");
    const m = await say(ada, "stored by node a", "k1");
    const bob = await Client.joined(b.wsUrl("lobby"), "bob");
    expect(bob.history.map((h: any) => h.id)).toEqual([m.id]);
    const rooms = await (await fetch(`${b.base}/rooms`)).json();
    expect(rooms.rooms.map((r: any) => r.room)).toContain("lobby");
  });

  test("a ban and a private room written through the PostgreSQL store: the join is refused 4403/4401, the room unlisted, its history 401", async () => {
    const url = await pg.server.createDatabase();
    const store = await openPgStore(url);
    await store.ban("lobby", "mallory", { reason: "spam" }, Date.now());
    await store.setRoomSettings("staff", { private: true });
    await store.close();
    const server = await startBinary({ env: { DATABASE_URL: url, CHAT_AUTH_SECRET: SECRET } });
    const refusal = async (room: string, token: string | undefined) => {
      const client = await Client.open(server.wsUrl(room));
      client.send({ type: "join", name: "m", token });
      const error = await client.next("error");
      return { code: error.code, close: (await client.waitClose()).code };
    };
    expect(await refusal("lobby", await sign(SECRET, { sub: "mallory" }))).toEqual({ code: "forbidden", close: 4403 });
    expect(await refusal("staff", undefined)).toEqual({ code: "unauthorized", close: 4401 });
    const insider = await sign(SECRET, { sub: "u-staff", rooms: ["staff"] });
    const member = await Client.open(server.wsUrl("staff"));
    member.send({ type: "join", name: "s", token: insider });
    await member.next("history");
    await say(member, "plans", "p1");
    expect((await (await fetch(`${server.base}/rooms`)).json()).rooms).toEqual([]);
    expect((await fetch(`${server.base}/rooms/staff/messages`)).status).toBe(401);
    expect((await fetch(`${server.base}/rooms/staff/messages`, { headers: { authorization: `Bearer ${insider}` } })).status).toBe(200);
  });

  test("a database it cannot reach: exit code 1, the reason, and never the password", async () => {
    const cwd = tempDir();
    const proc = Bun.spawn([BINARY], { cwd, env: { PATH: process.env.PATH ?? "", PORT: "0", DATABASE_URL: "postgres://chat:hunter2@127.0.0.1:1/chat" }, stdout: "pipe", stderr: "pipe" });
    defer(() => proc.kill("SIGKILL"));
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code).toBe(1);
    expect(stderr).toContain("cannot open the database");
    expect(stderr).toContain("chat:***@127.0.0.1:1");
    expect(stdout + stderr).not.toContain("hunter2");
    expect(readdirSync(cwd)).toEqual([]);
  });

  test("--help with DATABASE_URL set lists the setting and never its value", async () => {
    const proc = Bun.spawn([BINARY, "--help"], { cwd: tempDir(), env: { PATH: process.env.PATH ?? "", DATABASE_URL: "postgres://chat:hunter2@db.internal/chat" }, stdout: "pipe", stderr: "pipe" });
    const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
    expect(code).toBe(0);
    expect(stdout).toContain("--database-url <DATABASE_URL>");
    expect(stdout + stderr).not.toContain("hunter2");
  });
});
