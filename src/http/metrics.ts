// Prometheus metrics (prom-client), one Registry per app instance so that tests can run many.
// The hot path only bumps plain numbers (`tally`); prom-client reads them when /metrics is
// scraped, through each metric's `collect`; the commits' two histograms are plain numbers too.
// prom-client itself is loaded on first use (a scrape): it is a quarter of the binary's start-up
// time, and a server that is never scraped need not pay it.
import type * as Prom from "prom-client";
import { ERROR_CODES, type ErrorCode } from "../protocol/limits";
import type { AbusablePeer } from "../rooms/hub";
import type { Fanout, RoomBus } from "../rooms/ports";
import type { Socket } from "./socket";

/**
 * Why a socket was closed other than by its client's close frame. `slow_or_lost`: closed without
 * a close frame (1006) and not by the heartbeat. Bun closes a slow consumer (over the buffer
 * limit, closeOnBackpressureLimit) that way and reports it to the close handler exactly like a
 * client that vanished (1006, no reason, nothing buffered), so slow consumers are counted there,
 * together with lost connections.
 */
export const CLOSE_REASONS = ["slow_or_lost", "dead_peer", "never_joined", "flooding", "frame_too_big", "protocol_error"] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

/** Why an upgrade was refused before it happened. */
export const REFUSE_REASONS = ["origin", "too_many_connections", "bad_room"] as const;
export type RefuseReason = (typeof REFUSE_REASONS)[number];

export interface Gauges {
  connections(): number;
  rooms(): number;
  clients(): number;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics() {
  const tally = {
    opened: 0,
    framesIn: 0,
    /** Frames queued for sending: a room publish counts each recipient. */
    framesOut: 0,
    stored: 0,
    errors: Object.fromEntries(ERROR_CODES.map((code) => [code, 0])) as Record<ErrorCode, number>,
    closed: Object.fromEntries(CLOSE_REASONS.map((reason) => [reason, 0])) as Record<CloseReason, number>,
    refused: Object.fromEntries(REFUSE_REASONS.map((reason) => [reason, 0])) as Record<RefuseReason, number>,
    /** Joins refused by the access rules (then closed 4401/4403), by error code. */
    joinsRefused: { unauthorized: 0, forbidden: 0 },
    /** Several nodes: message frames heard from other nodes, and messages gap repairs read from the store. */
    remoteMessages: 0,
    gapFilled: 0,
    /** Server API calls answered: "route\tstatus" -> count (routes are the API's few patterns). */
    api: new Map<string, number>(),
    /** Sockets closed by kicks (on the node that took the call), and bans imposed. */
    kicks: 0,
    bans: 0,
    /** Full collections run by the idle collector (src/http/idle-collect.ts). */
    idleCollections: 0,
  };
  /** Several nodes: times the link to Redis came back (the bus counts them). */
  let reconnects = () => 0;
  let gauges: Gauges = { connections: () => 0, rooms: () => 0, clients: () => 0 };
  let registered: ReturnType<typeof register> | undefined;
  const prom = () => (registered ??= register());

  function register() {
    const { Counter, Gauge, Registry } = require("prom-client") as typeof Prom;
    const registry = new Registry();

    /** A counter whose value lives in `tally`: collect() adds what changed since the last scrape. */
    function counter(name: string, help: string, read: () => number) {
      let reported = 0;
      return new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          const now = read();
          if (now > reported) this.inc(now - reported);
          reported = now;
        },
      });
    }
    function labelled<K extends string>(name: string, help: string, label: string, values: Record<K, number>) {
      const reported = {} as Record<K, number>;
      return new Counter({
        name,
        help,
        labelNames: [label],
        registers: [registry],
        collect() {
          for (const key of Object.keys(values) as K[]) {
            const delta = values[key] - (reported[key] ?? 0);
            // Every label value is exported (as 0 too), so rate() works from the first scrape.
            this.inc({ [label]: key }, delta);
            reported[key] = values[key];
          }
        },
      });
    }
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(read());
        },
      });

    gauge("chat_connections", "Open WebSocket connections", () => gauges.connections());
    gauge("chat_rooms", "Live rooms (with at least one member) on this node", () => gauges.rooms());
    gauge("chat_clients", "Client addresses with at least one open connection", () => gauges.clients());
    counter("chat_connections_opened_total", "WebSocket connections opened", () => tally.opened);
    counter("chat_frames_in_total", "Frames received from clients (valid or not; frames Bun itself refuses, such as oversize ones, are not counted)", () => tally.framesIn);
    counter("chat_frames_out_total", "Frames queued to clients; a room broadcast counts one per recipient", () => tally.framesOut);
    counter("chat_messages_stored_total", "Chat messages committed to the store", () => tally.stored);
    labelled("chat_errors_total", "Error frames sent, by code", "code", tally.errors);
    counter("chat_rate_limited_frames_total", "Frames refused by the rate limiters (messages and joins)", () => tally.errors.rate_limited);
    labelled("chat_sockets_closed_total", "Sockets the server closed itself, by reason", "reason", tally.closed);
    counter("chat_cluster_remote_messages_total", "Message frames heard from other nodes through Redis", () => tally.remoteMessages);
    counter("chat_cluster_gap_filled_total", "Messages this node missed on Redis and read from the database instead (gap repair)", () => tally.gapFilled);
    counter("chat_redis_reconnects_total", "Times a connection to Redis came back after a drop", () => reconnects());
    labelled("chat_joins_refused_total", "Joins refused by the access rules, by code (unauthorized: closed 4401; forbidden: closed 4403)", "code", tally.joinsRefused);
    counter("chat_kicks_total", "Sockets closed by kicks through the server API (on the node that took the call)", () => tally.kicks);
    counter("chat_bans_total", "Bans imposed through the server API", () => tally.bans);
    counter("chat_idle_collections_total", "Full garbage collections run when the server went quiet after many sockets opened", () => tally.idleCollections);
    const apiReported = new Map<string, number>();
    new Counter({
      name: "chat_api_requests_total",
      help: "Server API calls answered, by route and status",
      labelNames: ["route", "status"],
      registers: [registry],
      collect() {
        for (const [key, count] of tally.api) {
          const [route, status] = key.split("\t");
          this.inc({ route, status }, count - (apiReported.get(key) ?? 0));
          apiReported.set(key, count);
        }
      },
    });
    labelled("chat_upgrades_refused_total", "WebSocket upgrades refused before the upgrade, by reason", "reason", tally.refused);
    return { registry };
  }
  // Not prom-client's Histogram: its observe() cost ~2.5% of a message's CPU at 2,000 messages a
  // second (one per commit, on the event loop), and loaded prom-client with the first commit.
  const batch = tallyHistogram("chat_store_batch_size", "Messages per store commit (group commit)", [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]);
  const commit = tallyHistogram("chat_store_commit_seconds", "Duration of a store commit", [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);

  /**
   * Subscribed sockets per room, for counting the recipients of a publish (kept by MeteredPeer):
   * Bun's server.subscriberCount() walks every topic, too slow per message.
   */
  const subscribers = new Map<string, number>();

  return {
    tally,
    subscribers,
    /** The fan-out with each room publish counted as one frame out per recipient. */
    counted(fanout: Fanout): Fanout {
      return countedFanout(fanout, tally, subscribers);
    },
    /** A bus whose deliveries (frames to this node's members) are counted like a fan-out's. */
    countedBus(bus: RoomBus): RoomBus {
      const counted = countedFanout(bus, tally, subscribers);
      reconnects = () => bus.status().reconnects;
      return {
        node: bus.node,
        publish: counted.publish,
        deliver(room, data, from) {
          tally.framesOut += (subscribers.get(room) ?? 0) - (from ? 1 : 0);
          bus.deliver(room, data, from);
        },
        relay: (room, data, meta) => bus.relay(room, data, meta),
        join: (room) => bus.join(room),
        leave: (room) => bus.leave(room),
        onRemote: (handler) => bus.onRemote(handler),
        status: () => bus.status(),
        close: () => bus.close(),
      };
    },
    /** Where the gauges read from (set by createApp once it has its hub and connections). */
    watch(sources: Gauges) {
      gauges = sources;
    },
    /** For openSqliteStore's onCommit option. */
    onCommit(rows: number, ms: number) {
      batch.observe(rows);
      commit.observe(ms / 1000);
    },
    async text() {
      return (await prom().registry.metrics()) + batch.text() + commit.text();
    },
    get contentType() {
      return prom().registry.contentType;
    },
  };
}

