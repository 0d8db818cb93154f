// A MessageStore and an AccessStore in memory: every promise of the ports (src/rooms/ports.ts),
// nothing durable. For tests of the room logic without disk, and as the plainest reading of the
// ports. Ids are one sequence for all rooms, never reused, as the SQLite store gives them; retries are
// matched by the same window of recent clientIds as the SQLite store's. The data lives in a
// MemoryDatabase, which a test may keep to open a store on it again (a restart) or to make it
// refuse a row.
import type { Message } from "../../protocol/frames";
import type { AccessStore, Appended, Ban, Draft, MessageStore, PageQuery, RoomSettings, RoomsQuery, StoredRoom } from "../../rooms/ports";
import { RecentClientIds, type RecentClientIdsOptions } from "../recent-client-ids";
import { storedMessage } from "../stored-message";
import { memoryAccess, type MemoryAccessData } from "./access";

export interface StoredMessage extends Message {
  clientId?: string;
}

interface Room {
  /** Ascending by id. */
  messages: StoredMessage[];
  lastId: number;
  lastMessageAt: number;
}

/** What a store keeps, apart from the store: it outlives a close, as a database file would. */
export class MemoryDatabase implements MemoryAccessData {
  readonly rooms = new Map<string, Room>();
  readonly byId = new Map<number, StoredMessage>();
  /**
   * (room, lastId) each time a room got messages, so ascending by lastId: rooms() walks it back
   * from the end and skips the entries a newer one replaced, and so reads about `limit` of them,
   * however many rooms there are (it is compacted when half of it is replaced entries).
   */
  order: { room: string; lastId: number }[] = [];
  lastId = 0;
  readonly settings = new Map<string, RoomSettings>();
  readonly bans = new Map<string, Map<string, Ban>>();
  /** Throws to refuse a row, as an engine's constraint would: its whole batch is rolled back. */
  check?: (draft: Draft) => void;

  /** Every message, in id order (what another connection would read). */
  rows(): StoredMessage[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }
}

export interface MemoryStoreOptions {
  /** The data to open (default: a new, empty one). */
  database?: MemoryDatabase;
  /** How long and how many clientIds are remembered for retries (default: 10 minutes, 100,000). */
  clientIds?: RecentClientIdsOptions;
  /** Called after each commit with its size and duration (metrics). */
  onCommit?: (rows: number, ms: number) => void;
}

