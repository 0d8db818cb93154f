// The SQLite store: the MessageStore contract (contract.ts) over real database files, then what
// only SQLite has: the file and its WAL (kept bounded by the checkpointer), migrations (from empty
// and from an older database), the writing connection and the write lock, the bounded clientId memory.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { openSqliteStore, sweepPause } from "../../src/store/sqlite";
import { writerSql } from "../../src/store/sqlite/writer-sql";
import { Client, defer, startServer, tempDir } from "../helpers";
import { say } from "../http/lib";
import { draft, runStoreContract, type StoredRow } from "./contract";
import { previousReleaseDatabase } from "./previous-release";
import { open, peek } from "./sqlite-files";

const MIGRATIONS_DIR = join(import.meta.dir, "..", "..", "drizzle", "sqlite");
const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta", "_journal.json"), "utf8")) as { entries: { tag: string; when: number }[] };
const migrationSql = (tag: string) => readFileSync(join(MIGRATIONS_DIR, `${tag}.sql`), "utf8");

runStoreContract("sqlite", async () => {
  const path = join(tempDir(), "chat.db");
  return {
    async open({ onCommit, clientIdWindowMs } = {}) {
      // The contract's drafts are stamped by a clock of their own, near 0: so is the store's.
      return openSqliteStore(path, { onCommit, clientIds: clientIdWindowMs === undefined ? undefined : { windowMs: clientIdWindowMs, max: 100_000 }, now: () => 0 });
    },
    async rows() {
      return peek(path).query("SELECT id, room, name, message, timestamp, client_id AS clientId, user_id AS userId FROM messages ORDER BY id").all() as StoredRow[];
    },
    async refuse(message) {
      const quoted = `'${message.replaceAll("'", "''")}'`; // a trigger takes no parameters
      peek(path).exec(`CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.message = ${quoted} BEGIN SELECT RAISE(ABORT, 'refused by test'); END;`);
    },
  };
});

