// The store's writing connection: batches of messages, the memory of recent clientIds, and the
// writes of room settings and bans (access-writer.ts). It runs on the event loop (index.ts): a
// commit in WAL mode with synchronous=NORMAL writes to the page cache and never fsyncs; every
// fsync (checkpoints) belongs to the checkpointer, on a thread of its own (checkpointer.ts).
// Retention deletes here too, in slices between the batches (index.ts). It imports no Drizzle:
// its SQL was written by Drizzle at build time (writer-sql.ts).
import { Database, type Statement } from "bun:sqlite";
import type { Message } from "../../protocol/frames";
import { RecentClientIds, type RecentClientIdsOptions } from "../recent-client-ids";
import { storedMessage } from "../stored-message";
import { accessWrites, type AccessWrites } from "./access-writer";
import { DRAFT_FIELDS, type AppendReply, type DraftFields, type WriterSql } from "./wire";

const ROW_PARAMS = 7;
/**
 * The rooms table is brought up to date this long after a commit left it behind, by a commit of
 * its own (one upsert per room changed since: index.ts), not by every commit: a room's row and
 * its rooms_last_id entry cost two or three pages of WAL per commit, more than the message itself
 * (at 2,000 messages a second a commit holds one or two). Meanwhile the changes wait in
 * `pendingRooms`, which reads of the rooms list merge (index.ts); a store that was killed catches
 * up when it opens again.
 */
export const ROOMS_UPKEEP_MS = 100;

export type Writer = ReturnType<typeof openWriter>;