export function openMemoryStore(options: MemoryStoreOptions = {}) {
  const db = options.database ?? new MemoryDatabase();
  const clientIds = new RecentClientIds(options.clientIds ?? { windowMs: 10 * 60_000, max: 100_000 });
  // A reopened store remembers the clientIds of the window, as the SQLite store refills its own.
  for (const m of db.rows()) if (m.clientId !== undefined) clientIds.add(m.room, m.name, m.clientId, m.id, m.timestamp);
  let closed = false;
  /** Appends are committed in call order, each a turn after its call, as a real store's would be. */
  let committed: Promise<unknown> = Promise.resolve();
  // Reads stop at the highest id handed back (as the SQLite store's do): a row committed whose
  // append has not resolved is not delivered yet, and a join must not find it in its history.
  let visibleUpTo = db.lastId;

  const current = ({ room, lastId }: { room: string; lastId: number }) => db.rooms.get(room)?.lastId === lastId;

  function commit(drafts: Draft[]): Appended[] {
    // All of a batch or nothing: nothing is changed until every row passed.
    for (const d of drafts) db.check?.(d);
    const results: Appended[] = [];
    const fresh: StoredMessage[] = [];
    const inBatch = new Map<string, Message>();
    const lastOf = new Map<string, number>(); // room -> its newest id so far, this batch included
    let next = db.lastId;
    for (const d of drafts) {
      const key = d.clientId === undefined ? undefined : JSON.stringify([d.room, d.name, d.clientId]);
      if (key !== undefined) {
        const earlier = inBatch.get(key) ?? db.byId.get(clientIds.get(d.room, d.name, d.clientId!, d.timestamp) ?? -1);
        if (earlier) {
          results.push({ message: plain(earlier), fresh: false });
          continue;
        }
      }
      const message = storedMessage(++next, d.room, d.name, d.message, d.timestamp, d.userId);
      if (key !== undefined) inBatch.set(key, message);
      fresh.push(d.clientId === undefined ? { ...message } : { ...message, clientId: d.clientId });
      results.push({ message, fresh: true, prev: lastOf.get(d.room) ?? db.rooms.get(d.room)?.lastId ?? 0 });
      lastOf.set(d.room, message.id);
    }
    db.lastId = next;
    const touched = new Set<Room>();
    for (const stored of fresh) {
      let room = db.rooms.get(stored.room);
      if (!room) db.rooms.set(stored.room, (room = { messages: [], lastId: 0, lastMessageAt: 0 }));
      room.messages.push(stored);
      room.lastId = stored.id;
      room.lastMessageAt = stored.timestamp;
      touched.add(room);
      db.byId.set(stored.id, stored);
      if (stored.clientId !== undefined) clientIds.add(stored.room, stored.name, stored.clientId, stored.id, stored.timestamp);
    }
    for (const room of [...touched].sort((a, b) => a.lastId - b.lastId)) db.order.push({ room: room.messages[0]!.room, lastId: room.lastId });
    if (db.order.length > 64 && db.order.length > 2 * db.rooms.size) db.order = db.order.filter(current);
    return results;
  }

  const store: MessageStore & AccessStore & { readonly database: MemoryDatabase } = {
    database: db,

    append(drafts) {
      if (closed) return Promise.reject(new Error("store closed"));
      const started = performance.now();
      const done = committed.then(() => {
        const results = commit(drafts);
        options.onCommit?.(drafts.length, performance.now() - started);
        for (const { message } of results) if (message.id > visibleUpTo) visibleUpTo = message.id;
        return results;
      });
      committed = done.catch(() => undefined);
      return done;
    },

    async page(room, { before, after, limit }: PageQuery) {
      const all = db.rooms.get(room)?.messages ?? [];
      const from = after === undefined ? 0 : firstAbove(all, after);
      const to = firstAbove(all, before === undefined ? visibleUpTo : Math.min(before - 1, visibleUpTo));
      if (limit <= 0 || from >= to) return [];
      return (after !== undefined ? all.slice(from, Math.min(to, from + limit)) : all.slice(Math.max(from, to - limit), to)).map(plain);
    },

    async rooms({ before, limit }: RoomsQuery): Promise<StoredRoom[]> {
      const listed: StoredRoom[] = [];
      const order = db.order;
      for (let i = before === undefined ? order.length - 1 : firstAbove(order, before - 1) - 1; i >= 0 && listed.length < limit; i--) {
        const entry = order[i]!;
        if (!current(entry)) continue;
        listed.push({ room: entry.room, lastId: entry.lastId, lastMessageAt: db.rooms.get(entry.room)!.lastMessageAt });
      }
      return listed;
    },

    async prune(olderThan) {
      if (closed) throw new Error("store closed");
      await committed; // after the appends called before it, as the writer would run them
      let deleted = 0;
      for (const [name, room] of db.rooms) {
        const kept = room.messages.filter((m) => m.timestamp >= olderThan);
        deleted += room.messages.length - kept.length;
        for (const m of room.messages) if (m.timestamp < olderThan) db.byId.delete(m.id);
        // A room whose every message is gone leaves the list; one with some keeps its place.
        if (kept.length) room.messages = kept;
        else db.rooms.delete(name);
      }
      return deleted;
    },

    ...memoryAccess(db, () => {
      if (closed) throw new Error("store closed");
    }),

    async close() {
      if (closed) return;
      closed = true;
      await committed;
    },
  };
  return store;
}

/** A stored message as the port returns it: without its clientId. */
function plain({ id, room, name, message, timestamp, userId }: Message): Message {
  return storedMessage(id, room, name, message, timestamp, userId);
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
