// The room logic of the contract: join, history, presence, messages, leave. It speaks frames
// (as JSON strings) to Peers and stores through a MessageStore; it imports no I/O library. With
// `cluster` it is one node of several: messages reach members through room-sequence.ts (in id
// order, gaps filled from the store), and presence counts every node (cluster-roster.ts).
import { errorFrame, historyFrame, messageFrame, withClientId } from "../protocol/encode";
import type { JoinFrame, Member, Message, SendFrame } from "../protocol/frames";
import { ClusterRoster } from "./cluster-roster";
import { CLOSE, LIMITS, normalizeName, type ErrorCode } from "../protocol/limits";
import { AccessCache } from "./access-cache";
import { admit, type Admission } from "./identity";
import { GroupCommit, type Submitted } from "./group-commit";
import { fitHistory } from "./history";
import { LiveRoom } from "./live-room";
import type { AccessStore, Appended, Draft, Fanout, Identity, MessageStore, Peer, PresenceDirectory, RemoteMeta, RoomBus, TokenVerifier } from "./ports";
import { Presence, PRESENCE_DEFAULTS, type PresenceOptions, type Timers } from "./presence";
import type { RateLimiter } from "./rate-limit";
import { parseRoomCursor, roomPage, SortedNames, type RoomPage } from "./room-list";
import { RoomSequence } from "./room-sequence";
import { closes, MODERATION_REASON, parseModeration, type Moderation } from "./moderation";

/**
 * The cluster channel every node holds for moderation (kicks, bans, settings), whether or not it
 * has members in the room: a node without any still caches access answers. A `*` never appears
 * in a room name, so no room's channel is this one.
 */
export const CONTROL_CHANNEL = "*control";

const OPEN = 1;

/** Per-socket session state; lives in the socket's `ws.data` for as long as the socket does. */
export class Session {
  state: "new" | "joining" | "joined" | "closed" = "new";
  name?: string;
  /** Settles when a join in progress is done: frames sent right behind a join wait for it. */
  ready?: Promise<void>;
  /** Frames refused in a row (over the rate limit; with it off, any refusal): a client that keeps at it is closed. */
  strikes = 0;
  /** Who the join's token said the member is; undefined for an anonymous member. */
  identity?: Identity;

  /**
   * Who the message rate limit counts this socket as: a verified user by its id (an office
   * behind one address is not one flooder), an anonymous one by its address. The prefixes keep
   * a user id from ever being taken for an address.
   */
  get rateKey(): string {
    return this.identity ? `user:${this.identity.userId}` : this.client;
  }

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
  /** A join was refused (then closed 4401/4403); `reason` is a word, never the token. */
  joinRefused?(code: "unauthorized" | "forbidden", reason: string, client: string, room: string): void;
}

/** Why a join is refused: its error code, a word for logs and the close reason, and a sentence for people. */
interface JoinRefusal {
  code: "unauthorized" | "forbidden";
  reason: string;
  message: string;
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
  /** Checks join tokens; without it (no key configured) a join with a token is `unauthorized`. */
  verifier?: TokenVerifier;
  /** Room settings and bans (read through a short cache); without it every room is public and no one banned. */
  access?: AccessStore;
  /** CHAT_ANONYMOUS (default true): joins without a token may enter public rooms. */
  anonymous?: boolean;
  /**
   * Several nodes: the link to the others and who is online there. Without it the hub is one
   * node's (its store the only writer, `fanout` its members).
   */
  cluster?: { bus: RoomBus; directory: PresenceDirectory; events?: ClusterEvents };
}

export interface ClusterEvents {
  /** A message frame from another node reached this node. */
  remoteMessage?(): void;
  /** Messages a gap repair read from the store (frames this node never heard). */
  gapFilled?(count: number): void;
  /** A gap repair's read or a presence reload failed (each is retried). */
  error?(what: string, error: unknown): void;
}

interface Cluster {
  bus: RoomBus;
  directory: PresenceDirectory;
  roster: ClusterRoster;
  events: ClusterEvents;
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
  private readonly cluster?: Cluster;
  private readonly access?: AccessCache;
  /** Moderation actions applied so far: a join that saw this change while on its way is admitted again. */
  private moderations = 0;

