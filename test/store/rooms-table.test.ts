// The rooms table (what GET /rooms reads): kept by the writer ROOMS_UPKEEP_MS after the batches it
// counts (the list merges what it holds meanwhile) and by each retention chunk, caught up when a
// killed store opens again, backfilled when an older database is upgraded, read by index.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { desc, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Draft } from "../../src/rooms/ports";
import { openSqliteStore } from "../../src/store/sqlite";
import { rooms } from "../../src/store/sqlite/schema";
import { walIndex } from "../../src/store/sqlite/wal-index";
import { ROOMS_UPKEEP_MS } from "../../src/store/sqlite/writer";
import { writerSql } from "../../src/store/sqlite/writer-sql";
import { defer, tempDir } from "../helpers";
import { previousReleaseDatabase } from "./previous-release";
import { open, peek } from "./sqlite-files";

const draft = (room: string, message: string, extra: Partial<Draft> = {}): Draft => ({ room, name: "ada", message, timestamp: 1000, ...extra });

/** The rooms table as it is, and as it should be (computed from every message). */
function tableAndTruth(path: string) {
  const db = peek(path);
  return {
    table: db.query("SELECT room, last_id, last_message_at, messages FROM rooms ORDER BY room").all(),
    truth: db.query("SELECT room, max(id) AS last_id, max(timestamp) AS last_message_at, count(*) AS messages FROM messages GROUP BY room ORDER BY room").all(),
  };
}

describe("upkeep", () => {
  test("the rows count every batch once the store is closed: newest id and time, count", async () => {
    const store = open();
    await store.append([draft("a", "1", { timestamp: 10 }), draft("b", "2", { timestamp: 11 }), draft("a", "3", { timestamp: 12 })]);
    await store.append([draft("c", "4", { timestamp: 20 })]);
    await store.append(Array.from({ length: 100 }, (_, i) => draft(i % 2 ? "a" : "b", `x${i}`, { timestamp: 30 + i })));
    await store.close();
    const { table, truth } = tableAndTruth(store.file);
    expect(table).toEqual(truth);
    expect(table).toHaveLength(3);
  });

  test("an open store brings the rows up to date by itself, ROOMS_UPKEEP_MS after a commit left them behind", async () => {
    const store = open();
    await store.append([draft("a", "1", { timestamp: 10 }), draft("b", "2", { timestamp: 11 })]);
    const committed = performance.now();
    const { table } = tableAndTruth(store.file);
    expect(table).toEqual([]); // not by the commit itself: that is the point
    for (;;) {
      const { table, truth } = tableAndTruth(store.file);
      if (table.length) {
        expect(table).toEqual(truth);
        break;
      }
      expect(performance.now() - committed).toBeLessThan(ROOMS_UPKEEP_MS + 2000);
      await Bun.sleep(5);
    }
    expect(performance.now() - committed).toBeGreaterThanOrEqual(ROOMS_UPKEEP_MS - 1);
  });

  test("the list is right between upkeeps: rows not counted yet give way to what the writer holds", async () => {
    const store = open();
    await store.append([draft("a", "1"), draft("b", "2"), draft("c", "3")]);
    await store.close();
    const reopened = open(store.file);
    const [moved] = await reopened.append([draft("a", "4", { timestamp: 50 })]);
    expect(tableAndTruth(store.file).table).not.toEqual(tableAndTruth(store.file).truth); // "a" is behind in the table
    expect(await reopened.rooms({ limit: 2 })).toEqual([
      { room: "a", lastId: moved!.message.id, lastMessageAt: 50 },
      { room: "c", lastId: 3, lastMessageAt: 1000 },
    ]);
    expect(await reopened.rooms({ before: 3, limit: 5 })).toEqual([{ room: "b", lastId: 2, lastMessageAt: 1000 }]);
  });

  test("a store killed -9 between upkeeps: the next open counts the messages its rows missed", async () => {
    const path = join(tempDir(), "chat.db");
    const batches = [[draft("a", "1", { timestamp: 10 }), draft("b", "2", { timestamp: 11 })], [draft("a", "3", { timestamp: 12 })]];
    const first = open(path);
    await first.append([draft("z", "0", { timestamp: 1 })]);
    await first.close(); // "z" is counted; what the killed process stores is not
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "fixtures", "append-then-wait.ts"), path, JSON.stringify(batches)], { stdout: "pipe", stderr: "inherit" });
    defer(() => proc.kill("SIGKILL"));
    const reader = proc.stdout.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("stored\n");
    proc.kill("SIGKILL");
    await proc.exited;
    const behind = tableAndTruth(path);
    expect(behind.table).not.toEqual(behind.truth);
    open(path);
    const { table, truth } = tableAndTruth(path);
    expect(table).toEqual(truth);
    expect(table.map((r: any) => [r.room, r.messages])).toEqual([["a", 2], ["b", 1], ["z", 1]]);
  });

  test("a one-message commit writes two WAL pages (the message's and its index entry's): not the rooms table's, nor an id sequence's", async () => {
    const store = open();
    await store.append(["a", "b", "c"].map((room) => draft(room, "warm")));
    await store.prune(0); // deletes nothing; brings the rooms rows up to date first
    const wal = walIndex(`${store.file}-shm`);
    defer(() => wal.close());
    const before = wal.frames()!;
    await store.append([draft("b", "one")]);
    expect(wal.frames()! - before).toBe(2);
  });

  test("retries of a clientId (in one batch, in the next, after a reopen) are counted once", async () => {
    const path = join(tempDir(), "chat.db");
    const retry = (): Draft => draft("r", "hi", { clientId: "k", timestamp: Date.now() }); // the window ends now
    const first = openSqliteStore(path);
    await first.append([retry(), retry()]);
    await first.append([retry()]);
    await first.close();
    const store = open(path);
    const [last] = await store.append([retry()]);
    expect(last!.fresh).toBe(false);
    await store.close();
    expect(peek(path).query("SELECT room, messages FROM rooms").all()).toEqual([{ room: "r", messages: 1 }]);
  });

  test("a batch that rolls back leaves the rooms table as it was", async () => {
    const store = open();
    await store.append([draft("a", "before")]);
    const admin = peek(store.file);
    admin.exec(`CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.message = 'boom' BEGIN SELECT RAISE(ABORT, 'refused by test'); END;`);
    const before = admin.query("SELECT * FROM rooms").all();
    const failed = await store.append([draft("a", "x"), draft("new", "y"), draft("a", "boom")]).then(() => false, () => true);
    expect(failed).toBe(true);
    expect(admin.query("SELECT * FROM rooms").all()).toEqual(before);
  });

  test("retention takes pruned messages off the counts and drops rooms left empty, chunk by chunk", async () => {
    const store = open();
    // 2,600 old messages over three rooms (more than two chunks), and newer ones in two of them.
    await store.append(Array.from({ length: 2600 }, (_, i) => draft(["gone", "kept", "mixed"][i % 3]!, `old${i}`, { timestamp: 100 })));
    await store.append([draft("kept", "new", { timestamp: 5000 }), draft("mixed", "new", { timestamp: 5000 }), draft("mixed", "newer", { timestamp: 6000 })]);
    expect(await store.prune(1000)).toBe(2600);
    // prune() has the rows count every message first: each chunk then takes its own off
    const { table, truth } = tableAndTruth(store.file);
    expect(table).toEqual(truth);
    expect(table.map((r: any) => [r.room, r.messages])).toEqual([
      ["kept", 1],
      ["mixed", 2],
    ]);
    expect(await store.prune(10_000)).toBe(3);
    expect(tableAndTruth(store.file).table).toEqual([]);
    // and a pruned room comes back with its next message
    await store.append([draft("gone", "back", { timestamp: 20_000 })]);
    await store.close();
    expect(tableAndTruth(store.file).table).toEqual(tableAndTruth(store.file).truth);
  });
});

