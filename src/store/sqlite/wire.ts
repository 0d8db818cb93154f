// What index.ts hands the writer (writer.ts) and says to the checkpointer thread
// (checkpointer.ts). Its own module, so that the main thread never loads the worker's entry point.
import type { Message } from "../../protocol/frames";

/**
 * The drafts of a batch, flattened: room, name, message, timestamp, clientId (or null), userId (or
 * null) for each, in order. Flat: no object per row to build and walk.
 */
export type DraftFields = (string | number | null)[];
export const DRAFT_FIELDS = 6;

/**
 * Per draft: the id of its new row, or (a repeated clientId) the message stored before; and per
 * room that got new rows, its newest id before the batch (the first new row's `prev`).
 */
export interface AppendReply {
  results: (number | Message)[];
  /** A Map, not an object: a room may be named `__proto__`. */
  before: Map<string, number>;
}

export interface WriterSql {
  /** INSERT of 1..rowsPerInsert rows (id, room, name, message, timestamp, client_id, user_id): index = rows. */
  inserts: string[];
  /** The highest id stored or deleted (`seq`): the writer gives the next ids from it, so one statement can insert many rows. */
  lastId: string;
  /** Raises the floor of ids (?) to the highest one retention deleted. */
  idFloor: string;
  /** A message by id (?): id, room, name, message, timestamp, user_id. */
  byId: string;
  /** Newest first: id, room, name, client_id, timestamp (to refill the clientId memory). */
  newestFirst: string;
  /** Counts in the rooms table the messages stored after its newest id (run when the store opens). */
  roomsCatchUp: string;
  /** A room's newest id (?), from its row in the rooms table. */
  roomLastId: string;
  /** Upserts a room's row (room, lastId, lastMessageAt, messages added since its last upsert). */
  roomStored: string;
  /** The next ? rows past id ?, as the highest id among them (`upTo`, null if none) and how many (`rows`). */
  pruneRange: string;
  /** Deletes the messages with an id past ? and up to ?, older than ?, returning each one's id and room. */
  pruneChunk: string;
  pruneChunkSize: number;
  /** Takes ? deleted messages off room ?'s count. */
  roomPruned: string;
  /** Deletes room ?'s row if it has no message left. */
  roomEmptied: string;
  access: AccessWriterSql;
}

/** The writer's statements for room settings and bans (see access-writer.ts). */
export interface AccessWriterSql {
  /** A room's settings row (room): private, title. */
  settingsOf: string;
  /** Upserts a room's whole settings row (room, private, title). */
  settingsPut: string;
  /** Upserts a ban, replacing the user's earlier one in the room (room, user_id, reason, until, created_at). */
  banPut: string;
  /** Deletes the room's bans that ended (room, now). */
  bansEnded: string;
  /** Deletes a ban (room, user_id). */
  banDelete: string;
}

/** What the main thread asks the checkpointer (checkpointer.ts); one CheckpointerReply each, same `seq`. */
export type CheckpointerRequest =
  /** wantsWriteLock: one Int32, 1 while the checkpointer waits for or holds the write lock (the writer then holds back). */
  /** warm: a file to read through once, into the page cache (the server's executable). */
  | { op: "open"; seq: number; path: string; wantsWriteLock: SharedArrayBuffer; warm?: string }
  | { op: "checkpoint"; seq: number }
  | { op: "close"; seq: number };

export type CheckpointerReply = { seq: number; error: string } | { seq: number; value: unknown };