  constructor(options: HubOptions) {
    // A limiter with its rate at 0 is off: the hub then never asks it.
    this.options = { ...options, limiter: on(options.limiter), joinLimiter: on(options.joinLimiter) };
    this.now = options.now ?? Date.now;
    this.commits = new GroupCommit(options.store, (batch, results) => this.delivered(batch, results));
    this.presenceOptions = { ...PRESENCE_DEFAULTS, ...options.presence };
    if (options.access) this.access = new AccessCache(options.access, this.now);
    if (options.cluster) {
      const { bus, directory, events = {} } = options.cluster;
      this.cluster = { bus, directory, events, roster: new ClusterRoster(bus.node) };
      bus.onRemote((room, data, meta) => (room === CONTROL_CHANNEL ? this.controlled(data) : this.remote(room, data, meta)));
      void bus.join(CONTROL_CHANNEL);
      directory.onNodeGone((node) => this.nodeGone(node));
      directory.onNodeBack(() => this.reloadPresence());
    }
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
    let room: LiveRoom | undefined;
    let seen = this.moderations;
    try {
      // Before the room is touched: a refused join reads no history and is announced to no one.
      const refusal = await this.admission(session, frame.token ?? undefined);
      if (refusal) return this.refuseJoin(peer, session, refusal);
      if (session.closed || peer.readyState !== OPEN) return;
      room = this.acquire(session.room);
      await room.loaded;
      const since = frame.since ?? undefined;
      let history = since === undefined ? room.latest(this.options.historyLimit) : room.after(since, this.options.historyLimit);
      if (history === undefined) history = await this.resume(room, since!);
      history = fitHistory(history, this.options.historyBytes ?? LIMITS.historyBytes, since === undefined ? "newest" : "oldest");
      // A ban or a room turning private while this join was on its way found no socket to close
      // (it was not in the room yet) and may have been read before it: ask again.
      while (seen !== this.moderations) {
        seen = this.moderations;
        const late = await this.admission(session, frame.token ?? undefined);
        if (late) {
          this.release(room);
          room = undefined;
          return this.refuseJoin(peer, session, late);
        }
      }
      // From here to the end nothing awaits: the history and the subscription are one step, so
      // every message is either in the history or arrives after it, never both, never neither.
      if (session.closed || peer.readyState !== OPEN) {
        this.release(room);
        return;
      }
      // A verified join goes by the token's name when it has one.
      const shown = session.identity?.name ?? name;
      const userId = session.identity?.userId;
      room.add(shown, userId);
      if (room.cluster) this.ownChanged(room, shown, +1, userId);
      peer.send(historyFrame(history, (room.cluster?.roster ?? room).online(), this.members(room)));
      session.name = shown;
      session.state = "joined";
      room.sockets.set(session, peer);
      // Presence subscribes the peer to the room (now, or when the room's held changes go out:
      // before any later message of the room, see publish()).
      room.presence.join(peer, session, shown, room.stamp(this.now()), userId);
    } catch {
      if (room) this.release(room);
      if (session.state === "joining") session.state = "new";
      this.refuse(peer, "unavailable", "the room could not be loaded; try again");
    } finally {
      settle();
      session.ready = undefined; // only frames that came during the join wait for it: ~100 bytes less a socket
    }
  }

  /**
   * The contract's refusal table (PROTOCOL.md, "Identity and access") for this join: undefined
   * when it may go on, with `session.identity` set for a verified one. The token is never
   * logged nor echoed: a refusal names the reason only.
   */
  private async admission(session: Session, token: string | undefined): Promise<JoinRefusal | undefined> {
    let identity: Identity | undefined;
    if (token !== undefined) {
      const { verifier } = this.options;
      if (!verifier) return { code: "unauthorized", reason: "no_key", message: "this server verifies no tokens: join without one" };
      try {
        identity = await verifier.verify(token);
      } catch (error) {
        // The port rejects with a TokenRefused; anything else is no identity either.
        const reason = error instanceof Error && "reason" in error && typeof error.reason === "string" ? error.reason : "malformed";
        return { code: "unauthorized", reason, message: `token refused: ${reason}` };
      }
    }
    const room = session.room;
    const isPrivate = this.access ? await this.access.isPrivate(room) : false;
    switch (admit(identity, room, { private: isPrivate, anonymous: this.options.anonymous ?? true })) {
      case "unauthorized":
        return { code: "unauthorized", reason: "token_needed", message: isPrivate ? "this room is private: join with a token" : "this server needs a token to join" };
      case "forbidden":
        return { code: "forbidden", reason: "room_not_covered", message: "the token does not cover this room" };
    }
    if (identity && this.access && (await this.access.isBanned(room, identity.userId))) return { code: "forbidden", reason: "banned", message: "you are banned from this room" };
    session.identity = identity;
    return undefined;
  }