describe("persistence", () => {
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

  test("the WAL stays bounded under continuous writes, does not grow once they stop, and is cut down again", async () => {
    const store = open();
    const walBytes = () => statSync(`${store.file}-wal`, { throwIfNoEntry: false })?.size ?? 0;
    const big = "\u20ac".repeat(2000); // ~6 KB a row
    let largest = 0;
    // ~100 MB written as fast as the writer takes it: without checkpoints the WAL would hold all of
    // it, and the writer itself never checkpoints (the checkpointer does, on its own thread).
    for (let batch = 0; batch < 80; batch++) {
      await store.append(Array.from({ length: 200 }, (_, i) => draft(big, { clientId: `${batch}-${i}` })));
      largest = Math.max(largest, walBytes());
    }
    expect(largest).toBeLessThan(64 << 20);
    // Idle now: the file does not grow, and once the writer has been idle for a second the
    // checkpointer cuts it down (TRUNCATE).
    const stopped = walBytes();
    for (const deadline = Date.now() + 10_000; walBytes() > 4 << 20; await Bun.sleep(20)) {
      expect(walBytes()).toBeLessThanOrEqual(stopped);
      if (Date.now() > deadline) throw new Error(`the WAL was not cut down: ${walBytes()} bytes`);
    }
    const caughtUp = await store.checkpoint();
    expect(caughtUp.checkpointed).toBe(caughtUp.log);
    await store.append([draft("small")]);
    expect(walBytes()).toBeLessThanOrEqual(4 << 20);
    expect(await store.page("r", { limit: 1 })).toEqual([expect.objectContaining({ message: "small" })]);
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
    expect(columns).toEqual(["id", "room", "name", "message", "timestamp", "client_id", "user_id"]);
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

  test("a database from before 0005 (AUTOINCREMENT) whose newest rows were deleted: new ids go on after the deleted ones", async () => {
    const path = join(tempDir(), "old.db");
    const old = previousReleaseDatabase(path, "0005");
    const insert = old.query("INSERT INTO messages (room, name, message, timestamp) VALUES ('lobby', 'ada', ?, 1000)");
    for (let i = 1; i <= 10; i++) insert.run(`m${i}`);
    old.exec("DELETE FROM messages WHERE id > 5"); // AUTOINCREMENT's sqlite_sequence still says 10
    old.close();
    const store = open(path);
    expect((await store.page("lobby", { limit: 20 })).map((m) => m.id)).toEqual([1, 2, 3, 4, 5]);
    const [next] = await store.append([draft("new", { room: "lobby" })]);
    expect(next!.message.id).toBe(11);
    expect(peek(path).query("SELECT sql FROM sqlite_master WHERE name = 'messages'").get()).toEqual({ sql: expect.not.stringContaining("AUTOINCREMENT") });
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

describe("the writing connection (on the event loop)", () => {
  test("a commit that finds the write lock taken waits for it on a timer, not in the event loop, then commits", async () => {
    const store = open();
    await store.append([draft("first")]);
    // Another connection holds the write lock, as the checkpointer does to empty the WAL.
    const other = peek(store.file);
    other.exec("BEGIN IMMEDIATE");
    let settled = false;
    const pending = store.append([draft("second")]).finally(() => (settled = true));
    // The event loop goes on meanwhile: a timer fires on time, a read answers, nothing is acked.
    const asked = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(performance.now() - asked).toBeLessThan(1000);
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["first"]);
    expect(settled).toBe(false);
    other.exec("COMMIT");
    await pending;
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["first", "second"]);
  });
});

describe("appendNow (group commit's way while no batch is in flight)", () => {
  test("commits before it returns; with work queued before it, or the write lock taken, does nothing and says so", async () => {
    const store = open();
    const [first] = store.appendNow!([draft("first", { clientId: "c1" })])!;
    expect(first).toMatchObject({ fresh: true, message: { id: 1, message: "first" } });
    expect(peek(store.file).query("SELECT message FROM messages").all()).toEqual([{ message: "first" }]);
    // append() queued, not run yet: appendNow must not go before it
    const queued = store.append([draft("second")]);
    expect(store.appendNow!([draft("not now")])).toBeUndefined();
    expect((await queued)[0]!.message.id).toBe(2);
    // another connection holds the write lock: nothing waits on the event loop
    const other = peek(store.file);
    other.exec("BEGIN IMMEDIATE");
    expect(store.appendNow!([draft("locked out")])).toBeUndefined();
    other.exec("COMMIT");
    const [retry] = store.appendNow!([draft("c1 again", { clientId: "c1" })])!;
    expect(retry).toMatchObject({ fresh: false, message: { id: 1, message: "first" } });
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["first", "second"]);
  });
});

describe("retention (slices on the writing connection, between the batches)", () => {
  test("a sweep of many rows goes in slices: a message sent meanwhile is stored before the sweep ends, not after it", async () => {
    const store = open();
    const slice = writerSql().pruneChunkSize;
    await store.append(Array.from({ length: 10 * slice }, (_, i) => draft(`old ${i}`, { timestamp: 100 })));
    let sweeping = true;
    const swept = store.prune(1000).finally(() => (sweeping = false));
    const [fresh] = await store.append([draft("during the sweep", { timestamp: 5000 })]);
    expect(sweeping).toBe(true);
    expect(fresh!.fresh).toBe(true);
    const expiredLeft = (peek(store.file).query("SELECT count(*) AS n FROM messages WHERE timestamp < 1000").get() as { n: number }).n;
    expect(expiredLeft).toBeGreaterThan(0);
    expect(await swept).toBe(10 * slice);
    expect((await store.page("r", { limit: 10 })).map((m) => m.message)).toEqual(["during the sweep"]);
  });

  test("a store closed while the sweep pauses ends the sweep there: no slice after close", async () => {
    const store = open();
    const slice = writerSql().pruneChunkSize;
    await store.append(Array.from({ length: 3 * slice }, (_, i) => draft(`old ${i}`, { timestamp: 100 })));
    const swept = store.prune(1000);
    await store.append([draft("during the sweep", { timestamp: 5000 })]); // after the first slice: a long pause follows
    await store.close();
    expect(await swept).toBe(slice);
    const left = (peek(store.file).query("SELECT count(*) AS n FROM messages WHERE timestamp < 1000").get() as { n: number }).n;
    expect(left).toBe(2 * slice);
  });

  test("a prune while a sweep runs joins it with its later cutoff: one sweep, one result", async () => {
    const store = open();
    const slice = writerSql().pruneChunkSize;
    await store.append(Array.from({ length: 2 * slice }, (_, i) => draft(`older ${i}`, { timestamp: 100 })));
    await store.append(Array.from({ length: slice }, (_, i) => draft(`old ${i}`, { timestamp: 2000 })));
    const [kept] = await store.append([draft("kept", { timestamp: 5000 })]);
    const first = store.prune(1000);
    const second = store.prune(3000);
    expect(await second).toBe(3 * slice);
    expect(await first).toBe(3 * slice);
    expect((await store.page("r", { limit: 10 })).map((m) => m.id)).toEqual([kept!.message.id]);
  });

  test("a slice reads a range of ids, whatever the table holds: no prune reads on to the end of the table", () => {
    const store = open();
    const sql = writerSql();
    for (const statement of [sql.pruneRange, sql.pruneChunk]) {
      const plan = (store.database.query(`EXPLAIN QUERY PLAN ${statement}`).all() as { detail: string }[]).map((p) => p.detail).join("; ");
      expect(plan).toMatch(/SEARCH messages USING INTEGER PRIMARY KEY \(rowid>\?/);
      expect(plan).not.toMatch(/SCAN messages/);
    }
  });

  test("the sweep goes in id order and ends at a slice with nothing expired: rows stamped older behind it wait", async () => {
    const store = open();
    const slice = writerSql().pruneChunkSize;
    await store.append(Array.from({ length: 10 }, (_, i) => draft(`old ${i}`, { timestamp: 100 })));
    await store.append(Array.from({ length: 2 * slice }, (_, i) => draft(`new ${i}`, { timestamp: 5000 })));
    await store.append(Array.from({ length: 5 }, (_, i) => draft(`stamped old ${i}`, { timestamp: 100 }))); // the clock set back
    // slices: 10 old and the first new ones, then new ones only: the end
    expect(await store.prune(1000)).toBe(10);
    expect(await store.prune(6000)).toBe(2 * slice + 5);
  });

  test("while messages are stored, the sweep pauses 499 times its slice (1 message in 500 meets one); idle, 4 times", () => {
    expect(sweepPause(3, true)).toBe(1497);
    expect(sweepPause(3, false)).toBe(12);
    // bounds: never back to back while messages flow, never more than two seconds
    expect(sweepPause(0.05, true)).toBe(40);
    expect(sweepPause(0.05, false)).toBe(2);
    expect(sweepPause(20, true)).toBe(2000);
  });
});

describe("clientIds (remembered for a window, not by an index)", () => {
  test("at most `max` are remembered: the oldest go first", async () => {
    const store = openSqliteStore(join(tempDir(), "chat.db"), { clientIds: { windowMs: 60_000, max: 2 } });
    defer(() => store.close());
    await store.append([draft("a", { clientId: "a" }), draft("b", { clientId: "b" }), draft("c", { clientId: "c" })]);
    const [a, c] = await store.append([draft("a", { clientId: "a" }), draft("c", { clientId: "c" })]);
    expect(a!.fresh).toBe(true);
    expect(c!.fresh).toBe(false);
  });

  test("a reopened store reads back only the window before now, however many rows the newest one's window holds", async () => {
    // Rows of two hours ago, a second apart: counted back from the newest row, the window would
    // take them all (a store reopened after a quiet spell read ten minutes of rows on the event loop).
    const path = join(tempDir(), "chat.db");
    const then = Date.now() - 2 * 3_600_000;
    const first = openSqliteStore(path, { clientIds: { windowMs: 600_000, max: 100_000 } });
    await first.append([draft("a", { clientId: "a", timestamp: then }), draft("b", { clientId: "b", timestamp: then + 1000 })]);
    await first.close();
    const again = openSqliteStore(path, { clientIds: { windowMs: 600_000, max: 100_000 } });
    defer(() => again.close());
    // A retry stamped just after them would match, had the memory been filled with them.
    const [b] = await again.append([draft("b", { clientId: "b", timestamp: then + 2000 })]);
    expect(b!.fresh).toBe(true);
  });
});
