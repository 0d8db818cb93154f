// The embedded store: Drizzle on bun:sqlite, WAL. Writes go to a worker thread (writer.ts) that
// owns the writing connection; each append() is one transaction there (the hub groups the
// messages of one event-loop turn into it) and resolves only after the commit. Reads and
// migrations run here, on a connection of their own: WAL lets them run beside the writer.
import { Database } from "bun:sqlite";
import { existsSync, writeFileSync } from "node:fs";
import { and, asc, desc, eq, gt, inArray, lt, lte, max, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Message } from "../../protocol/frames";
import type { Appended, MessageStore, PageQuery } from "../../rooms/ports";
import type { RecentClientIdsOptions } from "../recent-client-ids";
import { embeddedMigrations, emptyDatabase } from "./migrations" with { type: "macro" };
import { messages } from "./schema";
import { DRAFT_FIELDS, type AppendReply, type DraftFields, type WriterReply, type WriterRequest, type WriterSql } from "./wire";

const MIGRATIONS = embeddedMigrations();
const EMPTY_DATABASE = emptyDatabase();
const PRUNE_CHUNK = 1000;
/** Rows per INSERT statement: one statement per 32 rows costs ~20% less per row than one each. */
const ROWS_PER_INSERT = 32;
/** The last id AUTOINCREMENT gave (null on an empty database). */
const LAST_ID = "SELECT seq FROM sqlite_sequence WHERE name = 'messages'";
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
  if (!created && !migrated(client)) migrate(db);

  // Built when the writer starts (the first write), not at start-up: the builders cost ~4 ms.
  // Drizzle writes the one-row INSERT; the n-row ones repeat its VALUES tuple (building 32
  // multi-row statements through Drizzle took another ~10 ms).
  const writerSql = (): WriterSql => {
    const insertOne = db.insert(messages).values({ id: 0, room: "", name: "", message: "", timestamp: 0, clientId: null }).toSQL().sql;
    const [intoColumns, tuple] = insertOne.split(" values ") as [string, string];
    return {
      inserts: Array.from({ length: ROWS_PER_INSERT + 1 }, (_, rows) => (rows === 0 ? "" : `${intoColumns} values ${Array(rows).fill(tuple).join(", ")}`)),
      lastId: LAST_ID,
      byId: db.select(columns).from(messages).where(eq(messages.id, sql.placeholder("id"))).toSQL().sql,
      newestFirst: db
        .select({ id: messages.id, room: messages.room, name: messages.name, client_id: messages.clientId, timestamp: messages.timestamp })
        .from(messages)
        .orderBy(desc(messages.id))
        .toSQL().sql,
      pruneChunk: db
        .delete(messages)
        .where(inArray(messages.id, db.select({ id: messages.id }).from(messages).where(lt(messages.timestamp, sql.placeholder("olderThan"))).orderBy(asc(messages.id)).limit(PRUNE_CHUNK)))
        .toSQL().sql,
      pruneChunkSize: PRUNE_CHUNK,
    };
  };
  const writer = new WriterThread(path, options.clientIds ?? { windowMs: 10 * 60_000, max: 100_000 }, writerSql);
  let closed = false;
  // Reads stop at the highest id the writer has handed back. A row it committed whose reply is
  // still on its way has not been delivered yet: a join that read it would get it twice, in its
  // history and then live. Ids are given in order, so one number is the whole boundary.
  let visibleUpTo = (client.query(LAST_ID).get() as { seq: number } | null)?.seq ?? 0;

  const api: MessageStore & { readonly path: string; readonly database: Database; execOnWriter(sql: string): Promise<void> } = {
    path,
    /** The reading connection, for operations (backups, inspection); not for app queries. */
    database: client,
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

    async rooms() {
      const rows = db.select({ room: messages.room, lastMessageAt: max(messages.timestamp) }).from(messages).groupBy(messages.room).all();
      return rows.map((r) => ({ room: r.room, lastMessageAt: r.lastMessageAt ?? 0 }));
    },

    async prune(olderThan) {
      if (closed) throw new Error("store closed");
      return (await writer.request({ op: "prune", olderThan })) as number;
    },

    async close() {
      if (closed) return;
      closed = true;
      await writer.stop();
      client.close();
    },
  };
  return api;
}

/** Each kind of WriterRequest without its `seq` (WriterThread numbers them). */
type WithoutSeq<R> = R extends unknown ? Omit<R, "seq"> : never;
type Request = WithoutSeq<WriterRequest>;

/**
 * The writer worker as promises: started by the first write (a server that only serves idle
 * sockets never pays its ~5 MiB; the first message waits ~10 ms for it), restarted if it dies.
 */
class WriterThread {
  private worker?: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  constructor(
    private readonly path: string,
    private readonly clientIds: RecentClientIdsOptions,
    private readonly sql: () => WriterSql,
  ) {}

  request(request: Request): Promise<unknown> {
    const worker = (this.worker ??= this.start());
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ ...request, seq });
    });
  }

  private start(): Worker {
    const worker = new Worker(WRITER.href);
    // Kept ref()ed, so that a pending reply keeps the process alive; close() ends it.
    worker.onmessage = ({ data }: MessageEvent<WriterReply>) => {
      const pending = this.pending.get(data.seq);
      if (!pending) return;
      this.pending.delete(data.seq);
      if ("error" in data) pending.reject(new Error(data.error));
      else pending.resolve(data.value);
    };
    worker.onerror = (event) => {
      // Whatever it was doing is lost (its transaction rolled back); the next request starts another.
      if (this.worker === worker) this.worker = undefined;
      worker.terminate();
      const error = new Error(`store writer failed: ${event.message}`);
      for (const { reject } of this.pending.values()) reject(error);
      this.pending.clear();
    };
    // Posted first, so it is handled first: requests queue behind it. Nothing waits for its
    // reply; if it fails, the writer refuses every later request with the reason.
    worker.postMessage({ op: "open", seq: ++this.seq, path: this.path, clientIds: this.clientIds, sql: this.sql() } satisfies WriterRequest);
    return worker;
  }

  async stop() {
    const worker = this.worker;
    if (!worker) return;
    await this.request({ op: "close" }).catch(() => {});
    this.worker = undefined;
    worker.terminate();
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