  /** An `error` frame, then the close (4401/4403) that tells a client not to retry the same join blindly. */
  private refuseJoin(peer: AbusablePeer, session: Session, { code, reason, message }: JoinRefusal) {
    this.options.events?.joinRefused?.(code, reason, session.client, session.room);
    this.refuse(peer, code, message);
    session.state = "closed";
    if (peer.readyState === OPEN) peer.close(code === "unauthorized" ? CLOSE.unauthorized : CLOSE.forbidden, reason);
  }

  /**
   * The room's `history.members`: each identity once, a verified user by id, an anonymous one by
   * name. Several nodes: the other nodes' members are known by name only.
   */
  private members(room: LiveRoom): Member[] {
    const members = room.members();
    const roster = room.cluster?.roster;
    if (roster) {
      const known = new Set(members.map((m) => m.name));
      for (const name of roster.online()) if (!known.has(name)) members.push({ name });
    }
    return members;
  }

  /** A `since` older than the cache: read the gap from the store, then continue from memory. */
  private async resume(room: LiveRoom, since: number): Promise<Message[]> {
    const limit = this.options.historyLimit;
    let stored = await this.options.store.page(room.name, { after: since, limit });
    // Several nodes: the store may hold messages not delivered here yet; they come after the history.
    const delivered = room.cluster?.sequence.last;
    if (delivered !== undefined) stored = stored.filter((m) => m.id <= delivered);
    const last = stored.length ? stored[stored.length - 1]!.id : since;
    // Messages committed while we read are in the cache by now.
    const newer = room.recent.filter((m) => m.id > last);
    return stored.concat(newer).slice(0, limit);
  }

