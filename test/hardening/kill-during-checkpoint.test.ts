// kill -9 of the compiled ./chat-server at the worst moment for its checkpointer: while one of its
// threads is inside the fsync of the database file, which only a WAL checkpoint does. Every
// acknowledged message must be there after a restart, and the file must pass its integrity check.
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { BINARY, Client, defer, startBinary } from "../helpers";
import { pumpMessages } from "../http/lib";

if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run \`npm run build\` first`);

/** fsync and fdatasync, by architecture (the first field of /proc/PID/task/TID/syscall). */
const SYNC_CALLS = process.arch === "arm64" ? ["82", "83"] : ["74", "75"];

/** Whether a thread of `pid` is inside an fsync of `file` right now. */
function syncing(pid: number, file: string): boolean {
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let call: string[];
    try {
      call = readFileSync(`/proc/${pid}/task/${tid}/syscall`, "utf8").split(" ");
    } catch {
      continue; // the thread ended meanwhile
    }
    if (!SYNC_CALLS.includes(call[0]!)) continue;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${Number.parseInt(call[1]!, 16)}`) === file) return true;
    } catch {}
  }
  return false;
}

test("kill -9 while a checkpoint syncs the database file loses no acknowledged message", async () => {
  const first = await startBinary({ env: { CHAT_RATE_LIMIT: "0" } });
  const dbFile = join(first.cwd, "chat.db");
  const clients = await Promise.all(["a", "b", "c", "d"].map((n) => Client.joined(first.wsUrl("durable"), n)));
  const big = "\u20ac".repeat(1990); // ~6 KB a row: checkpoints have pages to copy and sync
  const pump = pumpMessages(clients, (name, i) => `${name} ${i} ${big}`);
  const { acked } = pump;
  let inFlightAtKill = 0;
  // Watches the server's threads; kills it the moment one is inside fsync(chat.db), once enough is acked.
  const watch = async () => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      if (acked.size >= 300 && syncing(first.proc.pid, dbFile)) {
        pump.stop();
        inFlightAtKill = pump.sent - acked.size;
        first.proc.kill("SIGKILL");
        return true;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    pump.stop();
    return false;
  };
  const [caught] = await Promise.all([watch(), pump.done]);
  expect(caught).toBe(true); // a checkpoint's fsync of the database file was seen, and killed
  expect(await first.proc.exited).not.toBe(0);
  expect(first.proc.signalCode).toBe("SIGKILL");
  await Promise.all(clients.map((c) => c.waitClose()));
  expect(inFlightAtKill).toBeGreaterThan(0); // sent and not yet acknowledged: the kill was mid-stream

  const second = await startBinary({ cwd: first.cwd });
  const peek = new Database(dbFile, { readonly: true });
  defer(() => peek.close());
  expect(peek.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
  const stored = new Map((peek.query("SELECT id, name, message, client_id FROM messages WHERE room = 'durable'").all() as any[]).map((r) => [r.client_id, r]));
  for (const [clientId, ack] of acked) {
    const row = stored.get(clientId);
    expect(row ? { id: row.id, name: row.name, message: row.message } : clientId).toEqual(ack);
  }
  // and the server serves them: the newest acknowledged is in the history on join
  const newest = Math.max(...[...acked.values()].map((a) => a.id));
  const eve = await Client.joined(second.wsUrl("durable"), "eve");
  expect(eve.history.some((m: { id: number }) => m.id === newest)).toBe(true);
}, 40_000);
