// Group commit (src/rooms/group-commit.ts) on its own, with its turns run by the test over the
// in-memory store; then as the room sees it, over real sockets and a real SQLite file: messages
// of one event-loop turn share a transaction; nothing is broadcast or acknowledged before it
// commits; a commit that fails acknowledges and broadcasts nothing of its batch; ids keep their order.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { GroupCommit, NotStored } from "../../src/rooms/group-commit";
import type { Appended, Draft, MessageStore } from "../../src/rooms/ports";
import { openMemoryStore } from "../../src/store/memory";
import { Client, defer, startServer } from "../helpers";
import { cid, storedRows } from "../http/lib";

/** A store whose appends commit when the test says (in call order, as a store must), or fail. */
function heldStore() {
  const memory = openMemoryStore();
  const calls: { drafts: Draft[]; commit(): void; fail(): void }[] = [];
  const store: Pick<MessageStore, "append"> = {
    append: (drafts) =>
      new Promise<Appended[]>((resolve, reject) => {
        calls.push({ drafts, commit: () => resolve(memory.append(drafts)), fail: () => reject(new Error("refused")) });
      }),
  };
  return { store, calls };
}

/** Turns run by hand: a flush happens when the test runs the scheduled ones. */
function manualTurns() {
  let due: (() => void)[] = [];
  return {
    later: (fn: () => void) => void due.push(fn),
    run() {
      const now = due;
      due = [];
      for (const fn of now) fn();
    },
  };
}

const d = (message: string): Draft => ({ room: "r", name: "n", message, timestamp: 1 });

/** A store's appendNow that commits at once: ids from 1, every draft new. */
function committingNow() {
  let id = 0;
  return (drafts: Draft[]): Appended[] => drafts.map((x) => ({ message: { id: ++id, room: x.room, name: x.name, message: x.message, timestamp: x.timestamp }, fresh: true }));
}