describe("migration", () => {
  test("a database of the previous release gets its rooms table filled from its messages", async () => {
    const path = join(tempDir(), "old.db");
    const old = previousReleaseDatabase(path);
    const insert = old.query("INSERT INTO messages (room, name, message, timestamp, client_id) VALUES (?, 'ada', ?, ?, ?)");
    old.transaction(() => {
      for (let i = 0; i < 300; i++) insert.run(`room${i % 7}`, `m${i}`, 1000 + i, i % 5 ? null : `c${i}`);
    })();
    old.close();

    const store = open(path);
    const { table, truth } = tableAndTruth(path);
    expect(table).toHaveLength(7);
    expect(table).toEqual(truth);
    expect((await store.rooms({ limit: 2 })).map((r) => r.room)).toEqual(["room5", "room4"]); // ids 300 and 299
    // the writer goes on counting from there
    await store.append([draft("room0", "new", { timestamp: 9000 })]);
    await store.close();
    expect(tableAndTruth(path).table).toEqual(tableAndTruth(path).truth);
  });
});

describe("catching up at open", () => {
  test("reads only the rows past the rooms table's newest id: a range of ids, not a walk of the room index", () => {
    const store = open();
    const plan = (store.database.query(`EXPLAIN QUERY PLAN ${writerSql().roomsCatchUp}`).all() as { detail: string }[]).map((p) => p.detail).join("; ");
    expect(plan).toMatch(/SEARCH messages USING INTEGER PRIMARY KEY \(rowid>\?\)/);
    expect(plan).not.toMatch(/SCAN messages/);
  });
});

describe("reading", () => {
  test("the page query is a range of the rooms_last_id index: no scan, no sort, whatever the table holds", () => {
    const store = open();
    const db = drizzle({ client: store.database });
    const select = db.select({ room: rooms.room, lastId: rooms.lastId, lastMessageAt: rooms.lastMessageAt }).from(rooms);
    for (const query of [select.orderBy(desc(rooms.lastId)).limit(100), select.where(lt(rooms.lastId, 5)).orderBy(desc(rooms.lastId)).limit(100)]) {
      const { sql: text, params } = query.toSQL();
      const plan = (store.database.query(`EXPLAIN QUERY PLAN ${text}`).all(...(params as never[])) as { detail: string }[]).map((p) => p.detail);
      expect(plan.join("; ")).toMatch(/USING INDEX rooms_last_id/);
      expect(plan.join("; ")).not.toMatch(/TEMP B-TREE|SCAN messages/);
    }
  });
});
