// The compiled ./chat-server on PostgreSQL (DATABASE_URL), started from an empty folder: its
// migrations are embedded, it stores there and not in a file, nodes started together share one
// database, and a database it cannot reach stops it with exit code 1 and no password shown.
import { describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { existsSync, readdirSync } from "node:fs";
import { BINARY, Client, defer, startBinary, tempDir } from "./helpers";
import { say } from "./http/lib";
import { usePostgres } from "./pg";

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
