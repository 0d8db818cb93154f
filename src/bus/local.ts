// Fan-out on this node: Bun's native topics (one topic per room). A multi-node bus (Redis)
// would implement the same interface: publish locally, then to the other nodes.
import type { Fanout, Peer } from "../rooms/ports";

const OPEN = 1;

/** Anything with Bun's `server.publish` (resolved lazily: the server exists only once listening). */
type Publisher = { publish(topic: string, data: string): number };

export function localFanout(server: () => Publisher | null | undefined): Fanout {
  return {
    publish(room, data, from?: Peer) {
      // From a member still connected: its own topic publish skips it (it gets its copy apart).
      if (from && from.readyState === OPEN) from.publish(room, data);
      else server()?.publish(room, data);
    },
  };
}
