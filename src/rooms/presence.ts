// A room's presence: telling its members who joined and who left. A join or a leave costs each
// member one small frame (the roster itself goes once, in the joiner's history). When changes
// come faster than people can read them (a crowd arriving, a script churning sockets), the room
// holds them for a moment and then sends what is left of them: a socket that joined and left
// within the moment is never announced at all. No I/O of its own; the clock and timer are given.
import { presenceFrame } from "../protocol/encode";
import { LIMITS } from "../protocol/limits";
import type { Fanout, Peer } from "./ports";

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface PresenceOptions {
  /** Changes a room announces as they come before it starts holding them... */
  burst: number;
  /** ...and per second after that (a token bucket per room). */
  rate: number;
  /** How long a busy room holds its changes before it announces them. */
  holdMs: number;
  /**
   * Joiners a room holds at most: each held joiner is sent the changes that followed its own
   * join one by one, so a crowd arriving at once is announced early rather than costing O(k^2).
   */
  maxHeldJoiners: number;
}

// A few changes a second read as they come; beyond that they come in bursts of 200 ms, about
// the time it takes a person to notice one line of a list change.
export const PRESENCE_DEFAULTS: PresenceOptions = { burst: 5, rate: 5, holdMs: 200, maxHeldJoiners: 32 };

/** What presence reads of its room's members (LiveRoom). */
export interface Roster {
  readonly name: string;
  online(): string[];
  readonly onlineCount: number;
  has(name: string): boolean;
}

/** One socket's join or leave; `member` is the socket's identity (its session). */
interface Change {
  kind: "joined" | "left";
  name: string;
  /** The member's id when its join was verified. */
  userId?: string;
  timestamp: number;
  member: object;
  /** Its frame, serialized at most once per flush. */
  text?: string;
}

/** A joiner not subscribed to the room yet: it knows the room as of its history. */
interface Held {
  peer: Peer;
  member: object;
  /** Index of the first change after its own join. */
  from: number;
}

const OPEN = 1;

export class Presence {
  private changes: Change[] = [];
  private held: Held[] = [];
  private timer: unknown;
  private flushing = false;
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly roster: Roster,
    private readonly fanout: Fanout,
    private readonly now: () => number,
    private readonly timers: Timers,
    private readonly options: PresenceOptions = PRESENCE_DEFAULTS,
  ) {
    this.tokens = options.burst;
    this.refilledAt = now();
  }

  /**
   * A socket joined (already counted in the roster, and sent its history). Its own `joined` goes
   * to it now, never held; the room's copy may be. The socket is subscribed to the room at the
   * flush that announces it, so it never hears of a change its history already showed.
   */
  join(peer: Peer, member: object, name: string, timestamp: number, userId?: string) {
    const count = this.roster.onlineCount;
    peer.send(frame({ kind: "joined", name, userId, timestamp, member }, count, this.listed(count)));
    this.changes.push({ kind: "joined", name, userId, timestamp, member });
    this.held.push({ peer, member, from: this.changes.length });
    this.changed();
  }

  /** A joined socket left (already removed from the roster). */
  leave(member: object, name: string, timestamp: number, userId?: string) {
    const at = this.held.findIndex((h) => h.member === member);
    if (at >= 0) this.held.splice(at, 1);
    this.changes.push({ kind: "left", name, userId, timestamp, member });
    this.changed();
  }

  /**
   * A socket joined or left on another node (already counted in the roster): announced to this
   * node's members like a local change, held the same way.
   */
  remote(kind: "joined" | "left", name: string, timestamp: number, userId?: string) {
    this.changes.push({ kind, name, userId, timestamp, member: {} });
    this.changed();
  }

  /** Changes are waiting: the room must flush before it sends anything else (a message). */
  get pending(): boolean {
    return this.changes.length > 0;
  }

  /** Announces every held change now. */
  flush() {
    // A send may close a socket on the spot (over its buffer limit), whose leave lands here
    // again: the running flush announces it after what it is sending, in order.
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.changes.length) this.announce();
    } finally {
      this.flushing = false;
    }
  }

  private announce() {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    const { changes, held } = this;
    this.changes = [];
    this.held = [];
    const count = this.roster.onlineCount;
    const online = this.listed(count);
    const text = (change: Change) => (change.text ??= frame(change, count, online));
    // Members subscribed before these changes get all of them, through the room's topic.
    for (const change of this.announced(changes, 0)) this.fanout.publish(this.roster.name, text(change));
    // Each held joiner gets what changed after its own join, then joins the topic.
    for (const { peer, from } of held) {
      if (peer.readyState !== OPEN) continue;
      for (const change of this.announced(changes, from)) peer.send(text(change));
      peer.subscribe(this.roster.name);
    }
  }

  /** The room is gone (its last member left): nothing is left to tell anyone. */
  dispose() {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.changes = [];
    this.held = [];
  }

  private changed() {
    if (this.timer !== undefined) {
      if (this.held.length >= this.options.maxHeldJoiners) this.flush();
      return;
    }
    if (this.take()) return this.flush();
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.options.holdMs);
  }

  private take(): boolean {
    const now = this.now();
    const { burst, rate } = this.options;
    this.tokens = Math.min(burst, this.tokens + (Math.max(0, now - this.refilledAt) * rate) / 1000);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  private listed(count: number): string[] | undefined {
    return count <= LIMITS.onlineListed ? this.roster.online() : undefined;
  }

  /**
   * The changes from `from` on that a member who knew the room before them must hear, in the
   * order that lets a client keep an exact roster from the names and the count alone (all
   * frames of a flush carry the count after the whole flush): joins first, then the leaves of
   * names now gone, then the leaves of names still here through another socket. A socket that
   * joined and left within the range is left out: that member never knew of it.
   */
  private announced(changes: Change[], from: number): Change[] {
    const joinedHere = new Set<object>();
    for (let i = from; i < changes.length; i++) if (changes[i]!.kind === "joined") joinedHere.add(changes[i]!.member);
    const joined: Change[] = [];
    const gone: Change[] = [];
    const stayed: Change[] = [];
    const cameAndWent = new Set<object>();
    for (let i = from; i < changes.length; i++) {
      const change = changes[i]!;
      if (change.kind === "left" && joinedHere.has(change.member)) cameAndWent.add(change.member);
    }
    for (let i = from; i < changes.length; i++) {
      const change = changes[i]!;
      if (cameAndWent.has(change.member)) continue;
      if (change.kind === "joined") joined.push(change);
      else (this.roster.has(change.name) ? stayed : gone).push(change);
    }
    return joined.concat(gone, stayed);
  }
}

function frame({ kind, name, userId, timestamp }: Change, count: number, online: string[] | undefined): string {
  return presenceFrame(kind, { name, userId, timestamp, count, online });
}
