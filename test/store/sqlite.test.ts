// The SQLite store against real database files: persistence, migrations (from empty and from an
// older database), one transaction per batch (order, commit before ack, all or nothing), WAL.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Appended, Draft } from "../../src/rooms/ports";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { openSqliteStore } from "../../src/store/sqlite";
import { Client, defer, startServer, tempDir } from "../helpers";
import { say } from "../http/lib";

const MIGRATIONS_DIR = join(import.meta.dir, "..", "..", "drizzle", "sqlite");
const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta", "_journal.json"), "utf8")) as { entries: { tag: string; when: number }[] };
const migrationSql = (tag: string) => readFileSync(join(MIGRATIONS_DIR, `${tag}.sql`), "utf8");

function open(path = join(tempDir(), "chat.db")) {
  const store = openSqliteStore(path);
  defer(() => store.close());
  return Object.assign(store, { file: path });
}

/** A connection of our own to the same file. */
function peek(path: string) {
  const db = new Database(path);
  defer(() => db.close());
  return db;
}

/**
 * What a promise rejects with. (Not `await expect(p).rejects`: in Bun 1.4.5 it parks the event
 * loop in a nested wait that loses the wakeup of a worker's message, and the store's writer is one.)
 */
const rejection = (p: Promise<unknown>) => p.then(() => undefined, (error: Error) => error);

const draft = (message: string, extra: Partial<Draft> = {}): Draft => ({ room: "r", name: "ada", message, timestamp: 1000, ...extra });

