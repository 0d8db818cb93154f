// The store's writes, one at a time: append() batches commit in the order of the calls, and
// retention's chunks are queued among them. Batches that queued up while a transaction ran
// commit together in the next one (group commit at the store, on top of the hub's): a node's
// throughput then grows with its backlog instead of being one round trip per batch. Several
// nodes may write the same database at once; what keeps a room's ids in order across them is
// the room's lock, below.
import type { SQL, SQLArrayParameter } from "bun";
import { sql } from "drizzle-orm";
import type { BunSQLDatabase } from "drizzle-orm/bun-sql";
import type { Message } from "../../protocol/frames";
import type { Appended, Draft } from "../../rooms/ports";
import { storedMessage } from "../stored-message";
import { pgText } from "./text";
import { messages, rooms } from "./schema";

const PRUNE_CHUNK = 1000;
/** Queued batches are merged into one transaction up to this many rows (a bigger batch goes alone). */
const GROUP_ROWS = 4096;

export interface WriterOptions {
  /** A retry is matched if its original is at most this much older (ms). */
  clientIdWindowMs: number;
  /** Called for each batch once it is committed, before its append() resolves (metrics). */
  onCommit?: (rows: number, ms: number) => void;
}

/** Per room, the lowest id of the rows now committing: page() hides them until append() has resolved. */
export type InFlight = Map<string, number>;

type Job =
  | { kind: "append"; drafts: Draft[]; started: number; resolve(results: Appended[]): void; reject(error: unknown): void }
  | { kind: "prune"; olderThan: number; after: number; resolve(slice: PruneSlice): void; reject(error: unknown): void }
  | { kind: "idle"; resolve(): void };
type AppendJob = Extract<Job, { kind: "append" }>;

export class Writer {
  private readonly jobs: Job[] = [];
  private draining = false;
  readonly inFlight: InFlight = new Map();

  constructor(
    private readonly db: BunSQLDatabase,
    /** The client under db: its arrays are the parameters of a batch. */
    private readonly client: SQL,
    private readonly options: WriterOptions,
  ) {}

  append(drafts: Draft[]): Promise<Appended[]> {
    return new Promise((resolve, reject) => this.enqueue({ kind: "append", drafts, started: performance.now(), resolve, reject }));
  }

  /**
   * Deletes messages older than the cutoff, a slice of ids per transaction, appends queued between
   * slices. Done at the end of the table, or after a slice with none expired: ids follow time, so
   * the rest are younger (a message stamped before one stored ahead of it waits for a later prune).
   */
  async prune(olderThan: number): Promise<number> {
    let total = 0;
    for (let after = 0; ; ) {
      const slice = await new Promise<PruneSlice>((resolve, reject) => this.enqueue({ kind: "prune", olderThan, after, resolve, reject }));
      total += slice.deleted;
      if (slice.rows < PRUNE_CHUNK || slice.deleted === 0) return total;
      after = slice.upTo;
    }
  }

  /** Resolves once everything queued before it is done. */
  idle(): Promise<void> {
    return new Promise((resolve) => this.enqueue({ kind: "idle", resolve }));
  }

  private enqueue(job: Job) {
    this.jobs.push(job);
    if (this.draining) return;
    this.draining = true;
    void this.drain();
  }

  private async drain() {
    try {
      while (this.jobs.length) {
        const job = this.jobs[0]!;
        if (job.kind !== "append") {
          this.jobs.shift();
          if (job.kind === "idle") job.resolve();
          else await this.pruneSlice(job.olderThan, job.after).then(job.resolve, job.reject);
          continue;
        }
        const group: AppendJob[] = [];
        let rows = 0;
        for (let next = this.jobs[0]; next?.kind === "append" && (rows === 0 || rows + next.drafts.length <= GROUP_ROWS); next = this.jobs[0]) {
          group.push(this.jobs.shift() as AppendJob);
          rows += next.drafts.length;
        }
        await this.commitGroup(group);
      }
    } finally {
      this.draining = false;
    }
  }

