// Room settings and bans in memory: the AccessStore port read plainly, for tests of the room logic
// without disk. The data lives in the MemoryDatabase (index.ts), so it outlives a close.
import type { AccessStore, Ban, RoomSettings } from "../../rooms/ports";
import { checkedTerms } from "../ban-terms";

export interface MemoryAccessData {
  readonly settings: Map<string, RoomSettings>;
  /** room -> userId -> ban */
  readonly bans: Map<string, Map<string, Ban>>;
}

/** `open` throws once the store is closed: writes are refused like appends. */
export function memoryAccess(data: MemoryAccessData, open: () => void): AccessStore {
  const inEffect = (ban: Ban, now: number) => ban.until === undefined || ban.until > now;
  return {
    async roomSettings(room) {
      return { ...(data.settings.get(room) ?? { private: false }) };
    },
    async privateRooms(rooms) {
      return new Set(rooms.filter((room) => data.settings.get(room)?.private === true));
    },
    async setRoomSettings(room, change) {
      open();
      const now = data.settings.get(room) ?? { private: false };
      const isPrivate = change.private ?? now.private;
      const title = change.title === undefined ? now.title : (change.title ?? undefined);
      const settings: RoomSettings = title === undefined ? { private: isPrivate } : { private: isPrivate, title };
      data.settings.set(room, settings);
      return { ...settings };
    },
    async ban(room, userId, terms, now) {
      open();
      const { reason, until } = checkedTerms(terms, now);
      let banned = data.bans.get(room);
      if (!banned) data.bans.set(room, (banned = new Map()));
      // Ended bans of the room go with its next ban, as the databases' do.
      for (const [id, ban] of banned) if (!inEffect(ban, now)) banned.delete(id);
      banned.set(userId, { userId, ...(reason === undefined ? {} : { reason }), ...(until === undefined ? {} : { until }), createdAt: now });
    },
    async unban(room, userId) {
      open();
      data.bans.get(room)?.delete(userId);
    },
    async bans(room, now) {
      const banned = [...(data.bans.get(room)?.values() ?? [])].filter((ban) => inEffect(ban, now));
      return banned.sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0)).map((ban) => ({ ...ban }));
    },
    async isBanned(room, userId, now) {
      const ban = data.bans.get(room)?.get(userId);
      return ban !== undefined && inEffect(ban, now);
    },
  };
}
