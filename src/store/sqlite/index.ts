// The embedded store: Drizzle on bun:sqlite, WAL. Writes go to a worker thread (writer.ts) that
// owns the writing connection; each append() is one transaction there (the hub groups the
// messages of one event-loop turn into it) and resolves only after the commit. Reads and
// migrations run here, on a connection of their own: WAL lets them run beside the writer.
import { Database, type Statement } from "bun:sqlite";
import { closeSync, existsSync, openSync, writeFileSync } from "node:fs";
import { and, asc, desc, eq, gt, lt, lte, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Message } from "../../protocol/frames";
import type { Appended, MessageStore, PageQuery, RoomsQuery, StoredRoom } from "../../rooms/ports";
import type { RecentClientIdsOptions } from "../recent-client-ids";
import { embeddedMigrations, emptyDatabase } from "./migrations" with { type: "macro" };
import { messages, rooms } from "./schema";
import { DRAFT_FIELDS, type AppendReply, type DraftFields, type WriterReply, type WriterRequest, type WriterSql } from "./wire";
import { writerSql } from "./writer-sql" with { type: "macro" };

const MIGRATIONS = embeddedMigrations();
const EMPTY_DATABASE = emptyDatabase();
const WRITER_SQL: WriterSql = writerSql();
/** The last id AUTOINCREMENT gave (null on an empty database). */
const LAST_ID = WRITER_SQL.lastId;
const columns = { id: messages.id, room: messages.room, name: messages.name, message: messages.message, timestamp: messages.timestamp };
// From source, the worker is beside this file. In the compiled binary every module's
// import.meta.url is the binary itself, and the worker (an extra entry point of the build, see
// package.json) sits where it sat below src/.
const WRITER = import.meta.url.includes("/$bunfs/") ? new URL("./store/sqlite/writer.ts", import.meta.url) : new URL("./writer.ts", import.meta.url);

