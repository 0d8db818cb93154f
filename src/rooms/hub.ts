// The room logic of the contract: join, history, presence, messages, leave. It speaks frames
// (as JSON strings) to Peers and stores through a MessageStore; it imports no I/O library.
import { errorFrame, historyFrame, messageFrame, withClientId } from "../protocol/encode";
import type { JoinFrame, Message, SendFrame } from "../protocol/frames";
import { CLOSE, LIMITS, normalizeName, type ErrorCode } from "../protocol/limits";
import { GroupCommit, type Submitted } from "./group-commit";
import { fitHistory } from "./history";
import { LiveRoom } from "./live-room";
import type { Appended, Draft, Fanout, MessageStore, Peer } from "./ports";
import { Presence, PRESENCE_DEFAULTS, type PresenceOptions, type Timers } from "./presence";
import type { RateLimiter } from "./rate-limit";
import { parseRoomCursor, roomPage, SortedNames, type RoomPage } from "./room-list";

const OPEN = 1;

/** Per-socket session state; lives in the socket's `ws.data` for as long as the socket does. */
export class Session {
  state: "new" | "joining" | "joined" | "closed" = "new";
  name?: string;
  /** Settles when a join in progress is done: frames sent right behind a join wait for it. */
  ready?: Promise<void>;
  /** Frames refused in a row (over the rate limit; with it off, any refusal): a client that keeps at it is closed. */
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
  /** A socket kept flooding and was closed 1008 (who: its client address and room). */
  closedForAbuse?(client: string, room: string): void;
}

export interface HubOptions {
  store: MessageStore;
  fanout: Fanout;
  /** Messages sent on join (and kept in memory per live room). */
  historyLimit: number;
  /** Messages per client (IP); one with rate 0 is off. */
  limiter?: RateLimiter;
  /** Joins per client (IP): a separate bucket from messages. */
  joinLimiter?: RateLimiter;
  /** Refusals in a row after which a flooding socket is closed 1008. */
  maxStrikes?: number;
  /** Bytes of messages in one history frame (default LIMITS.historyBytes). */
  historyBytes?: number;
  now?: () => number;
  /** For presence's hold timer (default: the global setTimeout). */
  timers?: Timers;
  presence?: Partial<PresenceOptions>;
  events?: HubEvents;
}

const on = (limiter: RateLimiter | undefined) => (limiter?.enabled ? limiter : undefined);

const globalTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface AbusablePeer extends Peer {
  close(code?: number, reason?: string): void;
}


export class Hub {
  private readonly live = new Map<string, LiveRoom>();
  /** Live rooms that have no stored message: GET /rooms lists them first. */
  private readonly unwritten = new SortedNames();
  private readonly now: () => number;
  private readonly presenceOptions: PresenceOptions;
  /** Every message goes to the store and then to its room through here; see group-commit.ts. */
  private readonly commits: GroupCommit<AbusablePeer>;

  private readonly options: HubOptions;

  constructor(options: HubOptions) {
    // A limiter with its rate at 0 is off: the hub then never asks it.
    this.options = { ...options, limiter: on(options.limiter), joinLimiter: on(options.joinLimiter) };
    this.now = options.now ?? Date.now;
    this.commits = new GroupCommit(options.store, (batch, results) => this.delivered(batch, results));
    this.presenceOptions = { ...PRESENCE_DEFAULTS, ...options.presence };
  }

