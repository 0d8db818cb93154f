// The room logic of the contract: join, history, presence, messages, leave. It speaks frames
// (as JSON strings) to Peers and stores through a MessageStore; it imports no I/O library.
import {
  CLOSE,
  normalizeName,
  type ErrorCode,
  type JoinFrame,
  type Message,
  type RoomSummary,
  type SendFrame,
} from "../protocol/frames";
import { LiveRoom } from "./live-room";
import type { Broadcast, MessageStore, Peer } from "./ports";
import type { RateLimiter } from "./rate-limit";

const OPEN = 1;

/** Per-socket session state; lives in the socket's `ws.data` for as long as the socket does. */
export class Session {
  state: "new" | "joining" | "joined" | "closed" = "new";
  name?: string;
  /** Settles when a join in progress is done: frames sent right behind a join wait for it. */
  ready?: Promise<void>;
  /** Consecutive rate-limited frames: a client that keeps flooding is closed. */
  strikes = 0;

  /** Read through a getter so that TypeScript does not narrow it across awaits. */
  get closed() {
    return this.state === "closed";
  }

  constructor(
    readonly room: string,
    /** Who the rate limit counts this socket as (its client IP). */
    readonly client: string,
    readonly openedAt: number,
  ) {}
}

export interface HubEvents {
  error?(code: ErrorCode): void;
  stored?(): void;
  closedForAbuse?(): void;
}

export interface HubOptions {
  store: MessageStore;
  broadcast: Broadcast;
  /** Messages sent on join (and kept in memory per live room). */
  historyLimit: number;
  limiter?: RateLimiter;
  /** Refusals in a row after which a flooding socket is closed 1008. */
  maxStrikes?: number;
  now?: () => number;
  events?: HubEvents;
}

export interface AbusablePeer extends Peer {
  close(code?: number, reason?: string): void;
}

export class Hub {
  private readonly live = new Map<string, LiveRoom>();
  private readonly now: () => number;

  constructor(private readonly options: HubOptions) {
    this.now = options.now ?? Date.now;
  }

  async join(peer: Peer, session: Session, frame: JoinFrame): Promise<void> {
    if (session.state !== "new") return this.refuse(peer, "already_joined", "this socket has joined already");
    const name = normalizeName(frame.name);
    if (name === undefined) return this.refuse(peer, "bad_frame", "a name is 1-32 characters, no control characters");
    session.state = "joining";
    let settle!: () => void;
    session.ready = new Promise((resolve) => (settle = resolve));
    const room = this.acquire(session.room);
    try {
      await room.loaded;
      let history = frame.since === undefined ? room.latest(this.options.historyLimit) : room.after(frame.since, this.options.historyLimit);
      if (history === undefined) history = await this.resume(room, frame.since!);
      // From here to the end nothing awaits: the history and the subscription are one step, so
      // every message is either in the history or arrives after it, never both, never neither.
      if (session.closed || peer.readyState !== OPEN) {
        this.release(room);
        return;
      }
      peer.send(JSON.stringify({ type: "history", messages: history }));
      peer.subscribe(room.name);
      session.name = name;
      session.state = "joined";
      room.add(name);
      const joined = { type: "joined", name, timestamp: room.stamp(this.now()), online: room.online() };
      this.options.broadcast(room.name, JSON.stringify(joined));
    } catch {
      this.release(room);
      if (session.state === "joining") session.state = "new";
      this.refuse(peer, "unavailable", "the room could not be loaded; try again");
    } finally {
      settle();
    }
  }

  /** A `since` older than the cache: read the gap from the store, then continue from memory. */
  private async resume(room: LiveRoom, since: number): Promise<Message[]> {
    const limit = this.options.historyLimit;
    const stored = await this.options.store.page(room.name, { after: since, limit });
    const last = stored.length ? stored[stored.length - 1]!.id : since;
    // Messages committed while we read are in the cache by now.
    const newer = room.recent.filter((m) => m.id > last);
    return stored.concat(newer).slice(0, limit);
  }

