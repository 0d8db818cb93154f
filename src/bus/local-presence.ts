// Presence on one node: there are no other nodes, so nothing is loaded and no node ever dies;
// the rosters published are kept only to count GET /rooms' `online` the same way a cluster does.
// src/bus/redis-presence.ts implements the same port across nodes.
import type { NodeRoster, PresenceDirectory } from "../rooms/ports";

export function localPresence(node = "local"): PresenceDirectory {
  const mine = new Map<string, Set<string>>(); // room -> names online here
  const unwritten = new Set<string>();
  return {
    node,
    async publish(room, roster) {
      const names = new Set(online(roster));
      if (names.size) mine.set(room, names);
      else mine.delete(room);
    },
    load: async () => new Map(),
    counts: async (rooms) => new Map(rooms.map((room) => [room, mine.get(room)?.size ?? 0])),
    markUnwritten(room, state) {
      if (state === "unwritten") unwritten.add(room);
      else unwritten.delete(room);
    },
    unwrittenRooms: async () => [...unwritten].sort(),
    onNodeGone() {},
    onNodeBack() {},
    async close() {
      mine.clear();
    },
  };
}

/** The names a roster holds a socket of. */
export function online(roster: NodeRoster): string[] {
  return [...roster].filter(([, sockets]) => sockets > 0).map(([name]) => name);
}