describe("GroupCommit", () => {
  test("a turn's drafts go to the store as one batch; the next goes before the first commits; delivery keeps call order", async () => {
    const { store, calls } = heldStore();
    const turns = manualTurns();
    const delivered: string[][] = [];
    const commits = new GroupCommit<string>(store, (batch, results) => delivered.push(batch.map((b, i) => `${b.by}:${b.draft.message}:${results?.[i]?.message.id}`)), turns.later);
    commits.submit(d("a1"), "a");
    commits.submit(d("a2"), "a");
    commits.submit(d("b1"), "b");
    expect(calls.length).toBe(0); // not before the turn ends
    turns.run();
    expect(calls.map((c) => c.drafts.map((x) => x.message))).toEqual([["a1", "a2", "b1"]]);
    commits.submit(d("c1"), "c");
    turns.run();
    // pipelined: the second batch is at the store while the first has not committed
    expect(calls.length).toBe(2);
    calls[0]!.commit();
    calls[1]!.commit();
    await commits.drain();
    expect(delivered).toEqual([["a:a1:1", "a:a2:2", "b:b1:3"], ["c:c1:4"]]);
  });

  test("commit(): one promise per draft, resolved after its batch is delivered; a failed batch rejects each of its drafts, the next goes on", async () => {
    const { store, calls } = heldStore();
    const turns = manualTurns();
    const order: string[] = [];
    const commits = new GroupCommit(store, (batch, results) => order.push(`delivered ${batch.length} ${results ? "stored" : "refused"}`), turns.later);
    const outcome = (name: string, promise: Promise<Appended>) =>
      promise.then(
        (r) => void order.push(`${name} stored ${r.message.id}`),
        (error) => void order.push(`${name} ${error instanceof NotStored ? "not stored" : error}`),
      );
    const both = Promise.all([outcome("x", commits.commit(d("x"))), outcome("y", commits.commit(d("y")))]);
    turns.run();
    calls[0]!.fail();
    await both;
    expect(order).toEqual(["delivered 2 refused", "x not stored", "y not stored"]);
    const third = commits.commit(d("z"));
    turns.run();
    calls[1]!.commit();
    expect((await third).message).toMatchObject({ id: 1, message: "z" });
  });

  test("a store that commits on the event loop: a batch is committed and delivered in its own turn, no promise", () => {
    const turns = manualTurns();
    const delivered: string[] = [];
    const store = { append: () => Promise.reject(new Error("not used")), appendNow: committingNow() };
    const commits = new GroupCommit<string>(store, (batch, results) => delivered.push(...batch.map((b, i) => `${b.draft.message}:${results?.[i]?.message.id}`)), turns.later);
    commits.submit(d("a"), "x");
    commits.submit(d("b"), "y");
    turns.run();
    expect(delivered).toEqual(["a:1", "b:2"]);
  });

  test("a batch the store cannot take at once goes through append(); what follows cannot overtake it", async () => {
    const { store: held, calls } = heldStore();
    const commitNow = committingNow();
    let now = false;
    const nowCalls: string[][] = [];
    const store = {
      append: held.append,
      appendNow: (drafts: Draft[]) => (nowCalls.push(drafts.map((x) => x.message)), now ? commitNow(drafts) : undefined),
    };
    const turns = manualTurns();
    const delivered: string[] = [];
    let firstDelivered!: () => void;
    const first = new Promise<void>((resolve) => (firstDelivered = resolve));
    const commits = new GroupCommit<string>(
      store,
      (batch) => {
        delivered.push(batch.map((b) => b.draft.message).join("+"));
        if (delivered.length === 1) firstDelivered();
      },
      turns.later,
    );
    commits.submit(d("first"), "x");
    turns.run(); // appendNow says not now: append() has it
    now = true;
    commits.submit(d("second"), "x");
    turns.run(); // the first is in flight: append() too, not appendNow
    commits.submit(d("third"), "x"); // queued when the first commits: flushed from its delivery
    calls[0]!.commit();
    await first;
    expect(delivered).toEqual(["first"]);
    expect(calls.map((c) => c.drafts.map((x) => x.message).join("+"))).toEqual(["first", "second", "third"]);
    calls[1]!.commit();
    calls[2]!.commit();
    await commits.drain();
    expect(nowCalls).toEqual([["first"]]);
    expect(delivered).toEqual(["first", "second", "third"]);
    commits.submit(d("fourth"), "x"); // nothing in flight any more: at once
    turns.run();
    expect(delivered).toEqual(["first", "second", "third", "fourth"]);
  });

  test("appendNow throwing: its batch is refused (each commit() rejects NotStored), the next goes on", async () => {
    const commitNow = committingNow();
    let fail = true;
    const store = {
      append: () => Promise.reject(new Error("not used")),
      appendNow: (drafts: Draft[]) => {
        if (fail) throw new Error("rolled back");
        return commitNow(drafts);
      },
    };
    const turns = manualTurns();
    const outcomes: string[] = [];
    const commits = new GroupCommit(store, (batch, results) => outcomes.push(`delivered ${batch.length} ${results ? "stored" : "refused"}`), turns.later);
    const refused = commits.commit(d("x")).catch((error) => outcomes.push(error instanceof NotStored ? "x not stored" : String(error)));
    turns.run();
    await refused;
    fail = false;
    const stored = commits.commit(d("y"));
    turns.run();
    expect((await stored).message).toMatchObject({ id: 1, message: "y" });
    expect(outcomes).toEqual(["delivered 1 refused", "x not stored", "delivered 1 stored"]);
  });

  test("drain() commits what is queued and waits for every batch's delivery", async () => {
    const store = openMemoryStore();
    const turns = manualTurns(); // never run: drain itself hands the queue over
    let delivered = 0;
    const commits = new GroupCommit<number>(store, (batch) => void (delivered += batch.length), turns.later);
    for (let i = 0; i < 5; i++) commits.submit(d(`m${i}`), i);
    expect(commits.queued).toBe(5);
    await commits.drain();
    expect(delivered).toBe(5);
    expect((await store.page("r", { limit: 10 })).length).toBe(5);
  });
});

/** Our own connection to the server's database file, to look (and make the engine fail) from outside. */
function outside(dbPath: string) {
  const db = new Database(dbPath);
  defer(() => db.close());
  return db;
}