describe("persistence", () => {
  test("messages survive closing and reopening the same file", async () => {
    const path = join(tempDir(), "chat.db");
    const first = openSqliteStore(path);
    const stored = await first.append([draft("one"), draft("two", { clientId: "k" })]);
    await first.close();
    const again = open(path);
    expect(await again.page("r", { limit: 10 })).toEqual(stored.map((s) => s.message));
    // the clientId is remembered across the restart too
    const [retry] = await again.append([draft("two (retry)", { clientId: "k" })]);
    expect(retry).toEqual({ message: stored[1]!.message, fresh: false });
  });

  test("a server restart on the same file keeps the history", async () => {
    const db = join(tempDir(), "chat.db");
    const first = await startServer({ db });
    const ada = await Client.joined(first.wsUrl("lobby"), "ada");
    const m = await say(ada, "before the restart");
    ada.close();
    await first.stop();
    const second = await startServer({ db });
    const bob = await Client.joined(second.wsUrl("lobby"), "bob");
    expect(bob.history).toEqual([{ id: m.id, room: "lobby", name: "ada", message: "before the restart", timestamp: m.timestamp }]);
    expect((await say(bob, "after")).id).toBeGreaterThan(m.id);
  });

  test("the WAL stays bounded under continuous writes (the writer checkpoints it)", async () => {
    const store = open();
    const big = "\u20ac".repeat(2000); // ~6 KB a row
    for (let batch = 0; batch < 20; batch++) await store.append(Array.from({ length: 200 }, (_, i) => draft(big, { clientId: `${batch}-${i}` })));
    // ~24 MB written; without checkpoints the WAL would hold all of it
    expect(statSync(`${store.file}-wal`).size).toBeLessThan(12 << 20);
    expect(await store.page("r", { limit: 1 })).toHaveLength(1);
  });

  test("the database is in WAL mode, synchronous=NORMAL, a new file as well as an existing one", async () => {
    const path = join(tempDir(), "chat.db");
    for (const round of ["new file", "existing file"]) {
      const store = openSqliteStore(path);
      expect(peek(path).query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
      expect([round, store.database.query("PRAGMA synchronous").get()]).toEqual([round, { synchronous: 1 }]);
      await store.close();
    }
  });
});

describe("migrations", () => {
  test("an empty database gets every migration, recorded as drizzle records them", () => {
    const store = open();
    const db = peek(store.file);
    const columns = (db.query("PRAGMA table_info(messages)").all() as { name: string }[]).map((c) => c.name);
    expect(columns).toEqual(["id", "room", "name", "message", "timestamp", "client_id"]);
    const indexes = (db.query("PRAGMA index_list(messages)").all() as { name: string; unique: number }[]).map((i) => [i.name, i.unique]).sort();
    // no index on client_id: retries are matched in memory (see "clientIds" below)
    expect(indexes).toEqual([["messages_room_id", 0]]);
    const recorded = db.query("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at").all();
    expect(recorded).toEqual(journal.entries.map((e) => ({ hash: createHash("sha256").update(migrationSql(e.tag)).digest("hex"), created_at: e.when })));
  });

  test("a new database (a copy of one migrated at build time) is what Drizzle's migrator makes of an empty file", async () => {
    const store = open();
    const replayed = join(tempDir(), "replayed.db");
    const client = new Database(replayed, { create: true });
    migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_DIR });
    client.close();
    const schema = (path: string) => peek(path).query("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").all();
    const records = (path: string) => peek(path).query("SELECT hash, created_at FROM __drizzle_migrations ORDER BY created_at").all();
    expect(schema(store.file)).toEqual(schema(replayed));
    expect(records(store.file)).toEqual(records(replayed));
    expect(peek(store.file).query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect((await store.append([draft("first")]))[0]!.message.id).toBe(1);
  });

  test("reopening a migrated database applies nothing again", async () => {
    const path = join(tempDir(), "chat.db");
    await openSqliteStore(path).close();
    const store = open(path);
    expect(peek(path).query("SELECT count(*) AS n FROM __drizzle_migrations").get()).toEqual({ n: journal.entries.length });
    expect((await store.append([draft("fine")]))[0]!.fresh).toBe(true);
  });

  test("an older database (first migration only) is upgraded: its rows survive and clientId dedupe works", async () => {
    const path = join(tempDir(), "old.db");
    const old = new Database(path, { create: true });
    const [first] = journal.entries;
    expect(first!.tag).toBe("0000_messages");
    const text = migrationSql(first!.tag);
    // What drizzle's sqlite migrator does for one migration: its statements, then a bookkeeping row.
    old.exec(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
    for (const statement of text.split("--> statement-breakpoint")) old.exec(statement);
    old.query(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)`).run(createHash("sha256").update(text).digest("hex"), first!.when);
    const insert = old.query("INSERT INTO messages (room, name, message, timestamp) VALUES (?, ?, ?, ?)");
    for (let i = 0; i < 5; i++) insert.run("lobby", "ada", `old ${i}`, 1000 + i);
    old.close();

    const store = open(path);
    const page = await store.page("lobby", { limit: 10 });
    expect(page.map((m) => [m.id, m.message, m.timestamp])).toEqual([0, 1, 2, 3, 4].map((i) => [i + 1, `old ${i}`, 1000 + i]));
    const [a, b] = await store.append([draft("new", { room: "lobby", clientId: "k" }), draft("new again", { room: "lobby", clientId: "k" })]);
    expect(a!.fresh).toBe(true);
    expect(a!.message.id).toBe(6);
    expect(b).toEqual({ message: a!.message, fresh: false });
    expect(peek(path).query("SELECT count(*) AS n FROM __drizzle_migrations").get()).toEqual({ n: journal.entries.length });
  });

  test("an older database served by the app: old history on join, then new messages", async () => {
    const path = join(tempDir(), "old.db");
    const old = new Database(path, { create: true });
    const text = migrationSql(journal.entries[0]!.tag);
    old.exec(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
    for (const statement of text.split("--> statement-breakpoint")) old.exec(statement);
    old.query(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)`).run(createHash("sha256").update(text).digest("hex"), journal.entries[0]!.when);
    old.query("INSERT INTO messages (room, name, message, timestamp) VALUES ('lobby', 'ada', 'from the old days', 5)").run();
    old.close();
    const server = await startServer({ db: path });
    const bob = await Client.joined(server.wsUrl("lobby"), "bob");
    expect(bob.history).toEqual([{ id: 1, room: "lobby", name: "ada", message: "from the old days", timestamp: 5 }]);
    const m = await say(bob, "hello", "k1");
    expect(m.id).toBe(2);
    expect(m.timestamp).toBeGreaterThanOrEqual(5);
  });
});

