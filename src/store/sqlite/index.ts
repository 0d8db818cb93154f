// The embedded store: Drizzle on bun:sqlite, WAL. Three connections to one file: the writing one
// (writer.ts), where each append() is one transaction (the hub groups the messages of one
// event-loop turn into it) and resolves only after the commit; the reading one, for reads and
// migrations; both on the event loop, as neither ever waits for the disk. The third belongs to
// the checkpointer thread (checkpointer.ts), which takes every fsync and retention sweep.
import { Database, type Statement } from "bun:sqlite";
import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { and, asc, desc, eq, gt, lt, lte, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Message } from "../../protocol/frames";
import type { AccessStore, Appended, MessageStore, PageQuery, RoomsQuery, StoredRoom } from "../../rooms/ports";
import type { RecentClientIdsOptions } from "../recent-client-ids";
import { messageOfRow, storedMessage } from "../stored-message";
import { sqliteAccess, type AccessWrite } from "./access";
import { embeddedMigrations, emptyDatabase } from "./migrations" with { type: "macro" };
import { messages, rooms } from "./schema";
import { walIndex } from "./wal-index";
import { DRAFT_FIELDS, type AppendReply, type CheckpointerReply, type CheckpointerRequest, type DraftFields, type WriterSql } from "./wire";
import { openWriter, type Writer } from "./writer";
import { writerSql } from "./writer-sql" with { type: "macro" };

const MIGRATIONS = embeddedMigrations();
const EMPTY_DATABASE = emptyDatabase();
const WRITER_SQL: WriterSql = writerSql();
/** The last id AUTOINCREMENT gave (null on an empty database). */
const LAST_ID = WRITER_SQL.lastId;
const columns = { id: messages.id, room: messages.room, name: messages.name, message: messages.message, timestamp: messages.timestamp, userId: messages.userId };
// From source, the worker is beside this file. In the compiled binary every module's
// import.meta.url is the binary itself, and the worker (an extra entry point of the build, see
// package.json) sits where it sat below src/.
const CHECKPOINTER = import.meta.url.includes("/$bunfs/") ? new URL("./store/sqlite/checkpointer.ts", import.meta.url) : new URL("./checkpointer.ts", import.meta.url);
/** How long after opening the store the checkpointer thread starts. */
const CHECKPOINTER_START_MS = 200;
/** How long a commit waits for the write lock (held by a checkpoint that starts the WAL over, or a retention chunk). */
const WRITE_LOCK_TIMEOUT_MS = 5000;
/**
 * The WAL's hard bound. The checkpointer starts the WAL over past 32 MiB (see checkpointer.ts),
 * but a thread that has not started yet, or gets no CPU on a loaded machine, cannot: a writer at
 * full speed once wrote 77 MB before the checkpointer's first tick. Past this bound a commit
 * waits (on a timer, like for the write lock) until a checkpoint has caught up, so that it
 * starts the WAL over instead of growing it.
 */
const WAL_HARD_BOUND_BYTES = 48 << 20;
/** A checkpointer that has not caught up by then is not coming (dead, or not started): the writer checkpoints itself. */
const WAL_WAIT_MS = 500;

/** What a checkpoint found: frames in the WAL, and how many of them are now in the database. */
export type Checkpointed = { log: number; checkpointed: number };

export interface SqliteStoreOptions {
  /** Called after each commit with its size and duration (metrics). */
  onCommit?: (rows: number, ms: number) => void;
  /** How long and how many clientIds are remembered for retries (default: 10 minutes, 100,000). */
  clientIds?: RecentClientIdsOptions;
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

  const wantsWriteLock = new Int32Array(new SharedArrayBuffer(4));
  const writer = new SerialWriter(() => openWriter(path, options.clientIds ?? { windowMs: 10 * 60_000, max: 100_000 }, WRITER_SQL), wantsWriteLock, walIndex(`${path}-shm`));
  // Started with the store, not by the first message: by then every file descriptor may be
  // taken (see CheckpointerThread). A moment after opening (or by the first write if sooner),
  // so that start-up's first answer does not share the cores with a starting thread (+2-3 ms
  // to the first 200 of /health when started on the first timer turn). If it cannot start or
  // dies, the next write tries again.
  const checkpointer = new CheckpointerThread(
    CHECKPOINTER,
    () => ({ op: "open", path, sql: WRITER_SQL, wantsWriteLock: wantsWriteLock.buffer as SharedArrayBuffer }),
    // A checkpointer that dies holding the write lock frees it (SQLite does); its flag too.
    () => Atomics.store(wantsWriteLock, 0, 0),
  );
  let closed = false;
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
   * Room settings and bans are written on the writing connection too: in call order with the
   * batches, and waiting for the write lock as they do (on a timer, never on the event loop).
   */
  const writeAccess: AccessWrite = (work) => {
    if (closed) return Promise.reject(new Error("store closed"));
    checkpointer.start();
    return writer.run((w) => work(w.access));
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
      const started = performance.now();
      checkpointer.start();
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
      const { results: reply, before }: AppendReply = await writer.run((w) => w.append(fields));
      options.onCommit?.(drafts.length, performance.now() - started);
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
    },