  /** The group's batches in one transaction; if it fails, each alone, so that only a failing one fails. */
  private async commitGroup(group: AppendJob[]) {
    let committed: { results: Appended[]; hidden: string[] };
    try {
      committed = await this.commit(group.length === 1 ? group[0]!.drafts : group.flatMap((job) => job.drafts));
    } catch (error) {
      if (group.length === 1) group[0]!.reject(error);
      else for (const job of group) await this.commitGroup([job]);
      return;
    }
    let at = 0;
    for (const job of group) {
      const results = committed.results.slice(at, (at += job.drafts.length));
      this.options.onCommit?.(job.drafts.length, performance.now() - job.started);
      job.resolve(results);
    }
    // Resolved: the rows may be read from now on (what runs next, runs after the resolutions).
    for (const room of committed.hidden) this.inFlight.delete(room);
  }

  private async commit(sent: Draft[]): Promise<{ results: Appended[]; hidden: string[] }> {
    const drafts = sent.map(storable);
    const results: Appended[] = new Array(drafts.length);
    // Repeats within the batch are found here; the others are sent, and the database keeps
    // those whose clientId it stored within the window.
    const candidates: number[] = [];
    const repeats = new Map<number, number>(); // a draft repeating one before it in the batch -> that one
    const firstInBatch = new Map<string, number>();
    for (let i = 0; i < drafts.length; i++) {
      const d = drafts[i]!;
      if (d.clientId !== undefined) {
        const key = retryKey(d.room, d.name, d.clientId);
        const first = firstInBatch.get(key);
        if (first !== undefined) {
          repeats.set(i, first);
          continue;
        }
        firstInBatch.set(key, i);
      }
      candidates.push(i);
    }
    // PostgreSQL arrays, one per column: parsed ~4x faster than the same rows as JSON.
    const client = this.client;
    const column = <T>(value: (d: Draft) => T, type: "TEXT" | "INT8") => client.array(candidates.map((i) => value(drafts[i]!)), type);
    const roomNames = client.array([...new Set(drafts.map((d) => d.room))].sort(), "TEXT");
    const window = this.options.clientIdWindowMs;
    const rows: Columns = {
      room: column((d) => d.room, "TEXT"),
      name: column((d) => d.name, "TEXT"),
      message: column((d) => d.message, "TEXT"),
      timestamp: column((d) => d.timestamp, "INT8"),
      clientId: column((d) => d.clientId ?? null, "TEXT"),
      userId: column((d) => d.userId ?? null, "TEXT"),
      since: column((d) => d.timestamp - window, "INT8"),
    };

    const batch: Batch = { drafts, candidates, roomNames, rows, results, hidden: [] };
    try {
      await this.transaction(batch);
    } catch (error) {
      for (const room of batch.hidden) this.inFlight.delete(room); // nothing of it was committed
      throw error;
    }
    for (const [i, first] of repeats) results[i] = { message: results[first]!.message, fresh: false };
    return { results, hidden: batch.hidden };
  }