test("every copy arrives in id order at every member, while several senders burst at once", async () => {
  const server = await startServer();
  const names = ["a", "b", "c", "d"];
  const members = await Promise.all(names.map((n) => Client.joined(server.wsUrl("burst"), n)));
  const perSender = 30;
  members.forEach((m, k) => {
    for (let i = 0; i < perSender; i++) m.send({ type: "message", message: `${names[k]}#${i}`, clientId: `k${i}` });
  });
  const total = members.length * perSender;
  for (const m of members) {
    const seen: number[] = [];
    while (seen.length < total) seen.push((await m.next("message")).id);
    expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(new Set(seen).size).toBe(total);
  }
  // and the ids are the stored ones, in the order each sender sent
  const rows = storedRows(server.db, "burst");
  expect(rows.length).toBe(total);
  for (const name of names) {
    const own = rows.filter((r) => r.name === name).map((r) => Number(r.message.split("#")[1]));
    expect(own).toEqual([...Array(perSender).keys()]);
  }
});

test("a message is in the database by the time its ack and its broadcast arrive", async () => {
  const server = await startServer();
  const sender = await Client.joined(server.wsUrl("durable"), "sender");
  const watcher = await Client.joined(server.wsUrl("durable"), "watcher");
  const db = outside(server.db);
  const present = db.query("SELECT id FROM messages WHERE id = ?");
  const ids = Array.from({ length: 20 }, () => cid());
  for (const clientId of ids) sender.send({ type: "message", message: "x", clientId });
  for (const clientId of ids) {
    const ack = await sender.next("message", (f) => f.clientId === clientId);
    expect(present.get(ack.id)).toEqual({ id: ack.id });
    const copy = await watcher.next("message", (f) => f.id === ack.id);
    expect(present.get(copy.id)).toEqual({ id: copy.id });
  }
});

test("a failing commit acks and broadcasts nothing of its batch; the room goes on", async () => {
  const server = await startServer();
  const sender = await Client.joined(server.wsUrl("faulty"), "sender");
  const watcher = await Client.joined(server.wsUrl("faulty"), "watcher");
  // A real refusal by the real engine: the row "boom" aborts its whole transaction.
  outside(server.db).exec(`CREATE TRIGGER refuse_boom BEFORE INSERT ON messages WHEN NEW.message = 'boom'
    BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END`);

  // Sent in one go, so the server reads them in one turn: one batch, one transaction.
  const burst = ["one", "two", "boom", "four"].map((message) => ({ type: "message", message, clientId: cid() }));
  sender.ws.send(burst.map((f) => JSON.stringify(f)).join("")); // not a frame: refused as bad_json, before the burst
  for (const frame of burst) sender.send(frame);
  await sender.next("error", (f) => f.code === "bad_json");

  const outcomes = new Map<string, any>();
  while (outcomes.size < burst.length) {
    const frame = await sender.next(undefined, (f) => f.clientId !== undefined);
    outcomes.set(frame.clientId, frame);
  }
  const boom = outcomes.get(burst[2]!.clientId)!;
  expect(boom).toMatchObject({ type: "error", code: "unavailable" });
  const refused = burst.filter((f) => outcomes.get(f.clientId).type === "error");
  const acked = burst.filter((f) => outcomes.get(f.clientId).type === "message");
  // At least the messages read in the same turn before "boom" shared its fate.
  expect(refused.length).toBeGreaterThan(1);
  const stored = storedRows(server.db, "faulty").map((r) => r.message);
  for (const f of refused) expect(stored).not.toContain(f.message);
  for (const f of acked) expect(stored).toContain(f.message);

  // The room goes on: a later message is stored, acked and broadcast; the watcher saw no phantom.
  const after = { type: "message", message: "after the fault", clientId: cid() };
  sender.send(after);
  const ack = await sender.next("message", (f) => f.clientId === after.clientId);
  const copies: any[] = [];
  for (;;) {
    const copy = await watcher.next("message");
    copies.push(copy);
    if (copy.id === ack.id) break;
  }
  expect(copies.map((c) => c.message)).toEqual([...acked.map((f) => f.message), "after the fault"]);
});
