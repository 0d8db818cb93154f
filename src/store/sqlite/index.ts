// The embedded store: Drizzle on bun:sqlite, WAL, group commit. Every append of one event-loop
// turn goes into one transaction; promises settle only after it committed, in arrival order.
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

type Pending = { draft: Draft; resolve: (value: Appended) => void; reject: (error: unknown) => void };

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

  const insert = db
    .insert(messages)
    .values({
      room: sql.placeholder("room"),
      name: sql.placeholder("name"),
      message: sql.placeholder("message"),
      timestamp: sql.placeholder("timestamp"),
      clientId: sql.placeholder("clientId"),
    })
    .onConflictDoNothing()
    .returning({ id: messages.id })
    .prepare();
  const stored = db
    .select(columns)
    .from(messages)
    .where(and(eq(messages.room, sql.placeholder("room")), eq(messages.name, sql.placeholder("name")), eq(messages.clientId, sql.placeholder("clientId"))))
    .prepare();

  function store(draft: Draft): Appended {
    const clientId = draft.clientId ?? null;
    const row = insert.get({ ...draft, clientId });
    if (row) return { message: { id: row.id, room: draft.room, name: draft.name, message: draft.message, timestamp: draft.timestamp }, fresh: true };
    return { message: stored.get({ room: draft.room, name: draft.name, clientId })!, fresh: false };
  }
  const commit = client.transaction((batch: Pending[]) => batch.map((p) => store(p.draft)));

  let queue: Pending[] = [];
  let scheduled = false;
  let closed = false;

  function flush() {
    scheduled = false;
    const batch = queue;
    queue = [];
    if (!batch.length) return;
    const started = performance.now();
    let results: Appended[];
    try {
      results = commit(batch);
    } catch (error) {
      // The transaction rolled back: nothing of the batch was stored, so nothing is acked.
      for (const p of batch) p.reject(error);
      return;
    }
    options.onCommit?.(batch.length, performance.now() - started);
    for (let i = 0; i < batch.length; i++) batch[i]!.resolve(results[i]!);
  }

  const api: MessageStore & { readonly path: string } = {
    path,
    append(draft) {
      if (closed) return Promise.reject(new Error("store closed"));
      return new Promise<Appended>((resolve, reject) => {
        queue.push({ draft, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
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
      flush();
      client.close();
    },
  };
  return api;
}

function migrate(db: ReturnType<typeof drizzle>) {
  // What drizzle-orm/bun-sqlite/migrator does, minus reading the folder at run time.
  (db as any).dialect.migrate(MIGRATIONS, (db as any).session, { migrationsFolder: "(embedded)" });
}
