// Room settings and bans on SQLite: reads here, on the reading connection, each one lookup of a
// primary key (a ban check runs on every verified join); writes on the writing connection
// (access-writer.ts), like messages.
import type { Database, Statement } from "bun:sqlite";
import { and, asc, eq, gt, isNull, or, sql } from "drizzle-orm";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import type { AccessStore, Ban, RoomSettings } from "../../rooms/ports";
import { checkedTerms } from "../ban-terms";
import type { AccessWrites } from "./access-writer";
import { bans, roomSettings } from "./schema";

/** Runs a write on the writing connection, in turn with the batches (index.ts). */
export type AccessWrite = <T>(work: (writes: AccessWrites) => T) => Promise<T>;

type SettingsRow = [isPrivate: number, title: string | null];
type BanRow = [userId: string, reason: string | null, until: number | null, createdAt: number];

export function sqliteAccess(client: Database, db: BunSQLiteDatabase, write: AccessWrite): AccessStore {
  const p = sql.placeholder;
  const inEffect = or(isNull(bans.until), gt(bans.until, p("now")));
  // Prepared on first use, not at open: most servers never configure a room. Rows as arrays
  // (values()), as index.ts reads rooms, and every statement run to its end.
  let statements: { settings: Statement<SettingsRow, [string]>; private: Statement<[string], [string]>; banned: Statement<[number], [string, string, number]>; bans: Statement<BanRow, [string, number]> } | undefined;
  const prepared = () =>
    (statements ??= {
      settings: client.prepare(db.select({ private: roomSettings.private, title: roomSettings.title }).from(roomSettings).where(eq(roomSettings.room, p("room"))).toSQL().sql),
      // The page's names as one JSON array: one statement for any number of them.
      private: client.prepare(
        db
          .select({ room: roomSettings.room })
          .from(roomSettings)
          .where(sql`${roomSettings.private} = 1 and ${roomSettings.room} in (select value from json_each(${p("rooms")}))`)
          .toSQL().sql,
      ),
      banned: client.prepare(
        db
          .select({ one: sql`1` })
          .from(bans)
          .where(and(eq(bans.room, p("room")), eq(bans.userId, p("userId")), inEffect))
          .toSQL().sql,
      ),
      bans: client.prepare(
        db
          .select({ userId: bans.userId, reason: bans.reason, until: bans.until, createdAt: bans.createdAt })
          .from(bans)
          .where(and(eq(bans.room, p("room")), inEffect))
          .orderBy(asc(bans.userId))
          .toSQL().sql,
      ),
    });

  return {
    async roomSettings(room) {
      const [row] = prepared().settings.values(room) as SettingsRow[];
      return settingsOf(row);
    },
    async privateRooms(rooms) {
      if (rooms.length === 0) return new Set();
      return new Set((prepared().private.values(JSON.stringify(rooms)) as [string][]).map(([room]) => room));
    },
    async setRoomSettings(room, change) {
      return write((w) => w.setRoom(room, change));
    },
    async ban(room, userId, terms, now) {
      // Checked and copied now: the write may wait for its turn, and the caller's object may change meanwhile.
      const checked = checkedTerms(terms, now);
      await write((w) => w.ban(room, userId, checked, now));
    },
    async unban(room, userId) {
      await write((w) => w.unban(room, userId));
    },
    async bans(room, now) {
      return (prepared().bans.values(room, now) as BanRow[]).map(banOf);
    },
    async isBanned(room, userId, now) {
      return prepared().banned.values(room, userId, now).length > 0;
    },
  };
}

function settingsOf(row: SettingsRow | undefined): RoomSettings {
  if (!row) return { private: false };
  const [isPrivate, title] = row;
  return title === null ? { private: isPrivate === 1 } : { private: isPrivate === 1, title };
}

function banOf([userId, reason, until, createdAt]: BanRow): Ban {
  return { userId, ...(reason === null ? {} : { reason }), ...(until === null ? {} : { until }), createdAt };
}
