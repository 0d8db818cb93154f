import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";

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
    // Not indexed: a unique index here cost more than half of every stored row (README,
    // Performance). Retries are matched in memory (../recent-client-ids.ts), and this column
    // refills that memory when the store is opened again.
    clientId: text("client_id"),
  },
  (t) => [index("messages_room_id").on(t.room, t.id)],
);