    async page(room, { before, after, limit }: PageQuery): Promise<Message[]> {
      const where = and(
        eq(messages.room, room),
        lte(messages.id, visibleUpTo),
        before === undefined ? undefined : lt(messages.id, before),
        after === undefined ? undefined : gt(messages.id, after),
      );
      if (after !== undefined) return db.select(columns).from(messages).where(where).orderBy(asc(messages.id)).limit(limit).all().map(messageOfRow);
      return db.select(columns).from(messages).where(where).orderBy(desc(messages.id)).limit(limit).all().reverse().map(messageOfRow);
    },

    async rooms({ before, limit }: RoomsQuery): Promise<StoredRoom[]> {
      // A range of the rooms_last_id index, newest first: it reads `limit` rows, however big the database.
      roomsPage ??= roomsQuery();
      const rows = before === undefined ? roomsPage.first.values(limit) : roomsPage.before.values(before, limit);
      return (rows as RoomRow[]).map(([room, lastId, lastMessageAt]) => ({ room, lastId, lastMessageAt }));
    },

    async prune(olderThan) {
      if (closed) throw new Error("store closed");
      return (await checkpointer.request({ op: "prune", olderThan })) as number;
    },

    ...sqliteAccess(client, db, writeAccess),

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(starting);
      await writer.close();
      await checkpointer.stop();
      client.close(); // the last connection: it checkpoints and removes the WAL
    },
  };
  return api;
}

/** Each kind of CheckpointerRequest without its `seq` (CheckpointerThread numbers them). */
type WithoutSeq<R> = R extends unknown ? Omit<R, "seq"> : never;
type Request = WithoutSeq<CheckpointerRequest>;

export interface ThreadControl {
  /** Whether the thread is running (or starting). */
  readonly running: boolean;
  /** Ends the thread at once, as a crash would: what it was doing is refused; the next write starts another. */
  kill(): void;
}

/**
 * Descriptors a new checkpointer needs: ~3 for the thread (its event loop, its code), 3 for its
 * connection (the database, its WAL and shared memory) and 2 it reads the WAL's length with,
 * with room to spare.
 */
const THREAD_DESCRIPTORS = 12;

/**
 * The checkpointer worker as promises: started with the store, started again by the next write
 * or request if it dies or cannot open the database. A start never risks the process: with too
 * few file descriptors free, Bun ends the whole process instead of failing `new Worker`, so the
 * start checks for them first and refuses instead.
 */
class CheckpointerThread implements ThreadControl {
  private worker?: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  constructor(
    private readonly url: URL,
    private readonly open: () => Request,
    private readonly onLost: () => void,
  ) {}

  get running() {
    return this.worker !== undefined;
  }

  /** Starts the thread unless it runs; false (and the next request tries again) if it could not. */
  start(): boolean {
    try {
      this.worker ??= this.spawn();
      return true;
    } catch {
      return false;
    }
  }

