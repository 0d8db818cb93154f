// How a room's messages reach this node's members in id order, exactly once, when several nodes
// write to the room. Every stored message carries `prev`, the id of the room's message before it
// (the store gives it, under the room's lock). This node remembers the last id it delivered:
//
// - a message whose `prev` is that id (or older) comes next: deliver it;
// - one whose id is not above it was delivered already (a frame heard twice, or read from the
//   store by a repair first): drop it;
// - one whose `prev` is newer: something between was missed (pub/sub is at-most-once, and two
//   nodes' frames may cross). Hold it, read the store from the last delivered id on, deliver
//   what was missed in order, then what was held.
//
// This node's own messages take the same path, so a local message committed after another
// node's (not heard yet) waits for the repair too, and its sender's ack still comes in order.
// One repair at a time per room; what arrives meanwhile is held. No I/O here: the store read and
// the delivery are given.
import type { Message } from "../protocol/frames";
import type { Timers } from "./presence";

/** A message offered for delivery: its place in the room, and what delivering it does. */
export interface Sequenced {
  id: number;
  prev: number;
  /** Delivers it (to this node's members; a local one also acks its sender). */
  deliver(): void;
  /** It was delivered already by another path (the store's copy): a local one still acks. */
  duplicate?(): void;
}

export interface SequenceIo {
  /** The room's stored messages with id > after, oldest first, at most `limit` (store.page). */
  read(after: number, limit: number): Promise<Message[]>;
  /** Delivers a message a repair found in the store that nobody offered. */
  deliverStored(message: Message): void;
  /** A repair delivered `count` messages from the store (metrics). */
  filled?(count: number): void;
  /** A repair's read failed: it is retried. */
  failed?(error: unknown): void;
  timers: Timers;
}

/** Messages a repair reads per store round trip. */
const REPAIR_PAGE = 500;
/** Ms before a repair that could not close the gap tries again (doubling, up to the max). */
const RETRY_MS = 50;
const RETRY_MAX_MS = 2_000;

export class RoomSequence {
  /** The last id delivered here; undefined until the room's history is loaded (`start`). */
  private delivered: number | undefined;
  /** Offered but not deliverable yet, by id. */
  private readonly held = new Map<number, Sequenced>();
  private repairing = false;
  /** A repair was asked for while one ran (the link came back): run another after it. */
  private again = false;
  private retryMs = RETRY_MS;
  private timer: unknown;
  private stopped = false;

  constructor(private readonly io: SequenceIo) {}

  /** The last id delivered to this node's members (0 before any). */
  get last(): number {
    return this.delivered ?? 0;
  }

  /** The room's history was read up to `last` (its newest stored id, 0 for none): go on from there. */
  start(last: number) {
    this.delivered = Math.max(last, this.delivered ?? 0);
    this.settle();
  }

  offer(item: Sequenced) {
    const last = this.delivered;
    if (last !== undefined && !this.repairing && this.held.size === 0) {
      // The hot path: in order, nothing held.
      if (item.id <= last) return item.duplicate?.();
      if (item.prev <= last) {
        this.delivered = item.id;
        return item.deliver();
      }
    }
    if (last !== undefined && item.id <= last) return item.duplicate?.();
    this.held.set(item.id, item);
    if (last !== undefined) this.settle();
  }

  /** Frames may have been missed (the link to the other nodes came back): catch up from the store. */
  repair() {
    if (this.delivered === undefined || this.stopped) return; // the load reads the store anyway
    if (this.repairing) this.again = true;
    else void this.run();
  }

  /** The room is freed: nothing more is delivered. */
  stop() {
    this.stopped = true;
    this.held.clear();
    if (this.timer !== undefined) this.io.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Messages held, waiting for a gap to be filled (tests, metrics). */
  get waiting(): number {
    return this.held.size;
  }

  /** Delivers what is held and now next in line; repairs when a gap is left. */
  private settle() {
    if (this.repairing || this.stopped) return;
    const gap = this.flush();
    if (gap) void this.run();
  }

  /** Held messages in id order: duplicates dropped, the next ones delivered. True when a gap remains. */
  private flush(): boolean {
    if (this.held.size === 0) return false;
    const ids = [...this.held.keys()].sort((a, b) => a - b);
    for (const id of ids) {
      const item = this.held.get(id)!;
      const last = this.delivered!;
      if (id <= last) {
        this.held.delete(id);
        item.duplicate?.();
      } else if (item.prev <= last) {
        this.held.delete(id);
        this.delivered = id;
        item.deliver();
      } else return true;
    }
    return false;
  }

  private async run() {
    if (this.timer !== undefined) this.io.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.repairing = true;
    let progressed = false;
    try {
      do {
        this.again = false;
        for (;;) {
          const page = await this.io.read(this.delivered!, REPAIR_PAGE);
          if (this.stopped) return;
          let filled = 0;
          for (const message of page) {
            if (message.id <= this.delivered!) continue;
            this.delivered = message.id;
            const offered = this.held.get(message.id);
            if (offered) {
              this.held.delete(message.id);
              offered.deliver(); // this node's own message, or one heard: its own delivery (the ack)
            } else {
              filled++;
              this.io.deliverStored(message);
            }
            progressed = true;
          }
          if (filled) this.io.filled?.(filled);
          if (page.length < REPAIR_PAGE) break;
        }
      } while (this.again);
    } catch (error) {
      this.io.failed?.(error);
    } finally {
      this.repairing = false;
    }
    if (this.stopped) return;
    if (progressed) this.retryMs = RETRY_MS;
    if (!this.flush()) return;
    // A gap the store could not fill yet (the missing row is this node's own, still resolving,
    // or the read failed): try again in a moment rather than at once.
    this.timer = this.io.timers.setTimeout(() => {
      this.timer = undefined;
      if (!this.repairing && this.flush()) void this.run();
    }, this.retryMs);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
  }
}