  send(peer: AbusablePeer, session: Session, frame: SendFrame): void | Promise<void> {
    if (session.state === "joining") return session.ready!.then(() => this.send(peer, session, frame));
    if (session.state !== "joined") return this.refuse(peer, "not_joined", "send a join frame first", frame.clientId);
    const { limiter } = this.options;
    if (limiter) {
      const retryAfter = limiter.take(session.client, this.now());
      if (retryAfter > 0) return this.limited(peer, session, retryAfter, frame.clientId);
      session.strikes = 0;
    }
    const room = this.live.get(session.room)!;
    const clientId = frame.clientId;
    const draft = { room: room.name, name: session.name!, message: frame.message, timestamp: room.stamp(this.now()), clientId };
    return this.options.store.append(draft).then(
      ({ message, fresh }) => {
        const text = JSON.stringify({ type: "message", ...message });
        if (fresh) {
          this.options.events?.stored?.();
          this.live.get(message.room)?.remember(message);
          // Serialized once for the whole room; the topic publish does the fan-out natively.
          if (peer.readyState === OPEN) peer.publish(message.room, text);
          else this.options.broadcast(message.room, text);
        }
        if (peer.readyState === OPEN) {
          peer.send(clientId === undefined ? text : `${text.slice(0, -1)},"clientId":${JSON.stringify(clientId)}}`);
        }
      },
      () => this.refuse(peer, "unavailable", "the message could not be stored; nothing was sent, try again", clientId),
    );
  }

  leave(session: Session) {
    const was = session.state;
    session.state = "closed";
    if (was !== "joined") return; // a join in progress releases its room itself
    const room = this.live.get(session.room)!;
    room.remove(session.name!);
    if (this.release(room)) return;
    const left = { type: "left", name: session.name, timestamp: room.stamp(this.now()), online: room.online() };
    this.options.broadcast(room.name, JSON.stringify(left));
  }

  /** Live rooms and stored ones, with who is online. */
  async summaries(): Promise<RoomSummary[]> {
    const stored = await this.options.store.rooms();
    const byName = new Map<string, RoomSummary>();
    for (const { room, lastMessageAt } of stored) byName.set(room, { room, online: 0, lastMessageAt });
    for (const room of this.live.values()) {
      const known = byName.get(room.name);
      const lastMessageAt = room.recent.at(-1)?.timestamp ?? known?.lastMessageAt ?? null;
      byName.set(room.name, { room: room.name, online: room.onlineCount, lastMessageAt });
    }
    return [...byName.values()].sort((a, b) => (b.lastMessageAt ?? Infinity) - (a.lastMessageAt ?? Infinity) || a.room.localeCompare(b.room));
  }

  /** Retention: forget cached messages older than the cutoff, then prune the store. */
  async prune(olderThan: number): Promise<number> {
    for (const room of this.live.values()) room.forget(olderThan);
    return this.options.store.prune(olderThan);
  }

  get liveRooms() {
    return this.live.size;
  }

  private acquire(name: string): LiveRoom {
    let room = this.live.get(name);
    if (!room) {
      const created = new LiveRoom(name, this.options.historyLimit);
      room = created;
      this.live.set(name, created);
      created.loaded = this.options.store.page(name, { limit: this.options.historyLimit }).then(
        (latest) => created.seed(latest),
        (error) => {
          if (this.live.get(name) === created) this.live.delete(name); // the next join tries again
          throw error;
        },
      );
    }
    room.refs++;
    return room;
  }

  /** Drops a reference; frees the room with its last one. True when the room was freed. */
  private release(room: LiveRoom): boolean {
    if (--room.refs > 0) return false;
    if (this.live.get(room.name) === room) this.live.delete(room.name);
    return true;
  }

  private limited(peer: AbusablePeer, session: Session, retryAfter: number, clientId?: string) {
    this.refuse(peer, "rate_limited", `slow down: try again in ${retryAfter} ms`, clientId, retryAfter);
    if (++session.strikes >= (this.options.maxStrikes ?? 20)) {
      this.options.events?.closedForAbuse?.();
      peer.close(CLOSE.policy, "rate limit exceeded");
    }
  }

  refuse(peer: Peer, code: ErrorCode, message: string, clientId?: string, retryAfter?: number) {
    this.options.events?.error?.(code);
    if (peer.readyState === OPEN) peer.send(JSON.stringify({ type: "error", code, message, retryAfter, clientId }));
  }
}
