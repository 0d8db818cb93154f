// The writer thread's life: it starts with the store, and when it dies (or cannot start, file
// descriptors being exhausted) the write it was doing is refused, the process goes on, and the
// next write starts another.
import { expect, test } from "bun:test";
import { join } from "node:path";
import type { Draft } from "../../src/rooms/ports";
import { openSqliteStore } from "../../src/store/sqlite";
import { Client, defer, startServer, tempDir } from "../helpers";
import { say } from "../http/lib";

const draft = (message: string, clientId?: string): Draft => ({ room: "r", name: "ada", message, timestamp: Date.now(), clientId });
const rejection = (p: Promise<unknown>) => p.then(() => undefined, (error: Error) => error);

function open() {
  const store = openSqliteStore(join(tempDir(), "chat.db"));
  defer(() => store.close());
  return store;
}

test("the writer starts with the store, before any write", async () => {
  const store = open();
  await new Promise((resolve) => setTimeout(resolve, 0)); // the store starts it on its first timer turn
  expect(store.writer.running).toBe(true);
  expect((await store.append([draft("first")]))[0]!.message.id).toBe(1);
});

test("a writer that dies: what it was doing is refused, the next write starts another, a retry is stored once", async () => {
  const store = open();
  await store.append([draft("before")]);
  const pending = store.append([draft("in flight", "k")]);
  store.writer.kill();
  expect(store.writer.running).toBe(false);
  expect((await rejection(pending))?.message).toContain("store writer");
  // The killed writer may have committed it before it died: the retry then gets the stored one.
  const [retry] = await store.append([draft("in flight", "k")]);
  expect(store.writer.running).toBe(true);
  const [again] = await store.append([draft("in flight", "k")]);
  expect(again).toEqual({ message: retry!.message, fresh: false });
  expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["before", "in flight"]);
});

test("with every file descriptor taken, a write that must start the writer is refused and the process lives on", async () => {
  const db = join(tempDir(), "chat.db");
  const fixture = join(import.meta.dir, "fixtures", "writer-without-descriptors.ts");
  // Bun ends the whole process ("ProcessFdQuotaExceeded") when a Worker cannot get descriptors.
  const proc = Bun.spawn(["bash", "-c", 'ulimit -n 128 && exec "$0" "$@"', process.execPath, fixture, db], { stdout: "pipe", stderr: "pipe", cwd: tempDir() });
  defer(() => proc.kill("SIGKILL"));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  expect([code, stderr]).toEqual([0, ""]);
  const steps = stdout.trim().split("\n").map((line) => JSON.parse(line));
  expect(steps).toEqual([
    { step: "first", id: 1, fresh: true },
    { step: "starved", error: expect.stringContaining("no file descriptors"), held: expect.any(Number), running: false },
    { step: "freed", id: 2, fresh: true },
    { step: "retried", id: 2, fresh: false },
    { step: "closed" },
  ]);
  expect(steps[1].held).toBeGreaterThan(50);
});

test("a server whose writer died answers the next message as usual", async () => {
  const server = await startServer({ rateLimit: 0 });
  const ada = await Client.joined(server.wsUrl("lobby"), "ada");
  const bob = await Client.joined(server.wsUrl("lobby"), "bob");
  await say(ada, "before");
  (server.store as ReturnType<typeof openSqliteStore>).writer.kill();
  const after = await say(ada, "after", "k1");
  expect((await bob.next("message", (f) => f.id === after.id)).message).toBe("after");
  expect((await (await fetch(`${server.base}/health`)).json()).ok).toBe(true);
});