export interface SqliteStoreOptions {
  /** Called after each commit with its size and duration (metrics). */
  onCommit?: (rows: number, ms: number) => void;
  /** How long and how many clientIds are remembered for retries (default: 10 minutes, 100,000). */
  clientIds?: RecentClientIdsOptions;
}

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}) {
  // Reads and writes use two connections (the writer is a thread): they must share a file.
  if (path === ":memory:") throw new Error("the SQLite store needs a file: an in-memory database cannot be shared by the writer thread");
  // A new database is a copy of one migrated at build time (see migrations.ts). Not fsynced: it
  // holds nothing yet.
  const created = !existsSync(path) && createEmpty(path);
  const client = new Database(path, { create: true, strict: true });
  // WAL + synchronous=NORMAL: a committed transaction survives kill -9 of the process (not a
  // power cut), which is what "acknowledged" promises; busy_timeout for the two connections.
  client.exec("PRAGMA synchronous = NORMAL; PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;");
  const db = drizzle({ client });
  // Drizzle's migrator takes ~4 ms even when it has nothing to do: not run when its own record
  // says the last migration is applied already.
  if (!created && !migrated(client)) {
    migrate(db);
    // A migration may write much (0003 fills the rooms table from every message): checkpointed
    // now, at start-up, or the writer's first commits would copy it all back under a checkpoint.
    client.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }

  // Started with the store, not by the first message: by then every file descriptor may be
  // taken (see WriterThread). On the first timer turn rather than right here: creating a thread
  // costs the event loop ~2 ms, and start-up's first answer need not wait for it (-4 ms to the
  // first 200 of /health). Its SQL was written at build time. If it cannot start, the first
  // write tries again.
  const writer = new WriterThread(path, options.clientIds ?? { windowMs: 10 * 60_000, max: 100_000 }, WRITER_SQL);
  let closed = false;
  const starting = setTimeout(() => closed || writer.start(), 0);
  // Reads stop at the highest id the writer has handed back. A row it committed whose reply is
  // still on its way has not been delivered yet: a join that read it would get it twice, in its
  // history and then live. Ids are given in order, so one number is the whole boundary.
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

  const api: MessageStore & { readonly path: string; readonly database: Database; readonly writer: WriterControl; execOnWriter(sql: string): Promise<void> } = {
    path,
    /** The reading connection, for operations (backups, inspection); not for app queries. */
    database: client,
    /** The writer thread, for operations and fault-injection tests. */
    writer,
    /** Runs SQL on the writing connection: operations and fault-injection tests (PRAGMAs). */
    async execOnWriter(statement) {
      await writer.request({ op: "exec", sql: statement });
    },

    async append(drafts) {
      if (closed) throw new Error("store closed");
      const started = performance.now();
      const fields: DraftFields = new Array(drafts.length * DRAFT_FIELDS);
      for (let i = 0, at = 0; i < drafts.length; i++, at += DRAFT_FIELDS) {
        const d = drafts[i]!;
        fields[at] = d.room;
        fields[at + 1] = d.name;
        fields[at + 2] = d.message;
        fields[at + 3] = d.timestamp;
        fields[at + 4] = d.clientId ?? null;
      }
      const reply = (await writer.request({ op: "append", drafts: JSON.stringify(fields) })) as AppendReply;
      options.onCommit?.(drafts.length, performance.now() - started);
      const results: Appended[] = new Array(drafts.length);
      for (let i = 0; i < drafts.length; i++) {
        const r = reply[i]!;
        const d = drafts[i]!;
        if (typeof r === "number" && r > visibleUpTo) visibleUpTo = r;
        results[i] = typeof r === "number" ? { message: { id: r, room: d.room, name: d.name, message: d.message, timestamp: d.timestamp }, fresh: true } : { message: r, fresh: false };
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
      if (after !== undefined) return db.select(columns).from(messages).where(where).orderBy(asc(messages.id)).limit(limit).all();
      return db.select(columns).from(messages).where(where).orderBy(desc(messages.id)).limit(limit).all().reverse();
    },

    async rooms({ before, limit }: RoomsQuery): Promise<StoredRoom[]> {
      // A range of the rooms_last_id index, newest first: it reads `limit` rows, however big the database.
      roomsPage ??= roomsQuery();
      const rows = before === undefined ? roomsPage.first.values(limit) : roomsPage.before.values(before, limit);
      return (rows as RoomRow[]).map(([room, lastId, lastMessageAt]) => ({ room, lastId, lastMessageAt }));
    },

    async prune(olderThan) {
      if (closed) throw new Error("store closed");
      return (await writer.request({ op: "prune", olderThan })) as number;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(starting);
      await writer.stop();
      client.close();
    },
  };
  return api;
}

/** Each kind of WriterRequest without its `seq` (WriterThread numbers them). */
type WithoutSeq<R> = R extends unknown ? Omit<R, "seq"> : never;
type Request = WithoutSeq<WriterRequest>;

export interface WriterControl {
  /** Whether the writer thread is running (or starting). */
  readonly running: boolean;
  /** Ends the thread at once, as a crash would: what it was doing is refused; the next write starts another. */
  kill(): void;
}

/**
 * Descriptors a new writer needs: ~3 for the thread (its event loop, its code) and 3 for its
 * connection (the database, its WAL and shared memory), with room to spare.
 */
const WRITER_DESCRIPTORS = 12;

/**
 * The writer worker as promises: started with the store, started again by the next request if
 * it dies or cannot open the database. A start never risks the process: with too few file
 * descriptors free, Bun ends the whole process instead of failing `new Worker`, so the start
 * checks for them first and refuses the request instead.
 */
class WriterThread implements WriterControl {
  private worker?: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  constructor(
    private readonly path: string,
    private readonly clientIds: RecentClientIdsOptions,
    private readonly sql: WriterSql,
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
    if (this.worker) this.lost(this.worker, new Error("store writer killed"));
  }

  private spawn(): Worker {
    if (!descriptorsFree(WRITER_DESCRIPTORS)) throw new Error("store writer cannot start: no file descriptors left (raise `ulimit -n`)");
    const worker = new Worker(WRITER.href);
    // Kept ref()ed, so that a pending reply keeps the process alive; close() ends it.
    worker.onmessage = ({ data }: MessageEvent<WriterReply>) => {
      const pending = this.pending.get(data.seq);
      if (!pending) return;
      this.pending.delete(data.seq);
      if ("error" in data) pending.reject(new Error(data.error));
      else pending.resolve(data.value);
    };
    // Whatever it was doing is lost (its transaction rolled back); the next request starts another.
    worker.onerror = (event) => this.lost(worker, new Error(`store writer failed: ${event.message}`));
    worker.addEventListener("close", () => this.lost(worker, new Error("store writer stopped")));
    // Posted first, so it is handled first: requests queue behind it. If it fails (the worker
    // then refuses what was queued behind it), this worker is dropped for a new one.
    const seq = ++this.seq;
    this.pending.set(seq, { resolve: () => {}, reject: (error) => this.lost(worker, error) });
    worker.postMessage({ op: "open", seq, path: this.path, clientIds: this.clientIds, sql: this.sql } satisfies WriterRequest);
    return worker;
  }

  /** Drops a worker that failed: every request still waiting on it is refused. */
  private lost(worker: Worker, error: Error) {
    if (this.worker !== worker) return;
    this.worker = undefined;
    worker.terminate();
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
