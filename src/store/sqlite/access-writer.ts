// Room settings and bans, written on the writing connection (writer.ts) like messages: in call
// order with the batches, and a moderation call that finds the write lock taken waits for it on a
// timer like a batch (index.ts), never in SQLite's busy handler on the event loop.
import type { Database } from "bun:sqlite";
import type { BanTerms, RoomSettings, RoomSettingsChange } from "../../rooms/ports";
import type { AccessWriterSql } from "./wire";

type SettingsRow = { private: number; title: string | null };

export type AccessWrites = ReturnType<typeof accessWrites>;

export function accessWrites(client: Database, sql: AccessWriterSql) {
  const settingsOf = client.prepare<SettingsRow, [string]>(sql.settingsOf);
  const settingsPut = client.prepare<unknown, [string, number, string | null]>(sql.settingsPut);
  const banPut = client.prepare<unknown, [string, string, string | null, number | null, number]>(sql.banPut);
  const bansEnded = client.prepare<unknown, [string, number]>(sql.bansEnded);
  const banDelete = client.prepare<unknown, [string, string]>(sql.banDelete);

  // Read, merge, write: one transaction on the only connection that writes, so nothing can come between.
  const setRoom = client.transaction((room: string, change: RoomSettingsChange): RoomSettings => {
    const [now] = settingsOf.all(room); // all(), not get(): a statement left stepping holds its transaction open
    const isPrivate = change.private ?? Boolean(now?.private);
    const title = change.title === undefined ? (now?.title ?? null) : change.title;
    settingsPut.run(room, isPrivate ? 1 : 0, title);
    return title === null ? { private: isPrivate } : { private: isPrivate, title };
  });
  // Ended bans of the room go with its next ban: the table holds little more than bans in effect.
  const ban = client.transaction((room: string, userId: string, terms: BanTerms, now: number) => {
    bansEnded.run(room, now);
    banPut.run(room, userId, terms.reason ?? null, terms.until ?? null, now);
  });

  return {
    setRoom: (room: string, change: RoomSettingsChange) => setRoom.immediate(room, change),
    ban: (room: string, userId: string, terms: BanTerms, now: number) => void ban.immediate(room, userId, terms, now),
    unban: (room: string, userId: string) => void banDelete.run(room, userId),
  };
}
