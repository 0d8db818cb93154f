// The embedded store: Drizzle on bun:sqlite, WAL. Each append() is one transaction (the hub
// groups the messages of one event-loop turn into it); it resolves only after the commit.
import { Database } from "bun:sqlite";
import { and, asc, desc, eq, gt, inArray, lt, max, sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { Message } from "../../protocol/frames";
import type { Appended, Draft, MessageStore, PageQuery } from "../../rooms/ports";
import { embeddedMigrations } from "./migrations" with { type: "macro" };
import { messages } from "./schema";

const MIGRATIONS = embeddedMigrations();
const PRUNE_CHUNK = 1000;
const columns = { id: messages.id, room: messages.room, name: messages.name, message: messages.message, timestamp: messages.timestamp };

export interface SqliteStoreOptions {
  /** Called after each commit with its size and duration (metrics). */
  onCommit?: (rows: number, ms: number) => void;
}

export function openSqliteStore(path: string, options: SqliteStoreOptions = {}) {
  const client = new Database(path, { create: true, strict: true });
  // WAL + synchronous=NORMAL: a committed transaction survives kill -9 of the process (not a
  // power cut), which is what "acknowledged" promises; busy_timeout for a second reader.
  client.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;");
  const db = drizzle({ client });
  migrate(db);

  // The hot path, one call per message: Drizzle writes the SQL, bun:sqlite runs it directly.
  // (Drizzle's prepared query maps named placeholders on every call: ~10% of a row's cost.)
  const insertSql = db
    .insert(messages)
    .values({ room: "", name: "", message: "", timestamp: 0, clientId: null })
    .onConflictDoNothing()
    .toSQL().sql;
  const insert = client.prepare<never, [string, string, string, number, string | null]>(insertSql);
  const stored = db
    .select(columns)
    .from(messages)
    .where(and(eq(messages.room, sql.placeholder("room")), eq(messages.name, sql.placeholder("name")), eq(messages.clientId, sql.placeholder("clientId"))))
    .prepare();

  function store(draft: Draft): Appended {
    const clientId = draft.clientId ?? null;
    // run() rather than RETURNING: the new id is lastInsertRowid, and RETURNING cost ~40% more per row here.
    const { changes, lastInsertRowid } = insert.run(draft.room, draft.name, draft.message, draft.timestamp, clientId);
    if (changes === 1) return { message: { id: Number(lastInsertRowid), room: draft.room, name: draft.name, message: draft.message, timestamp: draft.timestamp }, fresh: true };
    // A conflict: (room, name, clientId) was stored before, maybe earlier in this very batch.
    return { message: stored.get({ room: draft.room, name: draft.name, clientId })!, fresh: false };
  }
  const commit = client.transaction((drafts: Draft[]) => drafts.map(store));
  let closed = false;

  const api: MessageStore & { readonly path: string; readonly database: Database } = {
    path,
    /** The underlying bun:sqlite connection, for operations and fault-injection tests (PRAGMAs, backups); not for app queries. */
    database: client,
    async append(drafts) {
      if (closed) throw new Error("store closed");
      const started = performance.now();
      const results = commit(drafts);
      options.onCommit?.(drafts.length, performance.now() - started);
      return results;
    },

    async page(room, { before, after, limit }: PageQuery): Promise<Message[]> {
      const where = and(
        eq(messages.room, room),
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
      let total = 0;
      for (;;) {
        const oldest = db.select({ id: messages.id }).from(messages).where(lt(messages.timestamp, olderThan)).orderBy(asc(messages.id)).limit(PRUNE_CHUNK);
        const changes = db.delete(messages).where(inArray(messages.id, oldest)).returning({ id: messages.id }).all().length;
        total += changes;
        if (changes < PRUNE_CHUNK) return total;
        await new Promise((resolve) => setImmediate(resolve)); // let live traffic through between chunks
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      client.close();
    },
  };
  return api;
}

function migrate(db: ReturnType<typeof drizzle>) {
  // What drizzle-orm/bun-sqlite/migrator does, minus reading the folder at run time.
  (db as any).dialect.migrate(MIGRATIONS, (db as any).session, { migrationsFolder: "(embedded)" });
}
