// What the room logic needs from the outside world. Adapters at the edge implement these
// (src/store for storage, src/http for sockets and fan-out); nothing here does I/O itself.
import type { Message } from "../protocol/frames";

/** A message accepted by a room, not yet stored: the store gives it its id. */
export interface Draft {
  room: string;
  name: string;
  message: string;
  timestamp: number;
  clientId?: string;
  /** The sender's id in the app: set when it was verified, or when the server API gave one. */
  userId?: string;
}

export interface Appended {
  message: Message;
  /** false when (room, name, clientId) was stored before: `message` is that earlier one. */
  fresh: boolean;
  /**
   * Set when fresh: the id of the room's message stored just before this one (0: none, or its
   * row was pruned away). A node that has delivered up to `prev` may deliver this one next; one
   * that has delivered less missed something (see room-sequence.ts).
   */
  prev?: number;
}

export interface PageQuery {
  /** Only messages with id < before. */
  before?: number;
  /** Only messages with id > after; the page then starts right after it (oldest first). */
  after?: number;
  limit: number;
}

export interface RoomsQuery {
  /** Only rooms whose newest message's id is below this: the `lastId` ending the page before. */
  before?: number;
  limit: number;
}

export interface StoredRoom {
  room: string;
  /** The id of the room's newest message: its place in the list. */
  lastId: number;
  lastMessageAt: number;
}

export interface MessageStore {
  /**
   * Stores the drafts in one transaction, in order; resolves once it is durably committed, with
   * one result per draft (or rejects: nothing of the batch was stored). It may be called again
   * before the last call resolved: batches commit in the order of the calls.
   */
  append(drafts: Draft[]): Promise<Appended[]>;
  /**
   * The same, committed before it returns, by a store that commits on the event loop (SQLite):
   * the results, or undefined when it cannot at once (earlier work still queued, the write lock
   * wanted by a checkpoint); then `append` is the way. Throws when the batch rolled back. Group
   * commit uses it while no batch is in flight: no promise, no microtask a batch.
   */
  appendNow?(drafts: Draft[]): Appended[] | undefined;
  /** Oldest first. Without `after`: the latest `limit` (before `before`); with it: the first `limit` after it. */
  page(room: string, query: PageQuery): Promise<Message[]>;
  /**
   * Rooms that have messages, most recent first (by their newest message): the first `limit`,
   * or, with `before`, the first `limit` whose `lastId` is below it (the last row's `lastId`
   * pages on). Its cost grows with `limit` only, never with the number of rooms or messages,
   * so it may run on the event loop. A room that gets a message moves to the front.
   */
  rooms(query: RoomsQuery): Promise<StoredRoom[]>;
  /** Deletes messages older than the cutoff (ms since epoch), a little at a time; returns how many. */
  prune(olderThan: number): Promise<number>;
  /** Commits what is pending, then closes. */
  close(): Promise<void>;
}

/** A room's settings; a room never configured has the defaults (public, no title). */
export interface RoomSettings {
  private: boolean;
  title?: string;
}

/** A change of a room's settings: what is absent stays as it was; `title: null` removes the title. */
export interface RoomSettingsChange {
  private?: boolean;
  title?: string | null;
}

export interface BanTerms {
  reason?: string;
  /** When the ban ends (ms since the epoch, exclusive); without it, it lasts until lifted. */
  until?: number;
}

export interface Ban extends BanTerms {
  userId: string;
  /** When it was imposed (the `now` of the `ban` call). */
  createdAt: number;
}

/**
 * Who may be in a room: its settings and bans. Its own port, beside MessageStore, because it
 * changes on rare moderation calls and is read on every verified join: the store answers each read
 * by one index lookup; caching it is the caller's business. Durable like messages: a write has
 * committed when its promise resolves. `now` (ms since the epoch) is the caller's clock: the
 * store has none of its own, so that every node and test agrees on when a ban ends.
 */
