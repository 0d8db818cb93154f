// A node's link to the others: the Redis bus (frames) and the Redis presence directory (rosters),
// sharing one node id. The owner (the hub) hears when the link comes back after a drop, when
// frames from other nodes may have been lost and must be caught up from the store.
import type { Logger } from "../log";
import type { PresenceDirectory, RoomBus } from "../rooms/ports";
import type { Publisher } from "./local";
import { openRedisBus } from "./redis";
import { openRedisPresence } from "./redis-presence";

export interface ClusterLink {
  bus: RoomBus;
  directory: PresenceDirectory;
  /** Called each time the link comes up (the first time too: rooms may have gone live while it was down). */
  onLinkBack(fn: () => void): void;
  /**
   * Resolves once the link is up, or after `timeoutMs` without it (true: up). A node waits for
   * it before it listens, so that its first /health and its first joins find the link up; a
   * node whose Redis is down starts all the same and serves its own members.
   */
  ready(timeoutMs: number): Promise<boolean>;
}

export interface ClusterOptions {
  url: string;
  /** This node's Bun server, for delivery to its own members (resolved lazily). */
  server: () => Publisher | null | undefined;
  /** Ms a node's heartbeat lives: how soon a dead node's members leave the others' rosters. */
  nodeTtlMs?: number;
  log?: Logger;
}

export function openCluster({ url, server, nodeTtlMs, log }: ClusterOptions): ClusterLink {
  let linkBack = () => {};
  let wasUp = false;
  const firstUp = Promise.withResolvers<boolean>();
  const bus = openRedisBus({
    url,
    server,
    events: {
      state(up) {
        if (up === wasUp) return;
        wasUp = up;
        if (up) {
          firstUp.resolve(true);
          log?.info("redis up", {});
          linkBack();
        } else log?.warn("redis down: serving this node's members only until it is back", {});
      },
      error: (error) => log?.warn("a frame from another node was dropped", { error: String(error) }),
    },
  });
  // A third of the ttl between checks: a dead node is noticed within ttl * 4/3.
  const ttl = nodeTtlMs;
  const directory = openRedisPresence({ url, node: bus.node, ttl, checkEvery: ttl === undefined ? undefined : Math.max(100, Math.round(ttl / 3)) });
  return {
    bus,
    directory,
    onLinkBack(fn) {
      linkBack = fn;
    },
    ready(timeoutMs) {
      const timer = setTimeout(() => firstUp.resolve(false), timeoutMs);
      return firstUp.promise.finally(() => clearTimeout(timer));
    },
  };
}
