// The writer's SQL for room settings and bans, written by Drizzle at build time (called by the
// writer-sql.ts macro, whose database it is given).
import { and, eq, isNotNull, lte, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { bans, roomSettings } from "./schema";
import type { AccessWriterSql } from "./wire";

export function accessWriterSql(db: BunSQLiteDatabase): AccessWriterSql {
  const p = sql.placeholder;
  return {
    settingsOf: db
      .select({ private: roomSettings.private, title: roomSettings.title })
      .from(roomSettings)
      .where(eq(roomSettings.room, p("room")))
      .toSQL().sql,
    settingsPut: db
      .insert(roomSettings)
      .values({ room: p("room"), private: p("private"), title: p("title") })
      .onConflictDoUpdate({ target: roomSettings.room, set: { private: sql`excluded.private`, title: sql`excluded.title` } })
      .toSQL().sql,
    banPut: db
      .insert(bans)
      .values({ room: p("room"), userId: p("userId"), reason: p("reason"), until: p("until"), createdAt: p("createdAt") })
      .onConflictDoUpdate({
        target: [bans.room, bans.userId],
        set: { reason: sql`excluded.reason`, until: sql`excluded.until`, createdAt: sql`excluded.created_at` },
      })
      .toSQL().sql,
    bansEnded: db
      .delete(bans)
      .where(and(eq(bans.room, p("room")), isNotNull(bans.until), lte(bans.until, p("now"))))
      .toSQL().sql,
    banDelete: db
      .delete(bans)
      .where(and(eq(bans.room, p("room")), eq(bans.userId, p("userId"))))
      .toSQL().sql,
  };
}