export interface AccessStore {
  roomSettings(room: string): Promise<RoomSettings>;
  /** Which of these rooms are private, in one read (a page of GET /rooms leaves them out). */
  privateRooms(rooms: readonly string[]): Promise<Set<string>>;
  /** Applies the change and resolves with the room's settings after it. */
  setRoomSettings(room: string, change: RoomSettingsChange): Promise<RoomSettings>;
  /**
   * Bans the user from the room, replacing any ban it had there (terms and `createdAt`). Rejects
   * with a RangeError, storing nothing, an `until` or `now` that is not an integer.
   */
  ban(room: string, userId: string, terms: BanTerms, now: number): Promise<void>;
  /** Lifts the user's ban in the room, if any. */
  unban(room: string, userId: string): Promise<void>;
  /** The room's bans in effect at `now` (ended ones are left out), by userId. */
  bans(room: string, now: number): Promise<Ban[]>;
  /** Whether a ban of this user in this room is in effect at `now`. */
  isBanned(room: string, userId: string, now: number): Promise<boolean>;
}

/** One member's socket, as the room logic sees it (Bun's ServerWebSocket fits). */
export interface Peer {
  send(data: string): number;
  /** To every subscriber of the topic but this peer. */
  publish(topic: string, data: string): number;
  subscribe(topic: string): void;
  /** Runs fn with the socket's writes batched into one. */
  cork(fn: () => void): unknown;
  readonly readyState: number;
}

/** Delivers a room's frames to its members: on this node (src/bus/local.ts); RoomBus below spans nodes. */
export interface Fanout {
  /** To every member of the room; with `from`, to all but that member (it gets its own copy apart). */
  publish(room: string, data: string, from?: Peer): void;
}

/** What a node reads of another node's frame without parsing it (the envelope's header). */
export interface FrameMeta {
  /** A message: its id, and the id of the room's message before it (Appended.prev). */
  id?: number;
  prev?: number;
  /** A presence change: the name, and how many sockets of it the sending node holds now (absolute). */
  name?: string;
  sockets?: number;
  /** With a presence change: the member's id, when its join was verified. */
  userId?: string;
}

/** Where a frame from another node came from (socket.io-adapter's `uid`), and its header. */
export interface RemoteMeta extends FrameMeta {
  /** The sending node's id: random per process. */
  node: string;
}

/** The link to the other nodes, for /health and metrics. */
export interface BusStatus {
  /** Connected, and holding the channels of this node's rooms. Always true on one node. */
  up: boolean;
  /** Times a connection to the other nodes came back after a drop. */
  reconnects: number;
  /** Frames from other nodes handed to the `onRemote` handler. */
  remoteFrames: number;
  /** Frames that reached this node's members but not the other nodes (the link was down). */
  dropped: number;
}

/**
 * A fan-out that spans nodes (src/bus/local.ts for one node, src/bus/redis.ts for several).
 * `publish` still delivers to this node's members at once, and also sends the frame to the
 * other nodes that hold the room. Pub/sub between nodes is at-most-once: after `up` turns false
 * and back, frames from other nodes may have been missed and must be filled from the store.
 */
export interface RoomBus extends Fanout {
  readonly node: string;
  /**
   * This node has members in the room: hear its frames from other nodes (idempotent). Resolves
   * once they are heard, or at once while the link is not up (never rejects; `state(true)` then
   * says when to catch up): join before reading the room's history, or a frame sent in between
   * is in neither.
   */
  join(room: string): Promise<void>;
  /** Its last member here left: stop hearing the room (idempotent). */
  leave(room: string): void;
  /**
   * To this node's members only (with `from`, all but that member): frames from other nodes once
   * the hub has ordered them, and this node's own messages once their turn came.
   */
  deliver(room: string, data: string, from?: Peer): void;
  /** To the other nodes only, with the header they order it by (this node's members get it by `deliver`). */
  relay(room: string, data: string, meta: FrameMeta): void;
  /**
   * Frames from other nodes in rooms this node joined, never its own. Until a handler is set
   * they are delivered to this node's members as they come (unordered: no gap repair).
   */
  onRemote(handler: (room: string, data: string, meta: RemoteMeta) => void): void;
  status(): BusStatus;
  /** Stops hearing other nodes; local delivery keeps working. */
  close(): Promise<void>;
}

/** What a bus tells its owner as it happens (the counters are in `status()`). */
export interface BusEvents {
  /** The link went down, or came back holding this node's rooms again: frames may have been missed. */
  state?(up: boolean): void;
  /** A frame from another node was unreadable, or the `onRemote` handler threw on it. */
  error?(error: unknown): void;
}

/** One node's members in a room: name -> its sockets there (a name may join from two tabs). */
export type NodeRoster = ReadonlyMap<string, number>;

