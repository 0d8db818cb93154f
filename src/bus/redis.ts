// Fan-out across nodes over Redis pub/sub, on Bun's own RedisClient (socket.io-adapter's shape).
// One channel per room, held while this node has members there. Every frame still goes to this
// node's members at once, and to Redis in an envelope (./envelope.ts) that names the sending
// node, so a node drops its own echo. Pub/sub is at-most-once: a frame sent while a link is down
// is lost, not queued. The owner learns of it from `state(false)`, then `state(true)`, and fills
// the gap from the store.
//
// Bun's client, as measured here (1.4.5): it reconnects by itself, but a new connection holds
// no subscriptions while the client still remembers the old listeners, so subscribing again
// naively delivers every message twice; `onclose` fires only once it gives up retrying (20
// tries), never on the drop itself; a subscribed connection runs no other command.
import { RedisClient } from "bun";
import { randomUUID } from "node:crypto";
import type { BusEvents, FrameMeta, RemoteMeta, RoomBus } from "../rooms/ports";
import { decodeEnvelope, encodeEnvelope } from "./envelope";
import { publishHere, type Publisher } from "./local";

export const channelOf = (room: string) => `chat:room:${room}`;

export interface RedisBusOptions {
  url: string;
  /** This node's Bun server, for delivery to its own members. */
  server: () => Publisher | null | undefined;
  events?: BusEvents;
  /** Ms between reads of the links' state: Bun reports no drop while it retries. */
  checkEvery?: number;
  /** Ms before connecting again once Bun's client has given up its own retries. */
  retryEvery?: number;
  /** Bytes waiting for Redis beyond which frames are dropped: a hung Redis must not eat memory. */
  maxBuffered?: number;
}

export function openRedisBus(options: RedisBusOptions): RoomBus {
  const { server, events = {}, maxBuffered = 16 * 1024 * 1024 } = options;
  const node = randomUUID();
  // No offline queue: a frame held back for a while would reach the other nodes late and out of
  // order with the store, which gap repair handles better than a burst of stale frames.
  const clientOptions = { enableOfflineQueue: false, connectionTimeout: 2_000 };
  const pub = new RedisClient(options.url, clientOptions);
  // Its own connection (what `duplicate()` opens, without needing `pub` up first): once
  // subscribed, a connection takes no other command.
  const sub = new RedisClient(options.url, clientOptions);

  const rooms = new Set<string>(); // rooms with members here: the channels to hold
  const held = new Set<string>(); // the channels `sub` holds on its current connection
  let generation = 0; // `sub`'s connections so far
  let cleaned = -1; // the connection whose stale listeners were dropped
  let syncing = Promise.resolve();
  let queued = false;
  let up = false;
  let closed = false;
  const counts = { reconnects: 0, remoteFrames: 0, dropped: 0 };
  let handler: (room: string, data: string, meta: RemoteMeta) => void = (room, data) => void server()?.publish(room, data);

  function report() {
    const now = !closed && pub.connected && sub.connected && cleaned === generation;
    if (now !== up) {
      up = now;
      events.state?.(now);
    }
  }

  function tick() {
    report();
    if (!closed && sub.connected && cleaned !== generation) sync(); // a sync that failed midway
  }

  /** Brings `sub`'s channels to `rooms`, one step at a time (its replies come in order). */
  function sync() {
    if (queued) return;
    queued = true;
    syncing = syncing
      .then(async () => {
        queued = false;
        if (closed || !sub.connected) return; // the next connection syncs
        const connection = generation;
        if (cleaned !== connection) {
          // The old connection's listeners, or each frame would come twice. A client that
          // never subscribed throws (synchronously) instead: nothing to drop then.
          try {
            await sub.unsubscribe();
          } catch (error) {
            if ((error as { code?: string }).code !== "ERR_REDIS_INVALID_STATE") throw error;
          }
          held.clear();
          if (connection === generation) cleaned = connection;
        }
        const leaving = [...held].filter((room) => !rooms.has(room));
        if (leaving.length) {
          await sub.unsubscribe(leaving.map(channelOf));
          for (const room of leaving) held.delete(room);
        }
        const joining = [...rooms].filter((room) => !held.has(room));
        if (joining.length) {
          await sub.subscribe(joining.map(channelOf), receive);
          for (const room of joining) held.add(room);
        }
      })
      .catch(() => {
        cleaned = -1; // the connection dropped midway: start clean (the next tick retries)
      })
      .then(report);
  }

  function receive(message: string, channel: string) {
    const decoded = decodeEnvelope(message);
    if (!decoded || channelOf(decoded.envelope.room) !== channel) {
      events.error?.(new Error(`not a chat frame on ${channel}`));
      return;
    }
    const { envelope, frame } = decoded;
    if (envelope.node === node || !rooms.has(envelope.room)) return; // own echo, or a room just left
    counts.remoteFrames++;
    try {
      const { room, ...meta } = envelope;
      handler(room, frame, meta);
    } catch (error) {
      events.error?.(error);
    }
  }

  function watch(client: RedisClient, connected = () => {}) {
    let before = false;
    client.onconnect = () => {
      if (before) counts.reconnects++;
      before = true;
      connected();
      report(); // the drop, even when no tick fell inside it
    };
    client.onclose = () => {
      report();
      if (!closed) setTimeout(() => !closed && client.connect().catch(() => {}), options.retryEvery ?? 1_000).unref();
    };
    client.connect().catch(() => {}); // onclose retries
  }
  function relay(room: string, data: string, meta: FrameMeta) {
    if (closed) return;
    if (!pub.connected || pub.bufferedAmount > maxBuffered) {
      counts.dropped++;
      return;
    }
    pub.publish(channelOf(room), encodeEnvelope({ ...meta, node, room }, data)).catch(() => counts.dropped++);
  }

  watch(pub);
  watch(sub, () => {
    generation++;
    sync();
  });
  const watchdog = setInterval(tick, options.checkEvery ?? 250);
  watchdog.unref();

  return {
    node,
    publish(room, data, from) {
      publishHere(server, room, data, from);
      relay(room, data, {});
    },
    relay,
    join(room) {
      rooms.add(room);
      sync(); // a no-op when the room is held already
      return syncing; // settles once the sync that holds the room is through
    },
    leave(room) {
      if (!rooms.delete(room)) return;
      sync();
    },
    deliver: (room, data, from) => publishHere(server, room, data, from),
    onRemote(fn) {
      handler = fn;
    },
    status: () => ({ up, ...counts }),
    async close() {
      closed = true;
      clearInterval(watchdog);
      rooms.clear();
      report();
      pub.close();
      sub.close();
    },
  };
}