  /** The batch's transaction: fills `results` for its candidates. */
  private async transaction({ drafts, candidates, roomNames, rows, results, hidden }: Batch) {
    await this.db.transaction(async (tx) => {
      // Two statements sent together; the server runs the second once the first is done.
      // 1. The rooms' locks, in sorted order (two batches never wait on each other in a circle):
      // an upsert of each room's row, a placeholder if the room is new. A batch of another node
      // in one of these rooms waits here until this one commits, so it takes its ids after ours
      // and its rows become visible after ours: a room's ids appear in order.
      // It returns each room's newest id before this batch: the first new row's `prev`.
      const lock = tx.execute<{ room: string; last_id: string }>(sql`
        insert into ${rooms} (room, last_id, last_message_at, messages)
        select r, 0, 0, 0 from unnest(${roomNames}::text[]) as r order by r
        on conflict (room) do update set messages = ${rooms.messages}
        returning room, last_id`);
      // 2. The new rows, numbered by the sequence in the batch's order (ord), but those whose
      // clientId the room stored within the window: looked up under the lock, by a snapshot
      // taken after it, so no other node can store that clientId meanwhile. Then the rooms' rows.
      const insert = tx.execute<{ id: string; room: string; name: string; client_id: string | null }>(sql`
        with ins as (
          insert into ${messages} (room, name, message, timestamp, client_id, user_id)
          select t.room, t.name, t.message, t.timestamp, t.client_id, t.user_id
          from unnest(${rows.room}::text[], ${rows.name}::text[], ${rows.message}::text[], ${rows.timestamp}::int8[], ${rows.clientId}::text[], ${rows.userId}::text[], ${rows.since}::int8[])
            with ordinality as t(room, name, message, timestamp, client_id, user_id, since, ord)
          where t.client_id is null or not exists (
            select 1 from ${messages} m where m.room = t.room and m.name = t.name and m.client_id = t.client_id and m.timestamp >= t.since)
          order by t.ord
          returning id, room, name, timestamp, client_id
        ), per_room as (
          select room, max(id) as last_id, (array_agg(timestamp order by id desc))[1] as last_message_at, count(*) as added
          from ins group by room
        ), kept as (
          update ${rooms} set last_id = p.last_id, last_message_at = p.last_message_at, messages = ${rooms.messages} + p.added
          from per_room p where ${rooms.room} = p.room
        ), placeholders as (
          delete from ${rooms} where ${rooms.lastId} = 0 and ${rooms.room} = any(${roomNames}::text[])
            and ${rooms.room} not in (select room from per_room)
        )
        select id, room, name, client_id from ins`);
      const [locked, inserted] = await Promise.all([lock, insert]);
      const before = new Map(locked.map((r) => [r.room, Number(r.last_id)]));

      // Ids were given in `ord` order: sorted, they go to the stored drafts in batch order.
      const ids = inserted.map((r) => Number(r.id)).sort((a, b) => a - b);
      const storedKeys = new Set(inserted.flatMap((r) => (r.client_id === null ? [] : [retryKey(r.room, r.name, r.client_id)])));
      const retries: number[] = [];
      let next = 0;
      for (const i of candidates) {
        const d = drafts[i]!;
        if (d.clientId !== undefined && !storedKeys.has(retryKey(d.room, d.name, d.clientId))) {
          retries.push(i);
          continue;
        }
        const id = ids[next++]!;
        results[i] = { message: storedMessage(id, d.room, d.name, d.message, d.timestamp, d.userId), fresh: true, prev: before.get(d.room) ?? 0 };
        before.set(d.room, id);
        if (!this.inFlight.has(d.room)) {
          this.inFlight.set(d.room, id);
          hidden.push(d.room);
        }
      }
      if (next !== ids.length) throw new Error(`stored ${ids.length} rows, expected ${next}`);
      // 3. Only when a batch holds retries of earlier ones: their stored messages.
      if (retries.length) {
        const found = await this.storedRetries(tx, retries.map((i) => drafts[i]!));
        for (const i of retries) {
          const d = drafts[i]!;
          const message = found.get(retryKey(d.room, d.name, d.clientId!));
          if (!message) throw new Error("a retry's stored message vanished"); // cannot happen under the lock
          results[i] = { message, fresh: false };
        }
      }
    });
  }

  private async storedRetries(tx: Tx, drafts: Draft[]): Promise<Map<string, Message>> {
    const keys = drafts.filter((d) => d.clientId !== undefined).map((d) => ({ room: d.room, name: d.name, client_id: d.clientId, since: d.timestamp - this.options.clientIdWindowMs }));
    const found = new Map<string, Message>();
    if (keys.length === 0) return found;
    const rows = await tx.execute<{ id: string; room: string; name: string; message: string; timestamp: string; client_id: string; user_id: string | null }>(sql`
      select distinct on (m.room, m.name, m.client_id) m.id, m.room, m.name, m.message, m.timestamp, m.client_id, m.user_id
      from json_to_recordset(${JSON.stringify(keys)}::text::json) as k(room text, name text, client_id text, since bigint)
      join ${messages} m on m.room = k.room and m.name = k.name and m.client_id = k.client_id and m.timestamp >= k.since
      order by m.room, m.name, m.client_id, m.id desc`);
    for (const r of rows) found.set(retryKey(r.room, r.name, r.client_id), storedMessage(Number(r.id), r.room, r.name, r.message, Number(r.timestamp), r.user_id));
    return found;
  }

