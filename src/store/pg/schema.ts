import { sql } from "drizzle-orm";
import { bigint, boolean, index, pgTable, primaryKey, text } from "drizzle-orm/pg-core";

export const messages = pgTable(
  "messages",
  {
    // From a sequence, taken under the room's lock (see index.ts): a room's ids increase in the
    // order its messages commit, whichever node writes them. Never reused: `since` stays valid.
    id: bigint("id", { mode: "number" }).primaryKey().generatedByDefaultAsIdentity(),
    room: text("room").notNull(),
    name: text("name").notNull(),
    message: text("message").notNull(),
    timestamp: bigint("timestamp", { mode: "number" }).notNull(),
    clientId: text("client_id"),
    // The sender's id in the app, when it had one (a verified join, the server API).
    userId: text("user_id"),
  },
  (t) => [
    index("messages_room_id").on(t.room, t.id),
    // A retry may reach another node than its original: the clientId memory is the database.
    // Not unique: a retry older than the window is stored anew, as on SQLite.
    index("messages_client_id").on(t.room, t.name, t.clientId).where(sql`${t.clientId} is not null`),
  ],
);

/**
 * One row per room that has messages (GET /rooms pages through it by index), kept in the
 * transaction that stores or prunes them. Also the room's lock: each batch locks its rooms' rows
 * before it takes ids, so that two nodes writing one room commit its ids in order.
 */
export const rooms = pgTable(
  "rooms",
  {
    room: text("room").primaryKey(),
    // The id of the room's newest message: the list's order (most recent first) and its cursor.
    // 0 only inside the transaction that creates the row. Not unique (unlike SQLite's): two
    // batches creating two rooms at once both hold a 0 until they commit.
    lastId: bigint("last_id", { mode: "number" }).notNull(),
    lastMessageAt: bigint("last_message_at", { mode: "number" }).notNull(),
    // Retention deletes the row when this reaches 0.
    messages: bigint("messages", { mode: "number" }).notNull(),
  },
  (t) => [index("rooms_last_id").on(t.lastId)],
);

/** Rooms whose settings were ever set; a room without a row is public and untitled. */
export const roomSettings = pgTable("room_settings", {
  room: text("room").primaryKey(),
  private: boolean("private").notNull().default(false),
  title: text("title"),
});

/**
 * A user banned from a room. The primary key is the lookup of every verified join (one per
 * user and room: a new ban replaces the old). Ended bans stay until the room's next ban.
 */
export const bans = pgTable(
  "bans",
  {
    room: text("room").notNull(),
    userId: text("user_id").notNull(),
    reason: text("reason"),
    // ms since the epoch, exclusive; null: until lifted.
    until: bigint("until", { mode: "number" }),
    createdAt: bigint("created_at", { mode: "number" }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.room, t.userId] })],
);