/**
 * Who is online on the other nodes (src/bus/local-presence.ts for one node,
 * src/bus/redis-presence.ts for several). Each node publishes its own roster per room; a node
 * that stops (even by kill -9) is noticed by the others, which drop its rosters. Nothing here
 * ever rejects or throws: while the link is down a node keeps its own roster, reads nothing of
 * the others, and writes its rosters again once the link is back.
 *
 * The hub's side (with a ClusterRoster, src/rooms/cluster-roster.ts): a room going live here
 * joins the bus, then `load`s and `reset`s the others' rosters before its first history; every
 * local join or leave `publish`es `own(room)`; other nodes' joined/left frames update the
 * roster in between; a bus that comes back up `load`s every live room again (frames were lost);
 * `onNodeGone` -> `dropNode` -> a `left` to this node's members only (each node notices alone);
 * `onNodeBack` -> `load` its rooms; GET /rooms asks `counts` for its page.
 */
export interface PresenceDirectory {
  /** This node's id: the same as its RoomBus's, so that frames and rosters name nodes alike. */
  readonly node: string;
  /**
   * This node's roster in the room now (a snapshot, copied); an empty one removes it. Quick
   * successive calls are written once. Resolves once written, or at once while the link is down.
   */
  publish(room: string, roster: NodeRoster): Promise<void>;
  /** The rosters of the room on the other live nodes (node -> roster); empty while the link is down. */
  load(room: string): Promise<Map<string, Map<string, number>>>;
  /**
   * Distinct names online per room, over every live node, this one's included (as published):
   * one round trip for the whole list (a page of GET /rooms). A room with no one online is 0.
   * While the link is down: this node's own names only.
   */
  counts(rooms: string[]): Promise<Map<string, number>>;
  /**
   * A node stopped without a word (its heartbeat ran out): its rosters are gone from the
   * directory. Reported once per node, for nodes with members in this node's rooms.
   */
  onNodeGone(handler: (node: string) => void): void;
  /**
   * A node reported gone beats again (it lost the link for longer than the timeout, say): its
   * rosters are back. `load` the rooms it holds to see its members again.
   */
  onNodeBack(handler: (node: string) => void): void;
  /**
   * Rooms live on some node that have no stored message yet (GET /rooms lists them first, on
   * every node). This node says so of its live rooms ("unwritten"), takes it back once one got
   * its first message ("written"), or stops saying it when the room is no longer live here
   * ("gone": the mark lapses within the heartbeat's ttl unless another node holds it too).
   */
  markUnwritten(room: string, state: "unwritten" | "written" | "gone"): void;
  /** The rooms some live node marks unwritten, sorted by name; this node's own while the link is down. */
  unwrittenRooms(): Promise<string[]>;
  /** Removes this node's rosters (a clean stop) and stops; the others then need no timeout. */
  close(): Promise<void>;
}

/** Who a verified token says the member is (PROTOCOL.md, "Identity and access"). */
export interface Identity {
  /** The token's `sub`: the user's id in the app. */
  userId: string;
  /** The token's `name`, normalized: when present it replaces the join's name. */
  name?: string;
  /** The token's `rooms`: room names and prefixes ending in `*`. Absent: every public room, no private one. */
  rooms?: string[];
}

/** Why a token was refused (metrics and logs); every one of them is `unauthorized` (close 4401) on the wire. */
export const TOKEN_REFUSALS = [
  "too_long", // over 4096 characters: refused before any parsing
  "malformed", // not a compact JWS of canonical base64url, or its JSON is not an object
  "algorithm", // `alg: none`, or any other algorithm than the key's (HS256 with a public key: key confusion)
  "signature", // the signature does not match the key
  "expired", // `exp` has passed
  "not_yet_valid", // `nbf` is still ahead
  "claims", // `sub` or `exp` missing, or a claim of the wrong shape (`sub`, `name`, `rooms`, `iat`...)
  "issuer", // `iss` is not the configured issuer
  "audience", // `aud` does not hold the configured audience
  "unknown_key", // no key of the JWKS matches the token's `kid` (after a refetch, when one was allowed)
  "key_unavailable", // the JWKS could not be fetched or read: the server's fault, yet the join cannot be verified
] as const;
export type TokenRefusal = (typeof TOKEN_REFUSALS)[number];

/** Checks a join's token (src/auth/tokens.ts). Only configured when the server holds a key. */
export interface TokenVerifier {
  /** Resolves with the identity, or rejects with a `TokenRefused` (src/rooms/identity.ts) and nothing else. */
  verify(token: string): Promise<Identity>;
}
