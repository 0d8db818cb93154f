// The embedded store: Drizzle on bun:sqlite, WAL. Three connections to one file: the writing one
// (writer.ts), where each append() is one transaction (the hub groups the messages of one
// event-loop turn into it) and resolves only after the commit; the reading one, for reads and
// migrations; both on the event loop, as neither ever waits for the disk. The third belongs to
// the checkpointer thread (checkpointer.ts), which takes every fsync. Retention deletes on the
// writing connection, in slices between the batches (prune()).
import { Database, type SQLQueryBindings, type Statement } from "bun:sqlite";
import { existsSync, writeFileSync } from "node:fs";
import { and, asc, desc, eq, gt, lt, lte, sql, type SQL } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Message } from "../../protocol/frames";
import type { AccessStore, Appended, Draft, MessageStore, PageQuery, RoomsQuery, StoredRoom } from "../../rooms/ports";
import type { RecentClientIdsOptions } from "../recent-client-ids";
import { storedMessage } from "../stored-message";
import { sqliteAccess, type AccessWrite } from "./access";
import { CHECKPOINTER, CheckpointerThread, type ThreadControl } from "./checkpointer-thread";
import { embeddedMigrations, emptyDatabase } from "./migrations" with { type: "macro" };
import { messages, rooms } from "./schema";
import { HELD_BACK, SerialWriter } from "./serial-writer";
import { walIndex } from "./wal-index";
import { DRAFT_FIELDS, type AppendReply, type DraftFields, type WriterSql } from "./wire";
import { openWriter, ROOMS_UPKEEP_MS } from "./writer";
import { writerSql } from "./writer-sql" with { type: "macro" };

const MIGRATIONS = embeddedMigrations();
const EMPTY_DATABASE = emptyDatabase();
const WRITER_SQL: WriterSql = writerSql();
/** The highest id stored or deleted by retention (0 on an empty database). */
const LAST_ID = WRITER_SQL.lastId;
const columns = { id: messages.id, room: messages.room, name: messages.name, message: messages.message, timestamp: messages.timestamp, userId: messages.userId };
/** A row of `columns`, in their order. */
type MessageValues = [id: number, room: string, name: string, message: string, timestamp: number, userId: string | null];
const messageOfValues = ([id, room, name, message, timestamp, userId]: MessageValues): Message => storedMessage(id, room, name, message, timestamp, userId);
/**
 * The pause after a retention slice (writer-sql.ts: 1,000 rows, 2-6 ms on the event loop) that
 * took `sliceMs`. A message that arrives during a slice waits for it, and which messages do is
 * the sweep's share of the event loop, whatever their rate. While messages are being stored, a
 * pause of 499 times the slice keeps that share at 0.2%: at 0.5%, slices still held a third of
 * the slowest 1% of deliveries. The sweep then yields to the load (500 rows a second measured
 * under 2,000 messages a second) and catches up when it drops: with none stored since the last
 * slice, 4 times (~60,000 rows a second), a join or a read waiting for at most a slice.
 */
export function sweepPause(sliceMs: number, messagesFlowing: boolean): number {
  return Math.min(2000, Math.max(messagesFlowing ? 40 : 2, sliceMs * (messagesFlowing ? 499 : 4)));
}
/** How long after opening the store the checkpointer thread starts. */
const CHECKPOINTER_START_MS = 200;

/** What a checkpoint found: frames in the WAL, and how many of them are now in the database. */
export type Checkpointed = { log: number; checkpointed: number };