describe("batches (one transaction each)", () => {
  test("order is kept within a batch and across batches, however they interleave", async () => {
    const store = open();
    const one = store.append([draft("a"), draft("b"), draft("c")]);
    const two = store.append([draft("d"), draft("e")]);
    const three = store.append([draft("f")]);
    const results = [...(await one), ...(await two), ...(await three)];
    expect(results.map((r) => r.message.message)).toEqual(["a", "b", "c", "d", "e", "f"]);
    const ids = results.map((r) => r.message.id);
    for (let i = 1; i < ids.length; i++) expect(ids[i]!).toBeGreaterThan(ids[i - 1]!);
    expect(results.every((r) => r.fresh)).toBe(true);
    const rows = peek(store.file).query("SELECT id, message FROM messages ORDER BY id").all();
    expect(rows).toEqual(results.map((r) => ({ id: r.message.id, message: r.message.message })));
  });

  test("each result is the stored row as read back from the file", async () => {
    const store = open();
    const results = await store.append([draft("x", { room: "q", name: "bob", timestamp: 42, clientId: "c1" })]);
    const row = peek(store.file).query("SELECT * FROM messages WHERE id = ?").get(results[0]!.message.id);
    expect(row).toEqual({ id: results[0]!.message.id, room: "q", name: "bob", message: "x", timestamp: 42, client_id: "c1" });
    expect(results[0]!.message).toEqual({ id: results[0]!.message.id, room: "q", name: "bob", message: "x", timestamp: 42 });
  });

  test("a batch is committed when its promise resolves: another connection sees all of it", async () => {
    const store = open();
    const reader = peek(store.file);
    const count = () => (reader.query("SELECT count(*) AS n FROM messages").get() as { n: number }).n;
    const pending = store.append(Array.from({ length: 50 }, (_, i) => draft(`m${i}`)));
    const results = await pending;
    expect(count()).toBe(50);
    expect(results.length).toBe(50);
  });

  test("a failing commit (a row the engine refuses) stores nothing of its batch and acks nothing; the next batch works", async () => {
    const store = open();
    await store.append([draft("before")]);
    const admin = peek(store.file);
    admin.exec(`CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.message = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;`);
    const failing = store.append([draft("a"), draft("boom"), draft("c", { clientId: "k" })]);
    expect((await rejection(failing))?.message).toContain("refused by test");
    expect(admin.query("SELECT message FROM messages ORDER BY id").all()).toEqual([{ message: "before" }]);
    // the rolled-back clientId was not remembered, the store goes on
    const [c] = await store.append([draft("c", { clientId: "k" })]);
    expect(c!.fresh).toBe(true);
    expect(admin.query("SELECT message FROM messages ORDER BY id").all()).toEqual([{ message: "before" }, { message: "c" }]);
  });

  test("a read never shows a row whose append has not resolved: its batch is not delivered yet", async () => {
    const store = open();
    await store.append([draft("first")]);
    const outside = peek(store.file);
    const pending = store.append([draft("second")]);
    // Wait for the writer's commit without yielding, so that its reply cannot be handled meanwhile.
    const deadline = Date.now() + 5000;
    while ((outside.query("SELECT count(*) AS n FROM messages").get() as { n: number }).n < 2) {
      if (Date.now() > deadline) throw new Error("the writer never committed");
    }
    // A joiner reading now would get "second" in its history and again when it is delivered.
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["first"]);
    await pending;
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["first", "second"]);
  });

  test("appends may overlap: they commit in call order, and a failing one takes none of the others with it", async () => {
    const store = open();
    await store.append([draft("warm-up")]);
    peek(store.file).exec(`CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.message = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;`);
    const calls = [store.append([draft("a1"), draft("a2")]), store.append([draft("boom")]), store.append([draft("c1", { clientId: "k" })])];
    const [a, b, c] = await Promise.all(calls.map((call) => call.then((results) => results, (error: Error) => error)));
    expect(b).toBeInstanceOf(Error);
    const ids = [...(a as Appended[]), ...(c as Appended[])].map((r) => r.message.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["warm-up", "a1", "a2", "c1"]);
  });

  test("a failure of the database itself (closed) rejects the append", async () => {
    const store = open();
    await store.close();
    expect(await rejection(store.append([draft("late")]))).toBeInstanceOf(Error);
  });

  test("clientId: stored once per room and name, within a batch and across batches; no clientId never conflicts", async () => {
    const store = open();
    const [a, b, c, d, b2, c2] = await store.append([
      draft("first", { clientId: "k" }),
      draft("dup", { clientId: "k" }),
      draft("other name", { clientId: "k", name: "bob" }),
      draft("other room", { clientId: "k", room: "s" }),
      draft("dup after the others", { clientId: "k" }),
      draft("other name again", { clientId: "k", name: "bob" }),
    ]);
    expect(a!.fresh).toBe(true);
    expect(b).toEqual({ message: a!.message, fresh: false });
    expect(c!.fresh && d!.fresh).toBe(true);
    expect(b2).toEqual({ message: a!.message, fresh: false });
    expect(c2).toEqual({ message: c!.message, fresh: false });
    const [e] = await store.append([draft("later dup", { clientId: "k" })]);
    expect(e).toEqual({ message: a!.message, fresh: false });
    const plain = await store.append([draft("same"), draft("same")]);
    expect(plain.every((p) => p.fresh)).toBe(true);
    expect(peek(store.file).query("SELECT count(*) AS n FROM messages").get()).toEqual({ n: 5 });
  });
});

