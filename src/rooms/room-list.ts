// GET /rooms a page at a time. The order: rooms with people in them but no message yet (by
// name), then every room with messages, most recent first. The cursor (`next`) is opaque to
// clients: `~<room>` within the first part, the last room's newest message id within the second.
import { ROOM_CURSOR } from "../protocol/limits";
import type { RoomSummary } from "../protocol/rest";
import type { MessageStore } from "./ports";

export type RoomCursor = { kind: "unwritten"; after: string } | { kind: "stored"; before: number };

export function parseRoomCursor(text: string | undefined): RoomCursor | undefined {
  if (text === undefined || !ROOM_CURSOR.test(text)) return undefined;
  return text.startsWith("~") ? { kind: "unwritten", after: text.slice(1) } : { kind: "stored", before: Number(text) };
}

/**
 * Names kept sorted (live rooms with no stored message): a page is a binary search and a slice,
 * never a walk over every live room.
 */
export class SortedNames {
  private names: string[] = [];

  add(name: string) {
    const at = this.lowerBound(name);
    if (this.names[at] !== name) this.names.splice(at, 0, name);
  }

  delete(name: string) {
    const at = this.lowerBound(name);
    if (this.names[at] === name) this.names.splice(at, 1);
  }

  /** The first `limit` names greater than `after` (from the first without it). */
  after(after: string | undefined, limit: number): string[] {
    let from = 0;
    if (after !== undefined) {
      from = this.lowerBound(after);
      if (this.names[from] === after) from++;
    }
    return this.names.slice(from, from + limit);
  }

  get size() {
    return this.names.length;
  }

  private lowerBound(name: string): number {
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.names[mid]! < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export interface RoomPage {
  rooms: RoomSummary[];
  /** Pass it back as `after` for the next page; absent on the last one. */
  next?: string;
}

/** One page of the list: `limit + 1` rows are read at most, to know whether another page follows. */
export async function roomPage(
  store: MessageStore,
  unwritten: SortedNames,
  online: (room: string) => number,
  cursor: RoomCursor | undefined,
  limit: number,
): Promise<RoomPage> {
  const rooms: RoomSummary[] = [];
  if (cursor === undefined || cursor.kind === "unwritten") {
    const names = unwritten.after(cursor?.after, limit + 1);
    for (const room of names.slice(0, limit)) rooms.push({ room, online: online(room), lastMessageAt: null });
    if (names.length > limit) return { rooms, next: `~${rooms.at(-1)!.room}` };
  }
  const listed = new Set(rooms.map((r) => r.room)); // a first message stored meanwhile: listed once
  const want = limit - rooms.length;
  const stored = await store.rooms({ before: cursor?.kind === "stored" ? cursor.before : undefined, limit: want + 1 });
  for (const { room, lastMessageAt } of stored.slice(0, want)) {
    if (!listed.has(room)) rooms.push({ room, online: online(room), lastMessageAt });
  }
  if (stored.length <= want) return { rooms };
  // A page filled by rooms without messages goes on after its last one, then from the top.
  return { rooms, next: want === 0 ? `~${rooms.at(-1)!.room}` : String(stored[want - 1]!.lastId) };
}
