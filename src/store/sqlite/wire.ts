// What the main thread and the writer thread (writer.ts) say to each other. Its own module, so
// that the main thread never loads the worker's entry point.
import type { Message } from "../../protocol/frames";
import type { RecentClientIdsOptions } from "../recent-client-ids";

/** What the main thread asks; every request gets one WriterReply with the same `seq`. */
export type WriterRequest =
  | { op: "open"; seq: number; path: string; clientIds: RecentClientIdsOptions; sql: WriterSql }
  | { op: "append"; seq: number; drafts: string } // DraftFields as JSON: cheaper to post than a structured clone
  | { op: "prune"; seq: number; olderThan: number }
  | { op: "exec"; seq: number; sql: string }
  | { op: "close"; seq: number };

export type WriterReply = { seq: number; error: string } | { seq: number; value: unknown };

/**
 * The drafts of a batch, flattened: room, name, message, timestamp, clientId (or null) for each,
 * in order. Flat, because the batch crosses threads as JSON: no keys to write and parse per row.
 */
export type DraftFields = (string | number | null)[];
export const DRAFT_FIELDS = 5;

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
  /** Upserts a room's row after a batch (room, lastId, lastMessageAt, messages added). */
  roomStored: string;
  /** Deletes the oldest messages older than ?, at most ? of them, returning each one's room. */
  pruneChunk: string;
  pruneChunkSize: number;
  /** Takes ? deleted messages off room ?'s count. */
  roomPruned: string;
  /** Deletes room ?'s row if it has no message left. */
  roomEmptied: string;
}
