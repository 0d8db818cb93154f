import type { Member, Message } from "../protocol/frames";
import type { AbusablePeer, Session } from "./hub";
import type { RoomRoster } from "./cluster-roster";
import type { Presence } from "./presence";
import type { RoomSequence } from "./room-sequence";

/**
 * The state of a room while it has members (the seed's Durable Object, in memory): who is
 * online, its clock, and its most recent messages, so that a join does not read the disk.
 * Freed when its last member leaves.
 */
export class LiveRoom {
  /** Sockets joined or joining: the room is freed when this drops to 0. */
  refs = 0;
  /** name -> sockets joined under it (the same person may join from two tabs). */
  private byName = new Map<string, number>();
  /**
   * identity -> its name, id and sockets (`history.members`): a verified user by its id
   * ("u" + userId), an anonymous one by its name ("n" + name).
   */
  private identities = new Map<string, Member & { sockets: number }>();
  /** This node's joined sockets, for moderation (kick, ban, a room turning private) to close. */
  readonly sockets = new Map<Session, AbusablePeer>();
  /** A contiguous suffix of the room's messages, ascending by id, at most `keep` long. */
  recent: Message[] = [];
  /** True when `recent` holds every message of the room (it has fewer than `keep`). */
  complete = false;
  private lastTimestamp = 0;
  loaded: Promise<void> = Promise.resolve();
  /** Its announcements of who joined and left (set by the hub that made the room). */
  presence!: Presence;
  /** Several nodes: who is online on all of them, and the order of the room's messages. */
  cluster?: { roster: RoomRoster; sequence: RoomSequence };

  constructor(
    readonly name: string,
    private readonly keep: number,
  ) {}

  /** Seeds the cache from the store; messages remembered meanwhile are merged, not lost. */
  seed(latest: Message[]) {
    this.complete = latest.length < this.keep;
    for (const message of latest) this.remember(message);
  }

  /** The room's clock: never goes backwards, even if the system clock does. */
  stamp(now: number): number {
    this.lastTimestamp = Math.max(now, this.lastTimestamp);
    return this.lastTimestamp;
  }

  remember(message: Message) {
    const recent = this.recent;
    this.lastTimestamp = Math.max(this.lastTimestamp, message.timestamp);
    const last = recent[recent.length - 1];
    if (!last || message.id > last.id) recent.push(message);
    else {
      // Rare: a seed arriving after newer messages were remembered. Keep ids sorted and unique.
      const at = recent.findIndex((m) => m.id >= message.id);
      if (recent[at]!.id === message.id) return;
      recent.splice(at, 0, message);
    }
    if (recent.length > this.keep) {
      recent.shift();
      this.complete = false;
    }
  }

  /** The last `limit` messages, oldest first. */
  latest(limit: number): Message[] {
    return limit > 0 ? this.recent.slice(-limit) : []; // slice(-0) would be everything
  }

  /** The first `limit` messages with id > since, or undefined when the cache cannot tell. */
  after(since: number, limit: number): Message[] | undefined {
    const recent = this.recent;
    const covered = this.complete || (recent.length > 0 && recent[0]!.id <= since + 1);
    if (!covered) return undefined;
    const from = recent.findIndex((m) => m.id > since);
    return from < 0 ? [] : recent.slice(from, from + limit);
  }

  /** Drops cached messages older than the cutoff (retention). */
  forget(olderThan: number) {
    const from = this.recent.findIndex((m) => m.timestamp >= olderThan);
    this.recent = from < 0 ? [] : this.recent.slice(from);
  }

  add(name: string, userId?: string) {
    this.byName.set(name, (this.byName.get(name) ?? 0) + 1);
    const key = userId === undefined ? `n${name}` : `u${userId}`;
    const identity = this.identities.get(key);
    if (identity) identity.sockets++;
    else this.identities.set(key, userId === undefined ? { name, sockets: 1 } : { name, userId, sockets: 1 });
  }

  remove(name: string, userId?: string) {
    const count = this.byName.get(name) ?? 0;
    if (count <= 1) this.byName.delete(name);
    else this.byName.set(name, count - 1);
    const key = userId === undefined ? `n${name}` : `u${userId}`;
    const identity = this.identities.get(key);
    if (identity && --identity.sockets <= 0) this.identities.delete(key);
  }

  /** Names now in the room, each once, in order of arrival. */
  online(): string[] {
    return [...this.byName.keys()];
  }

  /** Everyone in the room, each identity once, in order of arrival. */
  members(): Member[] {
    return [...this.identities.values()].map(({ name, userId }) => (userId === undefined ? { name } : { name, userId }));
  }

  /** Everyone in the room on this node, each identity once, with its sockets. */
  memberSockets(): (Member & { connections: number })[] {
    return [...this.identities.values()].map(({ name, userId, sockets }) => (userId === undefined ? { name, connections: sockets } : { name, userId, connections: sockets }));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  get onlineCount(): number {
    return this.byName.size;
  }
}