describe("clientIds (remembered for a window, not by an index)", () => {
  test("a retry within the window gets the stored message, after a reopen too; an older one is stored anew", async () => {
    const path = join(tempDir(), "chat.db");
    const window = { windowMs: 1000, max: 100 };
    const first = openSqliteStore(path, { clientIds: window });
    const [kept] = await first.append([draft("old", { clientId: "old", timestamp: 1000 }), draft("kept", { clientId: "kept", timestamp: 5000 })]).then((r) => r.slice(1));
    await first.close();
    // The reopened store refills its memory from the newest rows, back to the window.
    const again = openSqliteStore(path, { clientIds: window });
    defer(() => again.close());
    const [retryKept, retryOld] = await again.append([draft("kept", { clientId: "kept", timestamp: 5500 }), draft("old", { clientId: "old", timestamp: 5500 })]);
    expect(retryKept).toEqual({ message: kept!.message, fresh: false });
    expect(retryOld!.fresh).toBe(true); // 4.5 s older than the newest message: out of the window
    // once time moves on, "kept" falls out of the window too
    await again.append([draft("later", { timestamp: 7000 })]);
    const [late] = await again.append([draft("kept", { clientId: "kept", timestamp: 7000 })]);
    expect(late!.fresh).toBe(true);
  });

  test("at most `max` are remembered: the oldest go first", async () => {
    const store = openSqliteStore(join(tempDir(), "chat.db"), { clientIds: { windowMs: 60_000, max: 2 } });
    defer(() => store.close());
    await store.append([draft("a", { clientId: "a" }), draft("b", { clientId: "b" }), draft("c", { clientId: "c" })]);
    const [a, c] = await store.append([draft("a", { clientId: "a" }), draft("c", { clientId: "c" })]);
    expect(a!.fresh).toBe(true);
    expect(c!.fresh).toBe(false);
  });

  test("a retry whose message retention deleted is stored anew", async () => {
    const store = open();
    await store.append([draft("gone", { clientId: "k", timestamp: 100 }), draft("stays", { timestamp: 100 })]);
    expect(await store.prune(101)).toBe(2);
    const [retry] = await store.append([draft("gone", { clientId: "k", timestamp: 200 })]);
    expect(retry!.fresh).toBe(true);
    expect(await store.page("r", { limit: 10 })).toEqual([retry!.message]);
  });
});

describe("reading", () => {
  test("page: the latest `limit`, or those before `before`, or the first after `after`; oldest first; per room", async () => {
    const store = open();
    const results = await store.append(Array.from({ length: 10 }, (_, i) => draft(`m${i}`, { room: i % 2 ? "odd" : "even" })));
    const even = results.filter((_, i) => i % 2 === 0).map((r) => r.message);
    expect(await store.page("even", { limit: 3 })).toEqual(even.slice(-3));
    expect(await store.page("even", { limit: 100 })).toEqual(even);
    expect(await store.page("even", { before: even[3]!.id, limit: 2 })).toEqual(even.slice(1, 3));
    expect(await store.page("even", { after: even[0]!.id, limit: 2 })).toEqual(even.slice(1, 3));
    expect(await store.page("none", { limit: 3 })).toEqual([]);
  });

  test("rooms: each room with messages and its newest timestamp, most recent first", async () => {
    const store = open();
    const [, b, c] = await store.append([draft("a", { room: "x", timestamp: 5 }), draft("b", { room: "y", timestamp: 9 }), draft("c", { room: "x", timestamp: 9 })]);
    expect(await store.rooms({ limit: 10 })).toEqual([
      { room: "x", lastId: c!.message.id, lastMessageAt: 9 },
      { room: "y", lastId: b!.message.id, lastMessageAt: 9 },
    ]);
  });

  test("prune deletes only messages older than the cutoff, in chunks, and ids are never reused", async () => {
    const store = open();
    await store.append(Array.from({ length: 2500 }, (_, i) => draft(`old${i}`, { timestamp: 100 })));
    const kept = await store.append([draft("new", { timestamp: 5000 })]);
    expect(await store.prune(1000)).toBe(2500);
    expect(await store.page("r", { limit: 10 })).toEqual([kept[0]!.message]);
    expect(await store.prune(6000)).toBe(1);
    const [next] = await store.append([draft("after", { timestamp: 7000 })]);
    expect(next!.message.id).toBeGreaterThan(kept[0]!.message.id);
  });
});
