import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const messages = sqliteTable(
  "messages",
  {
    // AUTOINCREMENT: ids are never reused, even after retention deleted the newest rows,
    // so a client's `since` can never point past a reused id.
    id: integer("id").primaryKey({ autoIncrement: true }),
    room: text("room").notNull(),
    name: text("name").notNull(),
    message: text("message").notNull(),
    timestamp: integer("timestamp").notNull(),
    clientId: text("client_id"),
  },
  (t) => [
    index("messages_room_id").on(t.room, t.id),
    // A retried send (same room, name and clientId) is stored once.
    uniqueIndex("messages_client_id").on(t.room, t.name, t.clientId).where(sql`${t.clientId} IS NOT NULL`),
  ],
);