  async join(peer: AbusablePeer, session: Session, frame: JoinFrame): Promise<void> {
    if (session.state !== "new") return this.reject(peer, session, "already_joined", "this socket has joined already");
    const name = normalizeName(frame.name);
    if (name === undefined) return this.reject(peer, session, "bad_frame", "a name is 1-32 characters, no control, invisible or look-alike characters");
    // Before anything of the room is read or sent: a refused join costs the room nothing, and
    // the socket may join again after retryAfter.
    const { joinLimiter } = this.options;
    if (joinLimiter) {
      const retryAfter = joinLimiter.take(session.client, this.now());
      if (retryAfter > 0) return this.limited(peer, session, retryAfter);
      session.strikes = 0;
    }
    session.state = "joining";
    let settle!: () => void;
    session.ready = new Promise((resolve) => (settle = resolve));
    const room = this.acquire(session.room);
    try {
      await room.loaded;
      const since = frame.since ?? undefined;
      let history = since === undefined ? room.latest(this.options.historyLimit) : room.after(since, this.options.historyLimit);
      if (history === undefined) history = await this.resume(room, since!);
      history = fitHistory(history, this.options.historyBytes ?? LIMITS.historyBytes, since === undefined ? "newest" : "oldest");
      // From here to the end nothing awaits: the history and the subscription are one step, so
      // every message is either in the history or arrives after it, never both, never neither.
      if (session.closed || peer.readyState !== OPEN) {
        this.release(room);
        return;
      }
      room.add(name);
      peer.send(historyFrame(history, room.online()));
      session.name = name;
      session.state = "joined";
      // Presence subscribes the peer to the room (now, or when the room's held changes go out:
      // before any later message of the room, see publish()).
      room.presence.join(peer, session, name, room.stamp(this.now()));
    } catch {
      this.release(room);
      if (session.state === "joining") session.state = "new";
      this.refuse(peer, "unavailable", "the room could not be loaded; try again");
    } finally {
      settle();
      session.ready = undefined; // only frames that came during the join wait for it: ~100 bytes less a socket
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
    const clientId = frame.clientId ?? undefined;
    if (session.state !== "joined") return this.reject(peer, session, "not_joined", "send a join frame first", clientId);
    const retryAfter = this.options.limiter?.take(session.client, this.now()) ?? 0;
    if (retryAfter > 0) return this.limited(peer, session, retryAfter, clientId);
    session.strikes = 0;
    const room = this.live.get(session.room)!;
    const draft = { room: room.name, name: session.name!, message: frame.message, timestamp: room.stamp(this.now()), clientId };
    this.commits.submit(draft, peer);
  }

  /**
   * Commits and delivers everything accepted so far (graceful shutdown): those senders get
   * their acks before the server closes.
   */
  drain(): Promise<void> {
    return this.commits.drain();
  }

  /**
   * A message from no socket (an API, another node's relay): the same batches, order and
   * delivery as a member's, to every member of the room; resolves once it was delivered.
   */
  commit(draft: Draft): Promise<Appended> {
    return this.commits.commit(draft);
  }

  /** A committed batch (see group-commit.ts), or a refused one: nothing of it was stored, nothing is sent. */
  private delivered(batch: readonly Submitted<AbusablePeer>[], results: Appended[] | undefined) {
    if (!results) {
      for (const { by, draft } of batch) if (by) this.refuse(by, "unavailable", "the message could not be stored; nothing was sent, try again", draft.clientId);
      return;
    }
    // A sender's consecutive messages (a burst arrives together) are delivered under one cork,
    // so their acks leave in one write instead of one syscall each. Within the run every message
    // is published before its ack, in id order, so no socket ever sees ids out of order.
    for (let start = 0; start < batch.length; ) {
      const peer = batch[start]!.by;
      let end = start + 1;
      while (end < batch.length && batch[end]!.by === peer) end++;
      const run = () => {
        for (let i = start; i < end; i++) this.deliverOne(peer, batch[i]!.draft, results[i]!);
      };
      if (peer && peer.readyState === OPEN) peer.cork(run);
      else run();
      start = end;
    }
  }

  private deliverOne(peer: AbusablePeer | undefined, draft: Draft, { message, fresh }: Appended) {
    // Serialized once for the whole room; the topic publish does the fan-out natively.
    const text = messageFrame(message);
    if (fresh) {
      this.options.events?.stored?.();
      const room = this.live.get(message.room);
      if (room) {
        if (!room.recent.length) this.unwritten.delete(room.name);
        room.remember(message);
      }
      this.publish(message.room, text, peer);
    }
    if (peer?.readyState !== OPEN) return;
    peer.send(withClientId(text, draft.clientId));
  }

  leave(session: Session) {
    const was = session.state;
    session.state = "closed";
    if (was !== "joined") return; // a join in progress releases its room itself
    const room = this.live.get(session.room)!;
    room.remove(session.name!);
    if (this.release(room)) return;
    room.presence.leave(session, session.name!, room.stamp(this.now()));
  }

  /**
   * Everything but presence goes to a room through here: held presence changes go out first, so
   * a member hears of a joiner before its messages, and a held joiner is subscribed in time.
   */
  private publish(roomName: string, text: string, from?: Peer) {
    const presence = this.live.get(roomName)?.presence;
    if (presence?.pending) presence.flush();
    this.options.fanout.publish(roomName, text, from);
  }

  /**
   * A page of rooms with who is online: live rooms without messages first, then stored rooms,
   * most recent first (see room-list.ts). `after` is the `next` of the page before (an unknown
   * one starts from the top). Costs `limit` rows, however many rooms there are.
   */
  summaries({ after, limit }: { after?: string; limit: number }): Promise<RoomPage> {
    return roomPage(this.options.store, this.unwritten, (room) => this.live.get(room)?.onlineCount ?? 0, parseRoomCursor(after), limit);
  }

  /** Retention: forget cached messages older than the cutoff, then prune the store. */
  async prune(olderThan: number): Promise<number> {
    for (const room of this.live.values()) {
      room.forget(olderThan);
      if (!room.recent.length) this.unwritten.add(room.name); // all its messages go now
    }
    return this.options.store.prune(olderThan);
  }

  /** Forgets the rate limits' idle buckets (run now and then). */
  sweep(now: number) {
    this.options.limiter?.sweep(now);
    this.options.joinLimiter?.sweep(now);
  }

  get liveRooms() {
    return this.live.size;
  }

  private acquire(name: string): LiveRoom {
    let room = this.live.get(name);
    if (!room) {
      // At least one message kept, so that `recent` tells whether the room has any.
      const created = new LiveRoom(name, Math.max(1, this.options.historyLimit));
      created.presence = new Presence(created, this.options.fanout, this.now, this.options.timers ?? globalTimers, this.presenceOptions);
      room = created;
      this.live.set(name, created);
      // At least one message even with historyLimit 0: the newest one sets the room's clock.
      created.loaded = this.options.store.page(name, { limit: Math.max(1, this.options.historyLimit) }).then(
        (latest) => {
          created.seed(latest);
          if (this.live.get(name) !== created) return;
          if (created.recent.length) this.unwritten.delete(name);
          else this.unwritten.add(name);
        },
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
    room.presence.dispose();
    if (this.live.get(room.name) === room) {
      this.live.delete(room.name);
      if (!room.recent.length) this.unwritten.delete(room.name);
    }
    return true;
  }

  /**
   * Refuses a frame that is the sender's fault (malformed, too long, out of turn). It costs what
   * a message costs, a token of the address's bucket, else it would be the free way to flood
   * (issue 11: 20 sockets of bad frames left a bystander 2 of 13 acks in 8 s): past the bucket
   * it is `rate_limited` and a strike, like a flooder's message. With the rate limit off, every
   * refusal is a strike: a sender whose refusals go on is closed 1008 all the same.
   */
  reject(peer: AbusablePeer, session: Session, code: ErrorCode, message: string, clientId?: string) {
    const { limiter } = this.options;
    if (limiter) {
      const retryAfter = limiter.take(session.client, this.now());
      if (retryAfter > 0) return this.limited(peer, session, retryAfter, clientId);
      session.strikes = 0;
      return this.refuse(peer, code, message, clientId);
    }
    this.refuse(peer, code, message, clientId);
    this.strike(peer, session);
  }

  /**
   * While a socket's frames are being refused for its address's rate and the bucket is still
   * dry, its next frame is refused unread: true when it was. Reading it would only find which
   * refusal to send, at the price of a JSON.parse the sender chose (~0.3 ms for 64 KB of
   * escaped quotes; 20 sockets of them held a bystander's acks for 0.9 s here).
   */
  refuseUnread(peer: AbusablePeer, session: Session): boolean {
    const { limiter } = this.options;
    if (!limiter || session.strikes === 0) return false;
    const retryAfter = limiter.peek(session.client, this.now());
    if (retryAfter <= 0) return false;
    this.limited(peer, session, retryAfter);
    return true;
  }

  private limited(peer: AbusablePeer, session: Session, retryAfter: number, clientId?: string) {
    this.refuse(peer, "rate_limited", `slow down: try again in ${retryAfter} ms`, clientId, retryAfter);
    this.strike(peer, session);
  }

  private strike(peer: AbusablePeer, session: Session) {
    if (++session.strikes < (this.options.maxStrikes ?? 20) || peer.readyState !== OPEN) return;
    this.options.events?.closedForAbuse?.(session.client, session.room);
    peer.close(CLOSE.policy, "too many refused frames");
  }

  refuse(peer: Peer, code: ErrorCode, message: string, clientId?: string, retryAfter?: number) {
    this.options.events?.error?.(code);
    if (peer.readyState === OPEN) peer.send(errorFrame(code, message, clientId, retryAfter));
  }
}
