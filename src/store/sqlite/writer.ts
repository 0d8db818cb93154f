// The store's writer, on a worker thread of its own: it owns the connection that inserts, the
// memory of recent clientIds, retention and the WAL checkpoints (and their fsyncs). The event
// loop only posts it batches and gets ids back (~1 us a message, against ~7 for storing them
// itself), and never waits on the disk. It imports no Drizzle: the SQL comes from the main
// thread (index.ts), written by Drizzle.
import { Database, type Statement } from "bun:sqlite";
import type { Message } from "../../protocol/frames";
import { RecentClientIds, type RecentClientIdsOptions } from "../recent-client-ids";
import { DRAFT_FIELDS, type AppendReply, type DraftFields, type WriterReply, type WriterRequest, type WriterSql } from "./wire";

const ROW_PARAMS = 6;

declare const self: Worker;

let writer: ReturnType<typeof openWriter> | undefined;
let openFailed: unknown; // why "open" failed: every later request is refused with it

self.onmessage = async ({ data: request }: MessageEvent<WriterRequest>) => {
  let reply: WriterReply;
  try {
    reply = { seq: request.seq, value: await handle(request) };
  } catch (error) {
    reply = { seq: request.seq, error: error instanceof Error ? error.message : String(error) };
  }
  postMessage(reply);
};

async function handle(request: WriterRequest): Promise<unknown> {
  if (request.op === "open") {
    try {
      writer = openWriter(request.path, request.clientIds, request.sql);
    } catch (error) {
      openFailed = error;
      throw error;
    }
    return null;
  }
  if (!writer) throw openFailed ?? new Error("writer not open");
  switch (request.op) {
    case "append":
      return writer.append(JSON.parse(request.drafts) as DraftFields);
    case "prune":
      return writer.prune(request.olderThan);
    case "exec":
      writer.client.exec(request.sql);
      return null;
    case "close":
      writer.client.close(); // then the main thread closes its own: the last one checkpoints and removes the WAL
      writer = undefined;
      return null;
  }
}

function openWriter(path: string, window: RecentClientIdsOptions, sql: WriterSql) {
  const client = new Database(path, { strict: true });
  client.exec("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  const inserts: Statement[] = [];
  const insertOf = (rows: number) => (inserts[rows] ??= client.prepare(sql.inserts[rows]!));
  const rowsPerInsert = sql.inserts.length - 1;
  const lastId = client.prepare<{ seq: number }, []>(sql.lastId);
  const byId = client.prepare<Message, [number]>(sql.byId);
  const roomStored = client.prepare<unknown, [string, number, number, number]>(sql.roomStored);
  const pruneChunk = client.prepare<{ room: string }, [number, number]>(sql.pruneChunk);
  const roomPruned = client.prepare<unknown, [number, string]>(sql.roomPruned);
  const roomEmptied = client.prepare<unknown, [string]>(sql.roomEmptied);

  const clientIds = new RecentClientIds(window);
  remember(client, sql.newestFirst, clientIds, window);

  /** One transaction: new rows get ids and are inserted; repeated clientIds get their stored message. */
  const commit = client.transaction((drafts: DraftFields) => {
    const count = drafts.length / DRAFT_FIELDS;
    let next = (lastId.get()?.seq ?? 0) + 1;
    const results: AppendReply = new Array(count);
    const params: (string | number | null)[] = []; // ROW_PARAMS per new row, in column order
    // clientId -> the last new draft of this batch with it: a retry can follow in the same batch.
    let batchClientIds: Map<string, number> | undefined;
    // The rooms table's upkeep: one upsert per room of the batch, not one per row.
    const roomsOfBatch = new Map<string, RoomUpkeep>();
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
      params.push(id, room, name, drafts[at + 2] as string, timestamp, clientId);
      results[i] = id;
      const upkeep = roomsOfBatch.get(room);
      if (upkeep) {
        upkeep.lastId = id;
        upkeep.lastMessageAt = timestamp;
        upkeep.added++;
      } else roomsOfBatch.set(room, { lastId: id, lastMessageAt: timestamp, added: 1 });
    }
    for (let at = 0; at < params.length; at += rowsPerInsert * ROW_PARAMS) {
      const chunk = params.slice(at, at + rowsPerInsert * ROW_PARAMS);
      insertOf(chunk.length / ROW_PARAMS).run(chunk as never);
    }
    for (const [room, { lastId, lastMessageAt, added }] of roomsOfBatch) roomStored.run(room, lastId, lastMessageAt, added);
    return results;
  });
  /** One chunk of retention: the oldest messages before the cutoff and their rooms' counts, together. */
  const pruneOneChunk = client.transaction((olderThan: number, limit: number): number => {
    const deleted = pruneChunk.all(olderThan, limit);
    const perRoom = new Map<string, number>();
    for (const { room } of deleted) perRoom.set(room, (perRoom.get(room) ?? 0) + 1);
    for (const [room, count] of perRoom) {
      roomPruned.run(count, room);
      roomEmptied.run(room);
    }
    return deleted.length;
  });
  /** A remembered id's message, unless retention deleted it meanwhile (then the retry is new). */
  const stored = (id: number | undefined) => (id === undefined ? undefined : (byId.get(id) ?? undefined));

  return {
    client,
    append(drafts: DraftFields): AppendReply {
      const results = commit.immediate(drafts);
      // Only now, after the commit: a rolled-back clientId must not be remembered.
      for (let i = 0, at = 0; i < results.length; i++, at += DRAFT_FIELDS) {
        const id = results[i];
        const clientId = drafts[at + 4] as string | null;
        if (typeof id === "number" && clientId !== null) clientIds.add(drafts[at] as string, drafts[at + 1] as string, clientId, id, drafts[at + 3] as number);
      }
      return results;
    },
    async prune(olderThan: number): Promise<number> {
      let total = 0;
      for (;;) {
        const changes = pruneOneChunk.immediate(olderThan, sql.pruneChunkSize);
        total += changes;
        if (changes < sql.pruneChunkSize) return total;
        await new Promise((resolve) => setImmediate(resolve)); // let appends through between chunks
      }
    },
  };
}

type RoomUpkeep = { lastId: number; lastMessageAt: number; added: number };

/**
 * The message a draft repeats within its own batch (same room, name and clientId as a new draft
 * before it), if any. `last` is the index of the last new draft with that clientId: nearly
 * always the match; the rare clientId reused by another room or name is searched for.
 */
function inBatch(drafts: DraftFields, results: AppendReply, last: number | undefined, room: string, name: string, clientId: string): Message | undefined {
  if (last === undefined) return undefined;
  for (let j = last; j >= 0; j--) {
    const at = j * DRAFT_FIELDS;
    const id = results[j];
    if (typeof id !== "number" || drafts[at + 4] !== clientId || drafts[at] !== room || drafts[at + 1] !== name) continue;
    return { id, room, name, message: drafts[at + 2] as string, timestamp: drafts[at + 3] as number };
  }
  return undefined;
}

/** Refills the clientId memory from the newest rows, back to the window (a restart loses nothing of it). */
function remember(client: Database, newestFirstSql: string, clientIds: RecentClientIds, { windowMs, max }: RecentClientIdsOptions) {
  type Row = { id: number; room: string; name: string; client_id: string | null; timestamp: number };
  const newestFirst = client.prepare<Row, []>(newestFirstSql);
  const found: Row[] = [];
  let oldest: number | undefined;
  for (const row of newestFirst.iterate()) {
    oldest ??= row.timestamp - windowMs;
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