/**
 * A socket as the hub sees it, counting the frames sent through it. One per socket (made on
 * open), so the hub's identity checks hold. `subscribers` is the app's own count of each room's
 * subscribed sockets: Bun's server.subscriberCount() walks every topic, too slow per message.
 */
export class MeteredPeer implements AbusablePeer {
  private topic?: string;

  constructor(
    readonly ws: Socket,
    private readonly tally: Metrics["tally"],
    private readonly subscribers: Map<string, number>,
  ) {}

  send(data: string): number {
    this.tally.framesOut++;
    return this.ws.send(data);
  }

  publish(topic: string, data: string): number {
    return this.ws.publish(topic, data); // counted by countedFanout
  }

  subscribe(topic: string): void {
    if (this.topic === undefined) {
      this.topic = topic;
      this.subscribers.set(topic, (this.subscribers.get(topic) ?? 0) + 1);
    }
    this.ws.subscribe(topic);
  }

  cork(fn: () => void): unknown {
    return this.ws.cork(fn);
  }

  get readyState(): number {
    return this.ws.readyState;
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  /** The socket closed (Bun unsubscribed it). */
  closed() {
    if (this.topic === undefined) return;
    const left = (this.subscribers.get(this.topic) ?? 1) - 1;
    if (left > 0) this.subscribers.set(this.topic, left);
    else this.subscribers.delete(this.topic);
    this.topic = undefined;
  }
}

/** A histogram in plain numbers, written in Prometheus' text format when scraped. */
function tallyHistogram(name: string, help: string, bounds: readonly number[]) {
  const counts = new Float64Array(bounds.length + 1); // the last: over every bound
  let sum = 0;
  return {
    observe(value: number) {
      let i = 0;
      while (i < bounds.length && value > bounds[i]!) i++;
      counts[i]!++;
      sum += value;
    },
    text(): string {
      const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
      let below = 0;
      for (let i = 0; i < bounds.length; i++) lines.push(`${name}_bucket{le="${bounds[i]}"} ${(below += counts[i]!)}`);
      below += counts[bounds.length]!;
      lines.push(`${name}_bucket{le="+Inf"} ${below}`, `${name}_sum ${sum}`, `${name}_count ${below}`);
      return `${lines.join("\n")}\n`;
    },
  };
}

/** Counts a room publish as one frame out per recipient (from the app's own subscriber counts). */
export function countedFanout(fanout: Fanout, tally: Metrics["tally"], subscribers: Map<string, number>): Fanout {
  return {
    publish(room, data, from) {
      tally.framesOut += (subscribers.get(room) ?? 0) - (from ? 1 : 0);
      fanout.publish(room, data, from);
    },
  };
}
