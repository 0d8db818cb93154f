// Fan-out on this node: Bun's native topics (one topic per room). src/bus/redis.ts implements
// the same port across nodes: publish locally, then to the other nodes.
import type { Fanout, Peer, RoomBus } from "../rooms/ports";

const OPEN = 1;

/** Anything with Bun's `server.publish` (resolved lazily: the server exists only once listening). */
export type Publisher = { publish(topic: string, data: string): number };

/** To every member of the room on this node; with `from`, to all but that member. */
export function publishHere(server: () => Publisher | null | undefined, room: string, data: string, from?: Peer) {
  // From a member still connected: its own topic publish skips it (it gets its copy apart).
  if (from && from.readyState === OPEN) from.publish(room, data);
  else server()?.publish(room, data);
}

export function localFanout(server: () => Publisher | null | undefined): Fanout {
  return { publish: (room, data, from) => publishHere(server, room, data, from) };
}

/** The one-node bus: no other node to hear from, so membership is a no-op and it is always up. */
export function localBus(server: () => Publisher | null | undefined): RoomBus {
  return {
    node: "local",
    publish: (room, data, from) => publishHere(server, room, data, from),
    join: async () => {},
    leave() {},
    deliver: (room, data, from) => publishHere(server, room, data, from),
    relay() {},
    onRemote() {},
    status: () => ({ up: true, reconnects: 0, remoteFrames: 0, dropped: 0 }),
    close: async () => {},
  };
}
