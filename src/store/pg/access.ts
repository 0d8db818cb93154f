// Room settings and bans on PostgreSQL: each read one lookup of a primary key (a ban check runs
// on every verified join), each write one statement on the pool, beside the message writer:
// nothing orders them against messages, and any node may run them.
import { and, asc, eq, gt, inArray, isNotNull, isNull, lte, or, sql } from "drizzle-orm";
import type { BunSQLDatabase } from "drizzle-orm/bun-sql";
import type { AccessStore, Ban, RoomSettings } from "../../rooms/ports";
import { checkedTerms } from "../ban-terms";
import { bans, roomSettings } from "./schema";
import { pgText } from "./text";

/** `open` throws once the store is closed: writes are refused like appends. */
export function pgAccess(db: BunSQLDatabase, open: () => void): AccessStore {
  const p = sql.placeholder;
  const inEffect = or(isNull(bans.until), gt(bans.until, p("now")));
  // The reads' SQL is written once, on first use: Drizzle's builder cost ~80 us a call here, more
  // than the round trip of the lookup itself.
  let reads: ReturnType<typeof prepareReads> | undefined;
  const prepareReads = () => ({
    settings: db.select({ private: roomSettings.private, title: roomSettings.title }).from(roomSettings).where(eq(roomSettings.room, p("room"))).prepare("room_settings"),
    banned: db
      .select({ one: sql`1` })
      .from(bans)
      .where(and(eq(bans.room, p("room")), eq(bans.userId, p("userId")), inEffect))
      .prepare("is_banned"),
    bans: db
      .select({ userId: bans.userId, reason: bans.reason, until: bans.until, createdAt: bans.createdAt })
      .from(bans)
      .where(and(eq(bans.room, p("room")), inEffect))
      .orderBy(asc(bans.userId))
      .prepare("bans"),
  });
  const settings = async (room: string) => {
    const [row] = await (reads ??= prepareReads()).settings.execute({ room: pgText(room) });
    return settingsOf(row);
  };
  return {
    roomSettings: settings,
    async privateRooms(rooms) {
      if (rooms.length === 0) return new Set();
      const rows = await db
        .select({ room: roomSettings.room })
        .from(roomSettings)
        .where(and(eq(roomSettings.private, true), inArray(roomSettings.room, rooms.map(pgText))));
      return new Set(rows.map((row) => row.room));
    },
    async setRoomSettings(room, change) {
      open();
      const set: { private?: boolean; title?: string | null } = {};
      if (change.private !== undefined) set.private = change.private;
      if (change.title !== undefined) set.title = change.title === null ? null : pgText(change.title);
      if (Object.keys(set).length === 0) return settings(room);
      // One statement: two nodes changing different fields at once both keep their change.
      const [row] = await db
        .insert(roomSettings)
        .values({ room: pgText(room), ...set })
        .onConflictDoUpdate({ target: roomSettings.room, set })
        .returning({ private: roomSettings.private, title: roomSettings.title });
      return settingsOf(row);
    },
    async ban(room, userId, terms, now) {
      open();
      const { reason, until } = checkedTerms(terms, now);
      room = pgText(room);
      await db.transaction(async (tx) => {
        // Ended bans of the room go with its next ban: the table holds little more than bans in effect.
        await tx.delete(bans).where(and(eq(bans.room, room), isNotNull(bans.until), lte(bans.until, now)));
        const terms = { reason: reason === undefined ? null : pgText(reason), until: until ?? null, createdAt: now };
        await tx
          .insert(bans)
          .values({ room, userId: pgText(userId), ...terms })
          .onConflictDoUpdate({ target: [bans.room, bans.userId], set: terms });
      });
    },
    async unban(room, userId) {
      open();
      await db.delete(bans).where(and(eq(bans.room, pgText(room)), eq(bans.userId, pgText(userId))));
    },
    async bans(room, now) {
      return (await (reads ??= prepareReads()).bans.execute({ room: pgText(room), now })).map(banOf);
    },
    async isBanned(room, userId, now) {
      return (await (reads ??= prepareReads()).banned.execute({ room: pgText(room), userId: pgText(userId), now })).length > 0;
    },
  };
}

function settingsOf(row: { private: boolean; title: string | null } | undefined): RoomSettings {
  if (!row) return { private: false };
  return row.title === null ? { private: row.private } : { private: row.private, title: row.title };
}

function banOf({ userId, reason, until, createdAt }: { userId: string; reason: string | null; until: number | null; createdAt: number }): Ban {
  return { userId, ...(reason === null ? {} : { reason }), ...(until === null ? {} : { until }), createdAt };
}