export function openWriter(path: string, window: RecentClientIdsOptions, sql: WriterSql, now: () => number) {
  const client = new Database(path, { strict: true });
  // wal_autocheckpoint=0: never checkpoints, so no commit waits for a checkpoint's fsyncs (the
  // checkpointer takes them, and cuts the WAL file down). busy_timeout=0: SQLite's busy handler
  // would sleep on the event loop while the checkpointer holds the write lock; index.ts waits
  // on a timer instead. temp_store=MEMORY: a statement journal (a multi-row INSERT of a big batch
  // needs one) would otherwise spill past 64 KiB into a new file in /var/tmp, on the event loop.
  client.exec("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 0; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY;");
  const inserts: Statement[] = [];
  const insertOf = (rows: number) => (inserts[rows] ??= client.prepare(sql.inserts[rows]!));
  const rowsPerInsert = sql.inserts.length - 1;
  // The writer is the only one to insert: it counts ids itself (AUTOINCREMENT would cost every
  // commit a page of WAL for sqlite_sequence), from the highest stored or ever deleted.
  let lastGiven = client.query<{ seq: number }, []>(sql.lastId).get()?.seq ?? 0;
  const idFloor = client.prepare<unknown, [number]>(sql.idFloor);
  const byId = client.prepare<Message & { user_id: string | null }, [number]>(sql.byId);
  const roomLastId = client.prepare<{ last_id: number }, [string]>(sql.roomLastId);
  const roomStored = client.prepare<unknown, [string, number, number, number]>(sql.roomStored);
  const pruneRange = client.prepare<{ upTo: number | null; rows: number }, [number, number]>(sql.pruneRange);
  const pruneChunk = client.prepare<{ id: number; room: string }, [number, number, number]>(sql.pruneChunk);
  const roomPruned = client.prepare<unknown, [number, string]>(sql.roomPruned);
  const roomEmptied = client.prepare<unknown, [string]>(sql.roomEmptied);

  const clientIds = new RecentClientIds(window);
  remember(client, sql.newestFirst, clientIds, window, now());

  /** Rooms whose messages the rooms table does not count yet: what changed since the last upkeep. */
  const pendingRooms = new Map<string, RoomUpkeep>();
  const writePendingRooms = () => {
    for (const [room, { lastId, lastMessageAt, added }] of pendingRooms) roomStored.run(room, lastId, lastMessageAt, added);
  };
  const upkeep = client.transaction(writePendingRooms);
  /** Only after a commit: what a rolled-back batch changed must not be counted. */
  const committed = (batchRooms: Map<string, RoomUpkeep>) => {
    for (const [room, batch] of batchRooms) {
      const pending = pendingRooms.get(room);
      if (!pending) pendingRooms.set(room, batch);
      else {
        pending.lastId = batch.lastId;
        pending.lastMessageAt = batch.lastMessageAt;
        pending.added += batch.added;
      }
    }
  };

  /**
   * One slice of retention: of the next sql.pruneChunkSize rows past id `after`, those older than
   * the cutoff, and their rooms' counts, in one transaction. The rows count every message first
   * (the pending rooms), so that what is taken off is taken off a full count.
   */
  const pruneSlice = client.transaction((olderThan: number, after: number) => {
    writePendingRooms();
    const { upTo, rows } = pruneRange.get(after, sql.pruneChunkSize)!;
    const deleted = upTo === null ? [] : pruneChunk.all(after, upTo, olderThan);
    const perRoom = new Map<string, number>();
    let highest = 0;
    for (const { id, room } of deleted) {
      perRoom.set(room, (perRoom.get(room) ?? 0) + 1);
      if (id > highest) highest = id;
    }
    // A deleted id is never given again, even if it was the newest (every message expired).
    if (highest) idFloor.run(highest);
    for (const [room, count] of perRoom) {
      roomPruned.run(count, room);
      roomEmptied.run(room);
    }
    return { deleted: deleted.length, upTo: upTo ?? after, rows };
  });

  /** One transaction: new rows get ids and are inserted; repeated clientIds get their stored message. */
  const commit = client.transaction((drafts: DraftFields) => {
    const count = drafts.length / DRAFT_FIELDS;
    let next = lastGiven + 1;
    const results: AppendReply["results"] = new Array(count);
    const params: (string | number | null)[] = []; // ROW_PARAMS per new row, in column order
    // clientId -> the last new draft of this batch with it: a retry can follow in the same batch.
    let batchClientIds: Map<string, number> | undefined;
    // The rooms table's upkeep: one upsert per room of the batch, not one per row.
    const roomsOfBatch = new Map<string, RoomUpkeep>();
    const before: AppendReply["before"] = new Map();
    for (let i = 0, at = 0; i < count; i++, at += DRAFT_FIELDS) {
      const room = drafts[at] as string;
      const name = drafts[at + 1] as string;
      const clientId = drafts[at + 4] as string | null;
      const timestamp = drafts[at + 3] as number;
      if (clientId !== null) {
        const earlier = inBatch(drafts, results, batchClientIds?.get(clientId), room, name, clientId) ?? stored(clientIds.get(room, name, clientId, timestamp));
        if (earlier) {
          results[i] = earlier;
          continue;
        }
        (batchClientIds ??= new Map()).set(clientId, i);
      }
      const id = next++;
      params.push(id, room, name, drafts[at + 2] as string, timestamp, clientId, drafts[at + 5] as string | null);
      results[i] = id;
      const upkeep = roomsOfBatch.get(room);
      if (upkeep) {
        upkeep.lastId = id;
        upkeep.lastMessageAt = timestamp;
        upkeep.added++;
      } else {
        // The room's newest id before the batch (its first row's prev): pending, or in its row.
        before.set(room, pendingRooms.get(room)?.lastId ?? roomLastId.get(room)?.last_id ?? 0);
        roomsOfBatch.set(room, { lastId: id, lastMessageAt: timestamp, added: 1 });
      }
    }
    for (let at = 0; at < params.length; at += rowsPerInsert * ROW_PARAMS) {
      const chunk = params.length <= rowsPerInsert * ROW_PARAMS ? params : params.slice(at, at + rowsPerInsert * ROW_PARAMS);
      insertOf(chunk.length / ROW_PARAMS).run(chunk as never);
    }
    return { results, before, roomsOfBatch, last: next - 1 };
  });
  /** A remembered id's message, unless retention deleted it meanwhile (then the retry is new). */
  const stored = (id: number | undefined) => {
    const row = id === undefined ? null : byId.get(id);
    return row && storedMessage(row.id, row.room, row.name, row.message, row.timestamp, row.user_id);
  };

  let access: AccessWrites | undefined;

  return {
    client,
    /** Prepared on first use, not at open (on the event loop): most servers never configure a room. */
    get access(): AccessWrites {
      return (access ??= accessWrites(client, sql.access));
    },
    /** The rooms whose rows are behind (not counted yet), with what they are behind by. */
    pendingRooms: pendingRooms as ReadonlyMap<string, Readonly<RoomUpkeep>>,
    /** Brings the rooms table up to date now (the store going idle, or closing). */
    upkeepRooms() {
      if (!pendingRooms.size) return;
      upkeep.immediate();
      pendingRooms.clear();
    },
    /**
     * Deletes the expired messages of one slice of ids past `after` (0: from the oldest); the next
     * slice starts after `upTo`. Done at the end of the table, or after a slice with none expired:
     * ids follow time, so the rest are younger. (A message stamped before one stored ahead of it,
     * the clock set back, waits until the rows of a slice ahead of it have expired too.)
     */
    prune(olderThan: number, after: number): { deleted: number; upTo: number; done: boolean } {
      const { deleted, upTo, rows } = pruneSlice.immediate(olderThan, after);
      pendingRooms.clear();
      return { deleted, upTo, done: rows < sql.pruneChunkSize || deleted === 0 };
    },
    append(drafts: DraftFields): AppendReply {
      const { results, before, roomsOfBatch, last } = commit.immediate(drafts);
      lastGiven = last; // only now: a rolled-back batch gave no ids
      committed(roomsOfBatch);
      const reply: AppendReply = { results, before };
      // Only now, after the commit: a rolled-back clientId must not be remembered.
      for (let i = 0, at = 0; i < results.length; i++, at += DRAFT_FIELDS) {
        const id = results[i];
        const clientId = drafts[at + 4] as string | null;
        if (typeof id === "number" && clientId !== null) clientIds.add(drafts[at] as string, drafts[at + 1] as string, clientId, id, drafts[at + 3] as number);
      }
      return reply;
    },
  };
}

