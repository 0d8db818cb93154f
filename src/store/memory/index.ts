// A MessageStore in memory: every promise of the port (src/rooms/ports.ts), nothing durable. For
// tests of the room logic without disk, and as the plainest reading of the port. Ids are one
// sequence for all rooms, as SQLite's AUTOINCREMENT gives them; retries are matched by the same
// window of recent clientIds as the SQLite store's.
import type { Message } from "../../protocol/frames";
import type { Appended, Draft, MessageStore, PageQuery, RoomsQuery, StoredRoom } from "../../rooms/ports";
import { RecentClientIds, type RecentClientIdsOptions } from "../recent-client-ids";

export interface MemoryStoreOptions {
  /** How long and how many clientIds are remembered for retries (default: 10 minutes, 100,000). */
  clientIds?: RecentClientIdsOptions;
}

interface Room {
  /** Ascending by id. */
  messages: Message[];
  lastId: number;
  lastMessageAt: number;
}

export function openMemoryStore(options: MemoryStoreOptions = {}) {
  const rooms = new Map<string, Room>();
  const byId = new Map<number, Message>();
  const clientIds = new RecentClientIds(options.clientIds ?? { windowMs: 10 * 60_000, max: 100_000 });
  /**
   * (room, lastId) each time a room got messages, so ascending by lastId: rooms() walks it back
   * from the end and skips the entries a newer one replaced, and so reads about `limit` of them,
   * however many rooms there are (it is compacted when half of it is replaced entries).
   */
  let order: { room: string; lastId: number }[] = [];
  let lastId = 0;
  let closed = false;
  /** Appends are committed in call order, each a turn after its call, as a real store's would be. */
  let committed: Promise<unknown> = Promise.resolve();

  const current = ({ room, lastId }: { room: string; lastId: number }) => rooms.get(room)?.lastId === lastId;

  function commit(drafts: Draft[]): Appended[] {
    // All of a batch or nothing: nothing is changed until every result is known.
    const results: Appended[] = [];
    const fresh: { message: Message; clientId?: string }[] = [];
    const inBatch = new Map<string, Message>();
    let next = lastId;
    for (const d of drafts) {
      if (d.clientId !== undefined) {
        const key = JSON.stringify([d.room, d.name, d.clientId]);
        const earlier = inBatch.get(key) ?? byId.get(clientIds.get(d.room, d.name, d.clientId, d.timestamp) ?? -1);
        if (earlier) {
          results.push({ message: earlier, fresh: false });
          continue;
        }
        const message = { id: ++next, room: d.room, name: d.name, message: d.message, timestamp: d.timestamp };
        inBatch.set(key, message);
        fresh.push({ message, clientId: d.clientId });
        results.push({ message, fresh: true });
        continue;
      }
      const message = { id: ++next, room: d.room, name: d.name, message: d.message, timestamp: d.timestamp };
      fresh.push({ message });
      results.push({ message, fresh: true });
    }
    lastId = next;
    const touched = new Set<Room>();
    for (const { message, clientId } of fresh) {
      let room = rooms.get(message.room);
      if (!room) rooms.set(message.room, (room = { messages: [], lastId: 0, lastMessageAt: 0 }));
      room.messages.push(message);
      room.lastId = message.id;
      room.lastMessageAt = message.timestamp;
      touched.add(room);
      byId.set(message.id, message);
      if (clientId !== undefined) clientIds.add(message.room, message.name, clientId, message.id, message.timestamp);
    }
    for (const room of [...touched].sort((a, b) => a.lastId - b.lastId)) order.push({ room: room.messages[0]!.room, lastId: room.lastId });
    if (order.length > 64 && order.length > 2 * rooms.size) order = order.filter(current);
    return results;
  }

  const store: MessageStore & { readonly size: number } = {
    append(drafts) {
      if (closed) return Promise.reject(new Error("store closed"));
      const done = committed.then(() => commit(drafts));
      committed = done.catch(() => undefined);
      return done;
    },

    async page(room, { before, after, limit }: PageQuery) {
      const all = rooms.get(room)?.messages ?? [];
      const from = after === undefined ? 0 : firstAbove(all, after);
      const to = before === undefined ? all.length : firstAbove(all, before - 1);
      if (limit <= 0 || from >= to) return [];
      return after !== undefined ? all.slice(from, Math.min(to, from + limit)) : all.slice(Math.max(from, to - limit), to);
    },

    async rooms({ before, limit }: RoomsQuery): Promise<StoredRoom[]> {
      const listed: StoredRoom[] = [];
      for (let i = before === undefined ? order.length - 1 : firstAbove(order, before - 1) - 1; i >= 0 && listed.length < limit; i--) {
        const entry = order[i]!;
        if (!current(entry)) continue;
        listed.push({ room: entry.room, lastId: entry.lastId, lastMessageAt: rooms.get(entry.room)!.lastMessageAt });
      }
      return listed;
    },

    async prune(olderThan) {
      if (closed) throw new Error("store closed");
      await committed; // after the appends called before it, as the writer would run them
      let deleted = 0;
      for (const [name, room] of rooms) {
        const kept = room.messages.filter((m) => m.timestamp >= olderThan);
        deleted += room.messages.length - kept.length;
        for (const m of room.messages) if (m.timestamp < olderThan) byId.delete(m.id);
        // A room whose every message is gone leaves the list; one with some keeps its place.
        if (kept.length) room.messages = kept;
        else rooms.delete(name);
      }
      return deleted;
    },

    async close() {
      if (closed) return;
      closed = true;
      await committed;
    },

    /** Messages stored (for tests). */
    get size() {
      return byId.size;
    },
  };
  return store;
}

/** Index of the first item with id (or lastId) > `above` in a list ascending by it. */
function firstAbove(list: readonly ({ id: number } | { lastId: number })[], above: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const item = list[mid]!;
    if (("id" in item ? item.id : item.lastId) <= above) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
