// A Bun macro (imported `with { type: "macro" }`): the SQL of the writer and of the checkpointer's
// retention, written by Drizzle when the code is bundled: Drizzle's cold query builders cost
// ~7-10 ms at run time.
import { Database } from "bun:sqlite";
import { and, desc, eq, gt, lt, lte, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { accessWriterSql } from "./access-sql";
import { messages, rooms } from "./schema";
import type { WriterSql } from "./wire";

/** Rows per INSERT statement: one statement per 32 rows costs ~20% less per row than one each. */
const ROWS_PER_INSERT = 32;
/**
 * Rows retention deletes per transaction, on the event loop: 2.2-2.7 ms on a 1M-row file in
 * isolation (2-6 ms in a busy server), against 0.95 for 200. A slice writes each page it touches
 * to the WAL once, and the oldest rows of R rooms sit on R pages of the room index: over 50 rooms,
 * 200 rows wrote 65 pages and 1,000 wrote 100 (0.1 a row instead of 0.33), and the slice's cost
 * per row halves (2.2 against 4.75 us). Fewer, longer slices: the sweep's pace (index.ts) keeps a
 * message's odds of meeting one below 1 in 200.
 */
const PRUNE_CHUNK = 1000;

export function writerSql(): WriterSql {
  const db = drizzle({ client: new Database(":memory:") });
  // Drizzle writes the one-row INSERT; the n-row ones repeat its VALUES tuple.
  const insertOne = db.insert(messages).values({ id: 0, room: "", name: "", message: "", timestamp: 0, clientId: null, userId: null }).toSQL().sql;
  const [intoColumns, tuple] = insertOne.split(" values ") as [string, string];
  const p = sql.placeholder;
  return {
    inserts: Array.from({ length: ROWS_PER_INSERT + 1 }, (_, rows) => (rows === 0 ? "" : `${intoColumns} values ${Array(rows).fill(tuple).join(", ")}`)),
    // The highest id stored or ever deleted by retention: max(id) is the rowid b-tree's last entry.
    lastId: "SELECT max(coalesce((SELECT max(id) FROM messages), 0), coalesce((SELECT value FROM store_meta WHERE key = 'id_floor'), 0)) AS seq",
    idFloor: "INSERT INTO store_meta (key, value) VALUES ('id_floor', ?) ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)",
    byId: db
      .select({ id: messages.id, room: messages.room, name: messages.name, message: messages.message, timestamp: messages.timestamp, user_id: messages.userId })
      .from(messages)
      .where(eq(messages.id, p("id")))
      .toSQL().sql,
    newestFirst: db
      .select({ id: messages.id, room: messages.room, name: messages.name, client_id: messages.clientId, timestamp: messages.timestamp })
      .from(messages)
      .orderBy(desc(messages.id))
      .toSQL().sql,
    // "WHERE id > ..." reads only the rows past the rooms table's newest id: the messages that
    // came after the last upkeep (a store killed between two); `timestamp` is max(id)'s row's.
    // NOT INDEXED: to skip the sort for GROUP BY, SQLite chose to walk the whole room index and
    // test each id (55 ms at every start on a 1M-row file, growing with it); without the index,
    // it takes the rowid range, and sorts what it found: nearly always nothing.
    roomsCatchUp: `INSERT INTO rooms (room, last_id, last_message_at, messages)
      SELECT room, max(id), timestamp, count(*) FROM messages NOT INDEXED WHERE id > (SELECT coalesce(max(last_id), 0) FROM rooms) GROUP BY room
      ON CONFLICT (room) DO UPDATE SET last_id = excluded.last_id, last_message_at = excluded.last_message_at, messages = rooms.messages + excluded.messages`,
    roomLastId: db.select({ lastId: rooms.lastId }).from(rooms).where(eq(rooms.room, p("room"))).toSQL().sql,
    roomStored: db
      .insert(rooms)
      .values({ room: p("room"), lastId: p("lastId"), lastMessageAt: p("lastMessageAt"), messages: p("messages") })
      .onConflictDoUpdate({
        target: rooms.room,
        set: { lastId: sql`excluded.last_id`, lastMessageAt: sql`excluded.last_message_at`, messages: sql`${rooms.messages} + excluded.messages` },
      })
      .toSQL().sql,
    // A slice is a range of ids: the next `limit` rows past the last one looked at (ids follow
    // time), and of them the expired. "The oldest `limit` rows older than the cutoff" read on past
    // the last expired row to the end of the table: every prune with little left to delete read
    // every row on the event loop (75-83 ms on a 1M-row file).
    pruneRange: "SELECT max(id) AS upTo, count(*) AS rows FROM (SELECT id FROM messages WHERE id > ? ORDER BY id LIMIT ?)",
    pruneChunk: db
      .delete(messages)
      .where(and(gt(messages.id, p("after")), lte(messages.id, p("upTo")), lt(messages.timestamp, p("olderThan"))))
      .returning({ id: messages.id, room: messages.room })
      .toSQL().sql,
    pruneChunkSize: PRUNE_CHUNK,
    roomPruned: db
      .update(rooms)
      .set({ messages: sql`${rooms.messages} - ${p("deleted")}` })
      .where(eq(rooms.room, p("room")))
      .toSQL().sql,
    roomEmptied: db
      .delete(rooms)
      .where(sql`${rooms.room} = ${p("room")} and ${rooms.messages} <= 0`)
      .toSQL().sql,
    access: accessWriterSql(db),
  };
}