export type RoomUpkeep = { lastId: number; lastMessageAt: number; added: number };

/**
 * The message a draft repeats within its own batch (same room, name and clientId as a new draft
 * before it), if any. `last` is the index of the last new draft with that clientId: nearly
 * always the match; the rare clientId reused by another room or name is searched for.
 */
function inBatch(drafts: DraftFields, results: AppendReply["results"], last: number | undefined, room: string, name: string, clientId: string): Message | undefined {
  if (last === undefined) return undefined;
  for (let j = last; j >= 0; j--) {
    const at = j * DRAFT_FIELDS;
    const id = results[j];
    if (typeof id !== "number" || drafts[at + 4] !== clientId || drafts[at] !== room || drafts[at + 1] !== name) continue;
    return storedMessage(id, room, name, drafts[at + 2] as string, drafts[at + 3] as number, drafts[at + 5] as string | null);
  }
  return undefined;
}

/**
 * Refills the clientId memory from the newest rows, back to the window (a restart loses nothing of
 * it). The window ends now, as a retry's does: counted back from the newest row instead, a store
 * reopened after a quiet spell read every row of that row's last ten minutes, none of which a
 * retry could still match (600,000 rows of the sweep bench's file: 175-225 ms on the event loop).
 */
function remember(client: Database, newestFirstSql: string, clientIds: RecentClientIds, { windowMs, max }: RecentClientIdsOptions, now: number) {
  type Row = { id: number; room: string; name: string; client_id: string | null; timestamp: number };
  const newestFirst = client.prepare<Row, []>(newestFirstSql);
  const found: Row[] = [];
  let oldest: number | undefined;
  for (const row of newestFirst.iterate()) {
    // The newest row's time if the clock is behind it (set back): rooms stamp past their last message.
    oldest ??= Math.max(row.timestamp, now) - windowMs;
    if (row.timestamp < oldest) break;
    if (row.client_id === null) continue;
    found.push(row);
    if (found.length >= max) break;
  }
  newestFirst.finalize();
  for (let i = found.length - 1; i >= 0; i--) {
    const row = found[i]!;
    clientIds.add(row.room, row.name, row.client_id!, row.id, row.timestamp);
  }
}
