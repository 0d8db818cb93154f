import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const messages = sqliteTable(
  "messages",
  {
    // Not AUTOINCREMENT: the writer gives ids from its own counter, and AUTOINCREMENT's
    // sqlite_sequence row was one more WAL page in every commit (3 instead of 2). Ids are still
    // never reused, even after retention deleted the newest rows (a client's `since` can never
    // point past a reused id): retention records the highest id it deleted in `store_meta`.
    id: integer("id").primaryKey(),
    room: text("room").notNull(),
    name: text("name").notNull(),
    message: text("message").notNull(),
    timestamp: integer("timestamp").notNull(),
    // Not indexed: a unique index here cost more than half of every stored row (README,
    // Performance). Retries are matched in memory (../recent-client-ids.ts), and this column
    // refills that memory when the store is opened again.
    clientId: text("client_id"),
    // The sender's id in the app, when it had one (a verified join, the server API).
    userId: text("user_id"),
  },
  (t) => [index("messages_room_id").on(t.room, t.id)],
);

/**
 * One row per room that has messages, kept by the writer in the transaction that stores or
 * prunes them: GET /rooms pages through it by index instead of grouping every message.
 */
export const rooms = sqliteTable(
  "rooms",
  {
    room: text("room").primaryKey(),
    // The id of the room's newest message: the list's order (most recent first) and its
    // cursor. Ids are unique across rooms, so the order is total without a tie-breaker.
    lastId: integer("last_id").notNull(),
    lastMessageAt: integer("last_message_at").notNull(),
    // Retention deletes the row when this reaches 0.
    messages: integer("messages").notNull(),
  },
  (t) => [uniqueIndex("rooms_last_id").on(t.lastId)],
);

/** Rooms whose settings were ever set; a room without a row is public and untitled. */
export const roomSettings = sqliteTable("room_settings", {
  room: text("room").primaryKey(),
  private: integer("private", { mode: "boolean" }).notNull().default(false),
  title: text("title"),
});

/**
 * A user banned from a room. The primary key is the lookup of every verified join (one per
 * user and room: a new ban replaces the old). Ended bans stay until the room's next ban.
 */
export const bans = sqliteTable(
  "bans",
  {
    room: text("room").notNull(),
    userId: text("user_id").notNull(),
    reason: text("reason"),
    // ms since the epoch, exclusive; null: until lifted.
    until: integer("until"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.room, t.userId] })],
);

/**
 * The store's own numbers. `id_floor`: the highest message id retention deleted (at the upgrade,
 * AUTOINCREMENT's last id): the writer's ids start above it and above every stored one.
 */
export const storeMeta = sqliteTable("store_meta", {
  key: text("key").primaryKey(),
  value: integer("value").notNull(),
});