  /**
   * Of the next PRUNE_CHUNK rows past id `after`, deletes those older than the cutoff. A range of
   * ids, not "the oldest rows older than the cutoff": with fewer of those than a chunk left, that
   * read on to the end of the table, every hourly prune of a store with little to delete.
   */
  private async pruneSlice(olderThan: number, after: number): Promise<PruneSlice> {
    return this.db.transaction(async (tx) => {
      // SKIP LOCKED: two nodes pruning at once take different rows instead of waiting on each other.
      const [found] = await tx.execute<{ up_to: string; rows: string; per_room: { room: string; deleted: number }[] | string }>(sql`
        with slice as (
          select id, timestamp from ${messages} where id > ${after} order by id limit ${PRUNE_CHUNK} for update skip locked
        ), gone as (
          delete from ${messages} m using slice where m.id = slice.id and slice.timestamp < ${olderThan} returning m.room
        )
        select (select coalesce(max(id), ${after}) from slice) as up_to, (select count(*) from slice) as rows,
          (select coalesce(json_agg(g order by g.room), '[]') from (select room, count(*) as deleted from gone group by room) g) as per_room`);
      const slice = { upTo: Number(found!.up_to), rows: Number(found!.rows), deleted: 0 };
      const perRoom: { room: string; deleted: number }[] = typeof found!.per_room === "string" ? JSON.parse(found!.per_room) : found!.per_room;
      if (perRoom.length === 0) return slice;
      const counts = JSON.stringify(perRoom); // already { room, deleted } rows
      // The rooms' rows in sorted order, as appends lock them: no deadlock with a batch.
      await tx.execute(sql`select 1 from ${rooms} where ${rooms.room} in (select room from json_to_recordset(${counts}::text::json) as c(room text)) order by ${rooms.room} for update`);
      // Rows left without messages go, the others count down: two sets of rows, one statement.
      await tx.execute(sql`
        with c as (select * from json_to_recordset(${counts}::text::json) as c(room text, deleted bigint)),
        emptied as (delete from ${rooms} using c where ${rooms.room} = c.room and ${rooms.messages} <= c.deleted)
        update ${rooms} set messages = ${rooms.messages} - c.deleted from c where ${rooms.room} = c.room and ${rooms.messages} > c.deleted`);
      return { ...slice, deleted: perRoom.reduce((sum, r) => sum + r.deleted, 0) };
    });
  }
}

/** One retention slice: how many rows it read (up to id `upTo`) and how many of them it deleted. */
type PruneSlice = { upTo: number; rows: number; deleted: number };

interface Columns {
  room: SQLArrayParameter;
  name: SQLArrayParameter;
  message: SQLArrayParameter;
  timestamp: SQLArrayParameter;
  clientId: SQLArrayParameter;
  userId: SQLArrayParameter;
  /** Per row, the oldest time its clientId's original may have: the retry window. */
  since: SQLArrayParameter;
}

interface Batch {
  drafts: Draft[];
  /** Indexes of the drafts sent to the database: all but repeats within the batch. */
  candidates: number[];
  /** The batch's rooms, sorted (the order their locks are taken in). */
  roomNames: SQLArrayParameter;
  /** The candidates' rows, a column each. */
  rows: Columns;
  results: Appended[];
  /** Rooms whose entry in inFlight this batch set. */
  hidden: string[];
}

type Tx = Parameters<Parameters<BunSQLDatabase["transaction"]>[0]>[0];

/**
 * PostgreSQL's text cannot hold U+0000, which the protocol allows in a clientId (messages refuse
 * it, but the store takes any draft; a token's `sub` may hold it too): one such draft would fail
 * the whole batch, everyone's in it. It is stored as U+FFFD instead (and acknowledged as stored),
 * the one place where this store differs from SQLite's.
 */
function storable(draft: Draft): Draft {
  const { message, clientId, userId } = draft;
  if (!message.includes("\0") && !clientId?.includes("\0") && !userId?.includes("\0")) return draft;
  return { ...draft, message: pgText(message), clientId: clientId && pgText(clientId), userId: userId && pgText(userId) };
}

const retryKey = (room: string, name: string, clientId: string) => `${room.length}:${room}${name.length}:${name}${clientId}`;