  send(peer: AbusablePeer, session: Session, frame: SendFrame): void | Promise<void> {
    if (session.state === "joining") return session.ready!.then(() => this.send(peer, session, frame));
    const clientId = frame.clientId ?? undefined;
    if (session.state !== "joined") return this.reject(peer, session, "not_joined", "send a join frame first", clientId);
    const retryAfter = this.options.limiter?.take(session.rateKey, this.now()) ?? 0;
    if (retryAfter > 0) return this.limited(peer, session, retryAfter, clientId);
    session.strikes = 0;
    const room = this.live.get(session.room)!;
    const draft: Draft = { room: room.name, name: session.name!, message: frame.message, timestamp: room.stamp(this.now()), clientId };
    if (session.identity) draft.userId = session.identity.userId;
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

  /**
   * A message from the server API: stamped by the room's clock when the room is live here, then
   * committed like a member's (same batches, order, delivery and relay to the other nodes).
   */
  post(draft: Omit<Draft, "timestamp">): Promise<Appended> {
    const room = this.live.get(draft.room);
    return this.commit({ ...draft, timestamp: room ? room.stamp(this.now()) : this.now() });
  }

  /**
   * A moderation action from the server API (the store already holds what it changed): applied to
   * this node's sockets and relayed to every other node, which applies it to its own. Resolves
   * with the sockets closed here.
   */
  async moderate(action: Moderation): Promise<number> {
    this.cluster?.bus.relay(CONTROL_CHANNEL, JSON.stringify(action), {});
    return this.moderateHere(action);
  }

  private controlled(data: string) {
    const action = parseModeration(data);
    if (!action) return this.cluster?.events.error?.("control", new Error("unreadable moderation frame"));
    this.moderateHere(action).catch((error) => this.cluster?.events.error?.("moderation", error));
  }

  private async moderateHere(action: Moderation): Promise<number> {
    this.moderations++;
    this.access?.forget(action.room, "userId" in action ? action.userId : undefined);
    if (action.kind === "unban") return 0;
    // A settings change: who may stay is decided by the settings as stored now.
    const policy =
      action.kind === "settings" ? { private: this.access ? await this.access.isPrivate(action.room) : false, anonymous: this.options.anonymous ?? true } : undefined;
    const room = this.live.get(action.room);
    if (!room) return 0;
    const reason = MODERATION_REASON[action.kind];
    const message = action.kind === "kick" ? "you were removed from this room" : action.kind === "ban" ? "you are banned from this room" : "this room no longer admits you";
    let closed = 0;
    for (const [session, peer] of [...room.sockets]) {
      if (!closes(action, session, policy)) continue;
      closed++;
      this.refuse(peer, "forbidden", message);
      // The close leaves the room like any socket's: the room hears `left`.
      if (peer.readyState === OPEN) peer.close(CLOSE.forbidden, reason);
    }
    return closed;
  }

  /**
   * Who is in the room: this node's members by identity with their sockets, and (several nodes)
   * the other nodes' by name, as their rosters tell (they carry no userId).
   */
  async memberList(roomName: string): Promise<{ name: string; userId?: string; connections: number }[]> {
    const room = this.live.get(roomName);
    const members = room ? room.memberSockets() : [];
    const cluster = this.cluster;
    if (!cluster) return members;
    const others = new Map<string, number>();
    const add = (node: string, roster: ReadonlyMap<string, number>) => {
      if (node === cluster.bus.node) return;
      for (const [name, sockets] of roster) others.set(name, (others.get(name) ?? 0) + sockets);
    };
    const roster = room?.cluster?.roster;
    if (roster) for (const node of roster.holders()) add(node, roster.of(node));
    else for (const [node, held] of await cluster.directory.load(roomName)) add(node, held);
    for (const [name, connections] of others) {
      const same = members.find((m) => m.userId === undefined && m.name === name);
      if (same) same.connections += connections;
      else members.push({ name, connections });
    }
    return members;
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

  private deliverOne(peer: AbusablePeer | undefined, draft: Draft, appended: Appended) {
    if (this.cluster) return this.deliverInCluster(this.cluster, peer, draft, appended);
    const { message, fresh } = appended;
    // Serialized once for the whole room; the topic publish does the fan-out natively.
    const text = messageFrame(message);
    if (fresh) {
      this.options.events?.stored?.();
      const room = this.live.get(message.room);
      if (room) {
        if (!room.recent.length) this.written(room.name);
        room.remember(message);
      }
      this.publish(message.room, text, peer);
    }
    if (peer?.readyState !== OPEN) return;
    peer.send(withClientId(text, draft.clientId));
  }

  /**
   * Several nodes: the other nodes hear of the message at once (they order it themselves), this
   * node's members and the sender's ack when its turn comes (see room-sequence.ts).
   */
  private deliverInCluster(cluster: Cluster, peer: AbusablePeer | undefined, draft: Draft, { message, fresh, prev = 0 }: Appended) {
    const text = messageFrame(message);
    const ack = () => {
      if (peer?.readyState === OPEN) peer.send(withClientId(text, draft.clientId));
    };
    if (!fresh) return ack();
    this.options.events?.stored?.();
    cluster.bus.relay(message.room, text, { id: message.id, prev });
    const room = this.live.get(message.room);
    if (!room?.cluster) return ack(); // no member here (its sender left): nobody else to tell on this node
    room.cluster.sequence.offer({
      id: message.id,
      prev,
      deliver: () => {
        this.heard(room, message, text, peer);
        ack();
      },
      duplicate: ack,
    });
  }

  /** A message of the room reaches this node's members, in its turn (a local one but its sender). */
  private heard(room: LiveRoom, message: Message, text: string, from?: Peer) {
    if (this.live.get(room.name) !== room) return;
    if (!room.recent.length) this.written(room.name);
    room.remember(message);
    if (room.presence.pending) room.presence.flush();
    this.cluster!.bus.deliver(room.name, text, from);
  }

  /** A frame from another node, in a room live here: a message to order, or a presence change. */
  private remote(roomName: string, data: string, meta: RemoteMeta) {
    const room = this.live.get(roomName);
    if (!room?.cluster) return;
    if (meta.id !== undefined && meta.prev !== undefined) {
      this.cluster!.events.remoteMessage?.();
      room.cluster.sequence.offer({ id: meta.id, prev: meta.prev, deliver: () => this.heard(room, messageOfFrame(data), data) });
    } else if (meta.name !== undefined && meta.sockets !== undefined) {
      const { roster } = room.cluster;
      const held = roster.of(meta.node).get(meta.name) ?? 0;
      if (held === meta.sockets) return;
      roster.set(meta.node, meta.name, meta.sockets);
      room.presence.remote(meta.sockets > held ? "joined" : "left", meta.name, room.stamp(this.now()), meta.userId);
    }
  }

  /**
   * One of this node's sockets joined (+1) or left (-1) the room: the cluster roster counts it,
   * the other nodes hear the name's count here (absolute: a frame heard twice changes nothing)
   * and the directory gets this node's roster for rooms loaded later.
   */
  private ownChanged(room: LiveRoom, name: string, delta: 1 | -1, userId?: string) {
    const cluster = this.cluster!;
    const { roster } = room.cluster!;
    if (delta > 0) roster.add(cluster.bus.node, name);
    else roster.remove(cluster.bus.node, name);
    // The change's userId rides along so that the other nodes' `joined`/`left` carry it too.
    cluster.bus.relay(room.name, "", { name, sockets: roster.of(cluster.bus.node).get(name) ?? 0, ...(userId !== undefined && { userId }) });
    void cluster.directory.publish(room.name, roster.of(cluster.bus.node));
  }

  /** A node died without a word: its members leave every room here, told to this node's members. */
  private nodeGone(node: string) {
    for (const room of this.live.values()) {
      const roster = room.cluster?.roster;
      if (!roster) continue;
      const timestamp = room.stamp(this.now());
      // One name at a time, each announced as it goes: a `left` counts who is still there after
      // it, so the last one says the room is down to the live nodes' members.
      for (const [name, sockets] of [...roster.of(node)]) if (roster.remove(node, name, sockets)) room.presence.remote("left", name, timestamp);
    }
  }

  /** Reads the other nodes' rosters of every live room again (frames may have been lost), announcing what changed. */
  private reloadPresence() {
    const cluster = this.cluster!;
    for (const room of this.live.values()) {
      void room.loaded
        .then(() => cluster.directory.load(room.name))
        .then(
          (others) => {
            if (this.live.get(room.name) !== room) return;
            const { joined, left } = cluster.roster.reset(room.name, others);
            const timestamp = room.stamp(this.now());
            for (const name of joined) room.presence.remote("joined", name, timestamp);
            for (const name of left) room.presence.remote("left", name, timestamp);
          },
          (error) => cluster.events.error?.("presence reload", error),
        );
    }
  }

  /**
   * The link to the other nodes is back (Redis returned, or its subscriber reconnected): frames
   * sent meanwhile were lost. Every live room catches up from the store, and its roster from the
   * directory: nothing lost, nothing doubled.
   */
  linkBack() {
    if (!this.cluster) return;
    for (const room of this.live.values()) room.cluster?.sequence.repair();
    this.reloadPresence();
  }

  leave(session: Session) {
    const was = session.state;
    session.state = "closed";
    if (was !== "joined") return; // a join in progress releases its room itself
    const room = this.live.get(session.room)!;
    room.sockets.delete(session);
    const userId = session.identity?.userId;
    room.remove(session.name!, userId);
    // Before the room may be freed: the other nodes hear of the last member here leaving too.
    if (room.cluster) this.ownChanged(room, session.name!, -1, userId);
    if (this.release(room)) return;
    room.presence.leave(session, session.name!, room.stamp(this.now()), userId);
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
  async summaries(query: { after?: string; limit: number }): Promise<RoomPage> {
    const page = await this.everyRoom(query);
    if (!this.access) return page;
    // Private rooms are left out after the page is read: a page still costs `limit` rows and one
    // settings query (for the rooms not cached), however many rooms are private. The page may
    // come out shorter; its `next` goes on from its last row all the same.
    const hidden = await this.access.privateAmong(page.rooms.map((room) => room.room));
    if (hidden.size) page.rooms = page.rooms.filter((room) => !hidden.has(room.room));
    return page;
  }

  /**
   * Whether a REST read of the room's history is allowed with this bearer token (PROTOCOL.md:
   * private rooms, and every room with CHAT_ANONYMOUS=false, need a covering one).
   */
  async historyAccess(room: string, token: string | undefined): Promise<Admission> {
    const isPrivate = this.access ? await this.access.isPrivate(room) : false;
    const policy = { private: isPrivate, anonymous: this.options.anonymous ?? true };
    if (admit(undefined, room, policy) === "allowed") return "allowed";
    const { verifier } = this.options;
    if (token === undefined || !verifier) return "unauthorized";
    let identity: Identity;
    try {
      identity = await verifier.verify(token);
    } catch {
      return "unauthorized";
    }
    const outcome = admit(identity, room, policy);
    if (outcome !== "allowed") return outcome;
    return this.access && (await this.access.isBanned(room, identity.userId)) ? "forbidden" : "allowed";
  }

  private async everyRoom({ after, limit }: { after?: string; limit: number }): Promise<RoomPage> {
    const cluster = this.cluster;
    if (!cluster) return roomPage(this.options.store, this.unwritten, (room) => this.live.get(room)?.onlineCount ?? 0, parseRoomCursor(after), limit);
    // Rooms live on any node without a message, and who is online on every node: two
    // directory round trips for the page.
    const unwritten = new SortedNames();
    for (const room of await cluster.directory.unwrittenRooms()) unwritten.add(room);
    const page = await roomPage(this.options.store, unwritten, () => 0, parseRoomCursor(after), limit);
    const counts = await cluster.directory.counts(page.rooms.map((r) => r.room));
    for (const room of page.rooms) room.online = counts.get(room.room) ?? 0;
    // A mark whose room emptied is listed until it lapses: not a room anyone is in.
    page.rooms = page.rooms.filter((room) => room.lastMessageAt !== null || room.online > 0);
    return page;
  }

  /** A live room here has no stored message (listed first by GET /rooms, on every node). */
  private unwrittenHere(name: string) {
    this.unwritten.add(name);
    this.cluster?.directory.markUnwritten(name, "unwritten");
  }

  /** A live room here got its first message. */
  private written(name: string) {
    this.unwritten.delete(name);
    this.cluster?.directory.markUnwritten(name, "written");
  }

  /** Retention: forget cached messages older than the cutoff, then prune the store. */
  async prune(olderThan: number): Promise<number> {
    for (const room of this.live.values()) {
      room.forget(olderThan);
      if (!room.recent.length) this.unwrittenHere(room.name); // all its messages go now
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
      const cluster = this.cluster;
      if (cluster) this.joinCluster(cluster, created);
      else created.presence = new Presence(created, this.options.fanout, this.now, this.options.timers ?? globalTimers, this.presenceOptions);
      room = created;
      this.live.set(name, created);
      // At least one message even with historyLimit 0: the newest one sets the room's clock.
      const latest = () => this.options.store.page(name, { limit: Math.max(1, this.options.historyLimit) });
      // Several nodes: hear the room's frames before its history is read, so that a message sent
      // in between is in one or the other (the sequence drops it from the second by its id).
      const loading = cluster
        ? cluster.bus.join(name).then(() => Promise.all([latest(), cluster.directory.load(name)]))
        : latest().then((messages) => [messages] as const);
      created.loaded = loading.then(
        ([latest, others]) => {
          created.seed(latest);
          created.cluster?.sequence.start(latest.length ? latest[latest.length - 1]!.id : 0);
          if (this.live.get(name) !== created) return;
          if (others) cluster!.roster.reset(name, others); // nobody here yet to tell
          if (created.recent.length) this.unwritten.delete(name);
          else this.unwrittenHere(name);
        },
        (error) => {
          if (this.live.get(name) === created) {
            this.live.delete(name); // the next join tries again
            if (cluster) {
              cluster.roster.drop(name);
              cluster.bus.leave(name);
            }
          }
          throw error;
        },
      );
    }
    room.refs++;
    return room;
  }

  /** A room going live on this node, with several nodes: its cluster-wide roster and its message order. */
  private joinCluster(cluster: Cluster, room: LiveRoom) {
    const roster = cluster.roster.room(room.name);
    const timers = this.options.timers ?? globalTimers;
    const sequence = new RoomSequence({
      read: (after, limit) => this.options.store.page(room.name, { after, limit }),
      deliverStored: (message) => this.heard(room, message, messageFrame(message)),
      filled: (count) => cluster.events.gapFilled?.(count),
      failed: (error) => cluster.events.error?.("gap repair", error),
      timers,
    });
    room.cluster = { roster, sequence };
    // Presence frames go to this node's members only: other nodes hear of a change as a count.
    const here: Fanout = { publish: (name, data) => cluster.bus.deliver(name, data) };
    room.presence = new Presence(roster, here, this.now, timers, this.presenceOptions);
  }

  /** Drops a reference; frees the room with its last one. True when the room was freed. */
  private release(room: LiveRoom): boolean {
    if (--room.refs > 0) return false;
    room.presence.dispose();
    room.cluster?.sequence.stop();
    if (this.live.get(room.name) === room) {
      this.live.delete(room.name);
      if (!room.recent.length) this.unwritten.delete(room.name);
      if (this.cluster) {
        this.cluster.directory.markUnwritten(room.name, "gone");
        this.cluster.roster.drop(room.name);
        this.cluster.bus.leave(room.name);
      }
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
      const retryAfter = limiter.take(session.rateKey, this.now());
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
    const retryAfter = limiter.peek(session.rateKey, this.now());
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

/** A message frame from another node, read back into the message it carries (for the room's memory). */
function messageOfFrame(frame: string): Message {
  const { id, room, name, message, timestamp, userId } = JSON.parse(frame) as Message;
  return userId === undefined ? { id, room, name, message, timestamp } : { id, room, name, message, timestamp, userId };
}