  request(request: Request): Promise<unknown> {
    let worker: Worker;
    try {
      worker = this.worker ??= this.spawn();
    } catch (error) {
      return Promise.reject(error);
    }
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ ...request, seq });
    });
  }

  kill() {
    if (this.worker) this.lost(this.worker, new Error("store checkpointer killed"));
  }

  private spawn(): Worker {
    if (!descriptorsFree(THREAD_DESCRIPTORS)) throw new Error("store checkpointer cannot start: no file descriptors left (raise `ulimit -n`)");
    const worker = new Worker(this.url.href);
    // Kept ref()ed, so that a pending reply keeps the process alive; close() ends it.
    worker.onmessage = ({ data }: MessageEvent<CheckpointerReply>) => {
      const pending = this.pending.get(data.seq);
      if (!pending) return;
      this.pending.delete(data.seq);
      if ("error" in data) pending.reject(new Error(data.error));
      else pending.resolve(data.value);
    };
    // Whatever it was doing is lost (its transaction rolled back); the next request starts another.
    worker.onerror = (event) => this.lost(worker, new Error(`store checkpointer failed: ${event.message}`));
    worker.addEventListener("close", () => this.lost(worker, new Error("store checkpointer stopped")));
    // Posted first, so it is handled first: requests queue behind it. If it fails (the worker
    // then refuses what was queued behind it), this worker is dropped for a new one.
    const seq = ++this.seq;
    this.pending.set(seq, { resolve: () => {}, reject: (error) => this.lost(worker, error) });
    worker.postMessage({ ...this.open(), seq });
    return worker;
  }

  /** Drops a worker that failed: every request still waiting on it is refused. */
  private lost(worker: Worker, error: Error) {
    if (this.worker !== worker) return;
    this.worker = undefined;
    worker.terminate();
    this.onLost();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of pending) reject(error);
  }

  async stop() {
    const worker = this.worker;
    if (!worker) return;
    await this.request({ op: "close" }).catch(() => {});
    if (this.worker === worker) this.worker = undefined;
    worker.terminate();
  }
}

/**
 * The writing connection, opened with the store (or by the first write). Work runs one piece at a time in call
 * order. While the checkpointer wants the write lock (to start the WAL over, or for a retention
 * chunk: a few ms) or holds it, work waits on a timer: the event loop never sleeps in SQLite's
 * busy handler.
 */
class SerialWriter {
  private writer?: Writer;
  private last: Promise<unknown> = Promise.resolve();

  private frameBytes?: number;

  constructor(
    private readonly opener: () => Writer,
    private readonly wantsWriteLock: Int32Array,
    private readonly wal: ReturnType<typeof walIndex>,
  ) {}

  /** Opens the connection now if it is not open; false (and the next write tries again) if it could not. */
  open(): boolean {
    try {
      this.writer ??= this.opener();
      return true;
    } catch {
      return false;
    }
  }

  run<T>(work: (writer: Writer) => T): Promise<T> {
    const next = this.last.then(() => this.withLock(work));
    this.last = next.catch(() => {});
    return next;
  }

  private async withLock<T>(work: (writer: Writer) => T): Promise<T> {
    const writer = (this.writer ??= this.opener());
    const started = performance.now();
    for (;;) {
      try {
        if (Atomics.load(this.wantsWriteLock, 0) === 0 && this.walHasRoom(writer, started)) return work(writer);
      } catch (error) {
        if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
      }
      if (performance.now() - started > WRITE_LOCK_TIMEOUT_MS) throw new Error("database is locked");
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }

  /**
   * Whether a commit may go on without growing the WAL past its hard bound: the WAL is shorter,
   * or a checkpoint has copied all of it back (the commit then starts it over). A pread of the
   * wal-index, ~1 us. A writer that waited WAL_WAIT_MS for the checkpointer checkpoints itself.
   */
  private walHasRoom(writer: Writer, waitingSince: number): boolean {
    const frames = this.wal.frames();
    if (frames === undefined || frames * (this.frameBytes ??= pageSize(writer) + 24) < WAL_HARD_BOUND_BYTES) return true;
    if (this.wal.pending() === 0) return true;
    if (performance.now() - waitingSince < WAL_WAIT_MS) return false;
    writer.client.exec("PRAGMA wal_checkpoint(PASSIVE)"); // fsyncs here, on the event loop: only when the checkpointer is gone
    return true;
  }

  async close() {
    await this.last;
    this.wal.close();
    this.writer?.client.close();
    this.writer = undefined;
  }
}

function pageSize(writer: Writer): number {
  return (writer.client.query("PRAGMA page_size").get() as { page_size: number }).page_size;
}

/** Whether `count` more file descriptors can be opened now (opened and closed again to find out). */
function descriptorsFree(count: number): boolean {
  const opened: number[] = [];
  try {
    for (let i = 0; i < count; i++) opened.push(openSync("/dev/null", "r"));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== "EMFILE" && code !== "ENFILE"; // no /dev/null (a bare chroot): cannot tell, try
  } finally {
    for (const fd of opened) closeSync(fd);
  }
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