export interface SqliteStoreOptions {
  /** Called after each commit with its size and duration (metrics). */
  onCommit?: (rows: number, ms: number) => void;
  /** How long and how many clientIds are remembered for retries (default: 10 minutes, 100,000). */
  clientIds?: RecentClientIdsOptions;
  /** The clock that rooms stamp messages by (default: Date.now): at open, the clientId window ends at it, as a retry's would. */
  now?: () => number;
  /** A file the checkpointer thread reads through once when it starts: the server's executable (see checkpointer.ts). */
  warm?: string;
}

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}) {
  // Reads, writes and checkpoints use three connections (one on a thread): they must share a file.
  if (path === ":memory:") throw new Error("the SQLite store needs a file: an in-memory database cannot be shared by the checkpointer thread");
  // A new database is a copy of one migrated at build time (see migrations.ts). Not fsynced: it
  // holds nothing yet.
  const created = !existsSync(path) && createEmpty(path);
  const client = new Database(path, { create: true, strict: true });
  // WAL + synchronous=NORMAL: a committed transaction survives kill -9 of the process (not a
  // power cut), which is what "acknowledged" promises. Reads never wait for a lock in WAL mode;
  // busy_timeout for the migrations.
  client.exec("PRAGMA synchronous = NORMAL; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
  const db = drizzle({ client });
  // Drizzle's migrator takes ~4 ms even when it has nothing to do: not run when its own record
  // says the last migration is applied already.
  if (!created && !migrated(client)) {
    migrate(db);
    // A migration may write much (0003 fills the rooms table from every message): checkpointed
    // now, at start-up, or the checkpointer would copy it all back while the writer commits.
    client.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  // The writer brings the rooms table up to date every ROOMS_UPKEEP_MS: a store that was killed
  // may have left the last messages uncounted.
  if (!created) client.run(WRITER_SQL.roomsCatchUp);

  const wantsWriteLock = new Int32Array(new SharedArrayBuffer(4));
  const writer = new SerialWriter(() => openWriter(path, options.clientIds ?? { windowMs: 10 * 60_000, max: 100_000 }, WRITER_SQL, options.now ?? Date.now), wantsWriteLock, walIndex(`${path}-shm`));
  // Started with the store, not by the first message: by then every file descriptor may be
  // taken (see CheckpointerThread). A moment after opening (or by the first write if sooner),
  // so that start-up's first answer does not share the cores with a starting thread (+2-3 ms
  // to the first 200 of /health when started on the first timer turn). If it cannot start or
  // dies, the next write tries again.
  const checkpointer = new CheckpointerThread(
    CHECKPOINTER,
    () => ({ op: "open", path, wantsWriteLock: wantsWriteLock.buffer as SharedArrayBuffer, warm: options.warm }),
    // A checkpointer that dies holding the write lock frees it (SQLite does); its flag too.
    () => Atomics.store(wantsWriteLock, 0, 0),
  );
  let closed = false;
  /** Batches appended since the store opened: whether messages flow, for the sweep's pace. */
  let appends = 0;
  // The writing connection opens then too, so that a message needs no new descriptor either.
  const starting = setTimeout(() => closed || (checkpointer.start(), writer.open()), CHECKPOINTER_START_MS);
  // Reads stop at the highest id the writer has handed back. A row committed by a batch that is
  // still waiting for the delivery of the one before it has not been delivered yet: a join that
  // read it would get it twice, in its history and then live. Ids are given in order, so one
  // number is the whole boundary.
  let visibleUpTo = (client.query(LAST_ID).get() as { seq: number } | null)?.seq ?? 0;

  // Drizzle writes the SQL; bun:sqlite runs it and hands back rows as arrays: half the cost of
  // Drizzle's own row mapping (~0.2 against ~0.45 ms for a page of 1000 rooms).
  type RoomRow = [room: string, lastId: number, lastMessageAt: number];
  let roomsPage: { first: Statement<RoomRow, [number]>; before: Statement<RoomRow, [number, number]> } | undefined;
  const roomsQuery = () => {
    const select = () => db.select({ room: rooms.room, lastId: rooms.lastId, lastMessageAt: rooms.lastMessageAt }).from(rooms);
    const limit = sql.placeholder("limit");
    return {
      first: client.prepare<RoomRow, [number]>(select().orderBy(desc(rooms.lastId)).limit(limit).toSQL().sql),
      before: client.prepare<RoomRow, [number, number]>(select().where(lt(rooms.lastId, sql.placeholder("before"))).orderBy(desc(rooms.lastId)).limit(limit).toSQL().sql),
    };
  };

  /**
   * A room's messages a page at a time (a join of a room not in memory, a resume, REST), each
   * variant written by Drizzle and prepared once: building and preparing the query at each call
   * was ~20% of a join's CPU when every join opened a new room, and its garbage ~15 KB a call.
   * Parameters: room, the highest visible id, then after and/or before, then the limit.
   */
  const pageQueries = () => {
    const select = (...range: SQL[]) => db.select(columns).from(messages).where(and(eq(messages.room, sql.placeholder("room")), lte(messages.id, sql.placeholder("upTo")), ...range));
    const [after, before, limit] = [gt(messages.id, sql.placeholder("after")), lt(messages.id, sql.placeholder("before")), sql.placeholder("limit")];
    const prepare = <P extends SQLQueryBindings[]>(query: { toSQL(): { sql: string } }) => client.prepare<unknown, P>(query.toSQL().sql);
    return {
      newest: prepare<[string, number, number]>(select().orderBy(desc(messages.id)).limit(limit)),
      before: prepare<[string, number, number, number]>(select(before).orderBy(desc(messages.id)).limit(limit)),
      after: prepare<[string, number, number, number]>(select(after).orderBy(asc(messages.id)).limit(limit)),
      between: prepare<[string, number, number, number, number]>(select(after, before).orderBy(asc(messages.id)).limit(limit)),
    };
  };
  let pages: ReturnType<typeof pageQueries> | undefined;

  /** The rooms the writer has not counted yet, written by a commit of their own. */
  const upkeepRooms = () => writer.run((w) => w.upkeepRooms());
  /** ROOMS_UPKEEP_MS after the first commit that left the rooms table behind. */
  let upkeepTimer: ReturnType<typeof setTimeout> | undefined;
  const upkeepSoon = () => {
    if (upkeepTimer) return;
    upkeepTimer = setTimeout(() => {
      upkeepTimer = undefined;
      if (!closed && writer.pendingRooms.size) upkeepRooms().catch(upkeepSoon);
    }, ROOMS_UPKEEP_MS);
    upkeepTimer.unref?.();
  };

  /**
   * Room settings and bans are written on the writing connection too: in call order with the
   * batches, and waiting for the write lock as they do (on a timer, never on the event loop).
   */
  const writeAccess: AccessWrite = (work) => {
    if (closed) return Promise.reject(new Error("store closed"));
    checkpointer.start();
    return writer.run((w) => work(w.access));
  };
  /** The batch as the writer takes it: DRAFT_FIELDS values a draft, one flat array. */
  const fieldsOf = (drafts: Draft[]): DraftFields => {
    const fields: DraftFields = new Array(drafts.length * DRAFT_FIELDS);
    for (let i = 0, at = 0; i < drafts.length; i++, at += DRAFT_FIELDS) {
      const d = drafts[i]!;
      fields[at] = d.room;
      fields[at + 1] = d.name;
      fields[at + 2] = d.message;
      fields[at + 3] = d.timestamp;
      fields[at + 4] = d.clientId ?? null;
      fields[at + 5] = d.userId ?? null;
    }
    return fields;
  };
  /** A committed batch's results, once its ids are visible to reads. */
  const appended = (drafts: Draft[], { results: reply, before }: AppendReply, started: number): Appended[] => {
    options.onCommit?.(drafts.length, performance.now() - started);
    if (writer.pendingRooms.size) upkeepSoon();
    const results: Appended[] = new Array(drafts.length);
    for (let i = 0; i < drafts.length; i++) {
      const r = reply[i]!;
      const d = drafts[i]!;
      if (typeof r === "number") {
        if (r > visibleUpTo) visibleUpTo = r;
        results[i] = { message: storedMessage(r, d.room, d.name, d.message, d.timestamp, d.userId), fresh: true, prev: before.get(d.room)! };
        before.set(d.room, r); // the next new row of the room follows this one
      } else results[i] = { message: r, fresh: false };
    }
    return results;
  };

  /** The sweep in progress: a prune() meanwhile joins it. */
  let sweep: { olderThan: number; done: Promise<number> } | undefined;
  /**
   * Retention's slices on the writing connection, in line with the batches: a message that
   * arrives during one waits for it (a few milliseconds), never for a lock or a timer. Each
   * slice reads the cutoff anew: a prune() that joined may have raised it.
   */
  const sweepSlices = async (current: { readonly olderThan: number }): Promise<number> => {
    let total = 0;
    let appendsSeen = appends;
    /** The highest id looked at under this cutoff: the next slice starts after it. */
    let after = 0;
    try {
      for (;;) {
        const olderThan = current.olderThan;
        let sliceMs = 0;
        const { deleted, upTo, done } = await writer.run((w) => {
          const started = performance.now();
          const slice = w.prune(olderThan, after);
          sliceMs = performance.now() - started;
          return slice;
        });
        total += deleted;
        const raised = current.olderThan !== olderThan; // by a prune() that joined meanwhile
        if (closed || (done && !raised)) return total;
        // A raised cutoff starts again from the oldest row: those looked at may have expired under it.
        after = raised ? 0 : upTo;
        if (done) continue;
        const flowing = appends !== appendsSeen;
        appendsSeen = appends;
        await new Promise((resolve) => setTimeout(resolve, sweepPause(sliceMs, flowing)));
        if (closed) return total; // else the next slice would open the writing connection again
      }
    } finally {
      // Here, not in a .finally() on the promise: a prune() in between would join a sweep that
      // has already ended.
      if (sweep === current) sweep = undefined;
    }
  };

  const api: MessageStore & AccessStore & {
    readonly path: string;
    readonly database: Database;
    readonly checkpointer: ThreadControl;
    execOnWriter(sql: string): Promise<void>;
    checkpoint(): Promise<Checkpointed>;
  } = {
    path,
    /** The reading connection, for operations (backups, inspection); not for app queries. */
    database: client,
    /** The checkpointer thread, for operations and fault-injection tests. */
    checkpointer,
    /** Runs SQL on the writing connection: operations and fault-injection tests (PRAGMAs). */
    async execOnWriter(statement) {
      await writer.run((w) => w.client.exec(statement));
    },

    /** A checkpoint now, on the checkpointer's connection, as it takes them every tick (operations, tests). */
    async checkpoint() {
      return (await checkpointer.request({ op: "checkpoint" })) as Checkpointed;
    },

    async append(drafts) {
      if (closed) throw new Error("store closed");
      appends++;
      const started = performance.now();
      checkpointer.start();
      const fields = fieldsOf(drafts);
      return appended(drafts, await writer.run((w) => w.append(fields)), started);
    },

    appendNow(drafts) {
      if (closed) throw new Error("store closed");
      appends++;
      const started = performance.now();
      checkpointer.start();
      const fields = fieldsOf(drafts);
      const reply = writer.runNow((w) => w.append(fields));
      return reply === HELD_BACK ? undefined : appended(drafts, reply, started);
    },

    async page(room, { before, after, limit }: PageQuery): Promise<Message[]> {
      pages ??= pageQueries();
      if (after !== undefined) {
        const rows = before === undefined ? pages.after.values(room, visibleUpTo, after, limit) : pages.between.values(room, visibleUpTo, after, before, limit);
        return (rows as MessageValues[]).map(messageOfValues);
      }
      const rows = before === undefined ? pages.newest.values(room, visibleUpTo, limit) : pages.before.values(room, visibleUpTo, before, limit);
      return (rows as MessageValues[]).reverse().map(messageOfValues);
    },

    async rooms({ before, limit }: RoomsQuery): Promise<StoredRoom[]> {
      // A range of the rooms_last_id index, newest first: it reads `limit` rows, however big the
      // database. The rooms the writer has not counted yet are newer than their rows: those rows
      // give way, so as many more are read.
      const pending = writer.pendingRooms;
      roomsPage ??= roomsQuery();
      const rows = (before === undefined ? roomsPage.first.values(limit + pending.size) : roomsPage.before.values(before, limit + pending.size)) as RoomRow[];
      const page: StoredRoom[] = [];
      for (const [room, lastId, lastMessageAt] of rows) if (!pending.has(room)) page.push({ room, lastId, lastMessageAt });
      if (!pending.size) return page;
      for (const [room, { lastId, lastMessageAt }] of pending) if (before === undefined || lastId < before) page.push({ room, lastId, lastMessageAt });
      return page.sort((a, b) => b.lastId - a.lastId).slice(0, limit);
    },

    prune(olderThan) {
      if (closed) return Promise.reject(new Error("store closed"));
      // One sweep at a time: a prune() while one runs (the hourly job meeting a long sweep)
      // raises its cutoff and shares its result, instead of a second loop doubling its share.
      if (sweep) {
        sweep.olderThan = Math.max(sweep.olderThan, olderThan);
        return sweep.done;
      }
      const current = { olderThan, done: Promise.resolve(0) };
      sweep = current;
      current.done = sweepSlices(current);
      return current.done;
    },

    ...sqliteAccess(client, db, writeAccess),

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(starting);
      clearTimeout(upkeepTimer);
      if (writer.pendingRooms.size) await upkeepRooms().catch(() => {}); // else the next open catches up
      await writer.close();
      await checkpointer.stop();
      client.close(); // the last connection: it checkpoints and removes the WAL
    },
  };
  return api;
}

/** Writes the empty database to a new file; false if someone else created the file meanwhile. */
function createEmpty(path: string): boolean {
  try {
    writeFileSync(path, Buffer.from(EMPTY_DATABASE, "base64"), { flag: "wx" });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** Whether the last migration is recorded: the test Drizzle's migrator applies (by its folder time). */
function migrated(client: Database): boolean {
  const last = MIGRATIONS.at(-1);
  if (!last) return true;
  try {
    const row = client.query("SELECT max(created_at) AS at FROM __drizzle_migrations").get() as { at: number | null } | null;
    return Number(row?.at) >= last.folderMillis;
  } catch {
    return false; // no table yet
  }
}

function migrate(db: ReturnType<typeof drizzle>) {
  // What drizzle-orm/bun-sqlite/migrator does, minus reading the folder at run time.
  (db as any).dialect.migrate(MIGRATIONS, (db as any).session, { migrationsFolder: "(embedded)" });
}
