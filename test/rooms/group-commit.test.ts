// Group commit as the room sees it, over real sockets and a real SQLite file: messages of one
// event-loop turn share a transaction; nothing is broadcast or acknowledged before it commits;
// a commit that fails acknowledges and broadcasts nothing of its batch; ids keep their order.
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { Client, defer, startServer } from "../helpers";
import { cid, storedRows } from "../http/lib";

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
