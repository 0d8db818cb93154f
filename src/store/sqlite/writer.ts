// The store's writer, on a worker thread of its own: it owns the connection that inserts, the
// memory of recent clientIds, retention and the WAL checkpoints (and their fsyncs). The event
// loop only posts it batches and gets ids back (~1 us a message, against ~7 for storing them
// itself), and never waits on the disk. It imports no Drizzle: the SQL comes from the main
// thread (index.ts), written by Drizzle.
import { Database, type Statement } from "bun:sqlite";
import type { Message } from "../../protocol/frames";
import type { Draft } from "../../rooms/ports";
import { RecentClientIds, type RecentClientIdsOptions } from "../recent-client-ids";

/** What the main thread asks; every request gets one WriterReply with the same `seq`. */
export type WriterRequest =
  | { op: "open"; seq: number; path: string; clientIds: RecentClientIdsOptions; sql: WriterSql }
  | { op: "append"; seq: number; drafts: string } // Draft[] as JSON: cheaper to post than a structured clone
  | { op: "prune"; seq: number; olderThan: number }
  | { op: "exec"; seq: number; sql: string }
  | { op: "close"; seq: number };

export type WriterReply = { seq: number; error: string } | { seq: number; value: unknown };

/** Per draft: the id of its new row, or (a repeated clientId) the message stored before. */
export type AppendReply = (number | Message)[];

export interface WriterSql {
  /** INSERT of 1..rowsPerInsert rows (id, room, name, message, timestamp, client_id): index = rows. */
  inserts: string[];
  /** The last id AUTOINCREMENT gave, if any: ids are given here from it, so one statement can insert many rows. */
  lastId: string;
  /** A message by id (?). */
  byId: string;
  /** Newest first: id, room, name, client_id, timestamp (to refill the clientId memory). */
  newestFirst: string;
  /** Deletes the oldest messages older than ?, at most ? of them. */
  pruneChunk: string;
  pruneChunkSize: number;
}

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
      return writer.append(JSON.parse(request.drafts) as Draft[]);
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
  const pruneChunk = client.prepare<unknown, [number, number]>(sql.pruneChunk);

  const clientIds = new RecentClientIds(window);
  remember(client, sql.newestFirst, clientIds, window);

  /** One transaction: new rows get ids and are inserted; repeated clientIds get their stored message. */
  const commit = client.transaction((drafts: Draft[]) => {
    let next = (lastId.get()?.seq ?? 0) + 1;
    const results: AppendReply = new Array(drafts.length);
    const params: (string | number | null)[] = []; // ROW_PARAMS per new row, in column order
    const newClientIds = new Map<string, Message[]>(); // remembered only after the commit
    for (let i = 0; i < drafts.length; i++) {
      const d = drafts[i]!;
      const clientId = d.clientId;
      if (clientId !== undefined) {
        const earlier = newClientIds.get(clientId)?.find((m) => m.room === d.room && m.name === d.name) ?? stored(clientIds.get(d.room, d.name, clientId, d.timestamp));
        if (earlier) {
          results[i] = earlier;
          continue;
        }
      }
      const id = next++;
      params.push(id, d.room, d.name, d.message, d.timestamp, clientId ?? null);
      results[i] = id;
      if (clientId !== undefined) {
        const message = { id, room: d.room, name: d.name, message: d.message, timestamp: d.timestamp };
        const same = newClientIds.get(clientId);
        if (same) same.push(message);
        else newClientIds.set(clientId, [message]);
      }
    }
    for (let at = 0; at < params.length; at += rowsPerInsert * ROW_PARAMS) {
      const chunk = params.slice(at, at + rowsPerInsert * ROW_PARAMS);
      insertOf(chunk.length / ROW_PARAMS).run(chunk as never);
    }
    return { results, newClientIds };
  });
  /** A remembered id's message, unless retention deleted it meanwhile (then the retry is new). */
  const stored = (id: number | undefined) => (id === undefined ? undefined : (byId.get(id) ?? undefined));

  return {
    client,
    append(drafts: Draft[]): AppendReply {
      const { results, newClientIds } = commit.immediate(drafts);
      // Only now, after the commit: a rolled-back clientId must not be remembered.
      for (const [clientId, messages] of newClientIds) for (const m of messages) clientIds.add(m.room, m.name, clientId, m.id, m.timestamp);
      return results;
    },
    async prune(olderThan: number): Promise<number> {
      let total = 0;
      for (;;) {
        const { changes } = pruneChunk.run(olderThan, sql.pruneChunkSize);
        total += changes;
        if (changes < sql.pruneChunkSize) return total;
        await new Promise((resolve) => setImmediate(resolve)); // let appends through between chunks
      }
    },
  };
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
