// The shared store (DATABASE_URL): Drizzle on Bun's own PostgreSQL client. Several nodes may use
// one database at once. Writes go through writer.ts (each append() batch in one transaction, in call
// order); reads run beside them on the pool. Migrations are embedded and applied on open, under
// an advisory lock, so that nodes starting together migrate once.
import { SQL } from "bun";
import { and, asc, desc, DrizzleQueryError, eq, gt, lt, sql } from "drizzle-orm";
import { drizzle, type BunSQLDatabase } from "drizzle-orm/bun-sql";
import type { Message } from "../../protocol/frames";
import type { AccessStore, MessageStore, PageQuery, RoomsQuery, StoredRoom } from "../../rooms/ports";
import { messageOfRow } from "../stored-message";
import { pgAccess } from "./access";
import { embeddedMigrations } from "./migrations" with { type: "macro" };
import { messages, rooms } from "./schema";
import { Writer } from "./writer";

const MIGRATIONS = embeddedMigrations();
/** pg_advisory_lock's key for migrations: any constant no other program on the database uses ("chat"). */
const MIGRATION_LOCK = 0x63686174;
const columns = { id: messages.id, room: messages.room, name: messages.name, message: messages.message, timestamp: messages.timestamp, userId: messages.userId };

export interface PgStoreOptions {
  /** Called after each commit with its size and duration (metrics). */
  onCommit?: (rows: number, ms: number) => void;
  /** How long a clientId is remembered for retries (default: 10 minutes, as on SQLite). */
  clientIds?: { windowMs: number };
  /** Connections in the pool (default 10): one writes at a time, the others read. */
  maxConnections?: number;
}

export async function openPgStore(url: string, options: PgStoreOptions = {}) {
  const client = new SQL({ url, max: options.maxConnections ?? 10 });
  const db = drizzle({ client });
  try {
    if (!(await migrated(db))) await migrate(client);
  } catch (error) {
    await client.close().catch(() => {});
    throw error;
  }
  const writer = new Writer(db, client, { clientIdWindowMs: options.clientIds?.windowMs ?? 10 * 60_000, onCommit: options.onCommit });
  let closed = false;

  const api: MessageStore & AccessStore & { readonly db: BunSQLDatabase } = {
    /** The pool, for operations and tests; not for app queries. */
    db,

    async append(drafts) {
      if (closed) throw new Error("store closed");
      return writer.append(drafts).catch((error) => Promise.reject(withReason(error)));
    },

    async page(room, { before, after, limit }: PageQuery): Promise<Message[]> {
      // Rows of a batch now committing are not shown until its append() has resolved: a join
      // that read one would get it twice, in its history and then live. Later rows of that room
      // (another node's, committed right after ours) go with them, so that a page never skips
      // one. Checked when page() is called, and again when its rows are back: a query that
      // waited for a connection may have run after a commit whose batch was not numbered yet
      // when page() was called.
      const committing = writer.inFlight.get(room);
      const bounds = and(
        eq(messages.room, room),
        committing === undefined ? undefined : lt(messages.id, committing),
        before === undefined ? undefined : lt(messages.id, before),
        after === undefined ? undefined : gt(messages.id, after),
      );
      const rows =
        after !== undefined
          ? await db.select(columns).from(messages).where(bounds).orderBy(asc(messages.id)).limit(limit)
          : (await db.select(columns).from(messages).where(bounds).orderBy(desc(messages.id)).limit(limit)).reverse();
      const stillCommitting = writer.inFlight.get(room);
      return (stillCommitting === undefined ? rows : rows.filter((m) => m.id < stillCommitting)).map(messageOfRow);
    },

    async rooms({ before, limit }: RoomsQuery): Promise<StoredRoom[]> {
      // A range of rooms_last_id, newest first: `limit` rows read, however big the database.
      // (A new room's placeholder row, last_id 0, never commits as such: see writer.ts.)
      return db
        .select({ room: rooms.room, lastId: rooms.lastId, lastMessageAt: rooms.lastMessageAt })
        .from(rooms)
        .where(before === undefined ? undefined : lt(rooms.lastId, before))
        .orderBy(desc(rooms.lastId))
        .limit(limit);
    },

    async prune(olderThan) {
      if (closed) throw new Error("store closed");
      return writer.prune(olderThan).catch((error) => Promise.reject(withReason(error)));
    },

    ...pgAccess(db, () => {
      if (closed) throw new Error("store closed");
    }),

    async close() {
      if (closed) return;
      closed = true;
      await writer.idle();
      await client.close();
    },
  };
  return api;
}

/**
 * PostgreSQL's own error instead of Drizzle's wrapper, whose message is the whole query and its
 * parameters: a batch's messages do not belong in the log of a failed commit.
 */
function withReason(error: unknown): unknown {
  return error instanceof DrizzleQueryError && error.cause instanceof Error ? error.cause : error;
}

/** Whether the last embedded migration is recorded (by Drizzle's migrator, by its folder time). */
async function migrated(db: BunSQLDatabase): Promise<boolean> {
  const last = MIGRATIONS.at(-1);
  if (!last) return true;
  try {
    const [row] = await db.execute<{ at: string | null }>(sql`select max(created_at) as at from drizzle.__drizzle_migrations`);
    return Number(row?.at) >= last.folderMillis;
  } catch {
    return false; // no table yet
  }
}

/**
 * Applies the embedded migrations, holding a session advisory lock on one connection: nodes
 * that start at once wait for each other, and each one's migrator, run under the lock, finds what
 * the one before it applied. A node that dies meanwhile drops its connection, and the lock with it.
 */
async function migrate(client: SQL) {
  const connection = await client.reserve();
  try {
    await connection`select pg_advisory_lock(${MIGRATION_LOCK})`;
    try {
      const db = drizzle({ client: connection });
      // What drizzle-orm/bun-sql/migrator does, minus reading the folder at run time.
      await (db as any).dialect.migrate(MIGRATIONS, (db as any).session, { migrationsFolder: "(embedded)" });
    } finally {
      await connection`select pg_advisory_unlock(${MIGRATION_LOCK})`;
    }
  } finally {
    connection.release();
  }
}
