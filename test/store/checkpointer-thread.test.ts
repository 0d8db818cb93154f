// The checkpointer thread's life: it starts with the store, and when it dies (or cannot start,
// file descriptors being exhausted) what it was doing is refused, writes go on (they commit on
// the event loop), the process goes on, and the next write starts another.
import { expect, test } from "bun:test";
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Draft } from "../../src/rooms/ports";
import { openSqliteStore } from "../../src/store/sqlite";
import { Client, defer, startServer, tempDir } from "../helpers";
import { say } from "../http/lib";

const draft = (message: string, clientId?: string, timestamp = Date.now()): Draft => ({ room: "r", name: "ada", message, timestamp, clientId });
const rejection = (p: Promise<unknown>) => p.then(() => undefined, (error: Error) => error);

function open() {
  const store = openSqliteStore(join(tempDir(), "chat.db"));
  defer(() => store.close());
  return store;
}

test("the checkpointer starts with the store, before any write", async () => {
  const store = open();
  for (const deadline = Date.now() + 5000; !store.checkpointer.running; await Bun.sleep(10)) {
    if (Date.now() > deadline) throw new Error("the checkpointer did not start");
  }
  expect((await store.append([draft("first")]))[0]!.message.id).toBe(1);
});

test("the checkpointer thread runs at nice 10: its copying gives way to the event loop", async () => {
  const workers = () => new Set(readdirSync("/proc/self/task").filter((tid) => readFileSync(`/proc/self/task/${tid}/comm`, "utf8").trim() === "Worker"));
  const niceOf = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]);
  const before = workers();
  const store = open();
  await store.checkpoint(); // the thread has started and opened its connection
  const started = [...workers()].filter((tid) => !before.has(tid));
  expect(started.map(niceOf)).toEqual([10]);
  expect(niceOf(String(process.pid))).toBe(0); // the event loop's own priority is left alone
});

test("the checkpointer reads the file it is given to warm (the executable) into the page cache when it starts", async () => {
  const executable = join(tempDir(), "chat-server");
  const fd = openSync(executable, "w");
  for (let i = 0; i < 8; i++) writeSync(fd, Buffer.alloc(1 << 20, i));
  fsyncSync(fd);
  closeSync(fd);
  const cached = () => Number(Bun.spawnSync(["fincore", "--bytes", "--noheadings", "--output", "RES", executable]).stdout.toString().trim());
  expect(Bun.spawnSync(["dd", `if=${executable}`, "iflag=nocache", "count=0", "status=none"]).exitCode).toBe(0);
  expect(cached()).toBe(0); // a file system that cannot drop pages (tmpfs) cannot show it
  const store = openSqliteStore(join(tempDir(), "chat.db"), { warm: executable });
  defer(() => store.close());
  await store.checkpoint(); // answered after the thread's start
  expect(cached()).toBe(8 << 20);
});

test("a checkpointer that dies: what it was doing is refused, writes go on and start another, retention works again", async () => {
  const store = open();
  await store.append([draft("old", undefined, 1000), draft("before")]);
  const pending = store.checkpoint();
  store.checkpointer.kill();
  expect(store.checkpointer.running).toBe(false);
  expect((await rejection(pending))?.message).toContain("store checkpointer");
  const [after] = await store.append([draft("after", "k")]);
  expect(after!.fresh).toBe(true);
  expect(store.checkpointer.running).toBe(true);
  expect(await store.prune(2000)).toBe(1);
  expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["before", "after"]);
});

test("with every file descriptor taken, a write that must start the checkpointer is still stored and the process lives on", async () => {
  const db = join(tempDir(), "chat.db");
  const fixture = join(import.meta.dir, "fixtures", "checkpointer-without-descriptors.ts");
  // Bun ends the whole process ("ProcessFdQuotaExceeded") when a Worker cannot get descriptors.
  const proc = Bun.spawn(["bash", "-c", 'ulimit -n 128 && exec "$0" "$@"', process.execPath, fixture, db], { stdout: "pipe", stderr: "pipe", cwd: tempDir() });
  defer(() => proc.kill("SIGKILL"));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect([code, stderr]).toEqual([0, ""]);
  const steps = stdout.trim().split("\n").map((line) => JSON.parse(line));
  expect(steps).toEqual([
    { step: "first", id: 1, fresh: true, running: true },
    { step: "starved", id: 2, fresh: true, held: expect.any(Number), running: false },
    { step: "freed", id: 3, fresh: true, running: true },
    { step: "closed" },
  ]);
  expect(steps[1].held).toBeGreaterThan(50);
});

test("a server whose checkpointer died answers the next message as usual", async () => {
  const server = await startServer({ rateLimit: 0 });
  const ada = await Client.joined(server.wsUrl("lobby"), "ada");
  const bob = await Client.joined(server.wsUrl("lobby"), "bob");
  await say(ada, "before");
  (server.store as ReturnType<typeof openSqliteStore>).checkpointer.kill();
  const after = await say(ada, "after", "k1");
  expect((await bob.next("message", (f) => f.id === after.id)).message).toBe("after");
  expect((await (await fetch(`${server.base}/health`)).json()).ok).toBe(true);
});
