// The typed chat client: one room under one name, reconnecting by itself. The web page bundles
// it and TS apps import it as `chat-server/client` (Bun, browsers, Node 20 with `ws`), so it
// imports no server runtime code: the protocol module, Eden, and only the *type* of the app.
//
// REST goes through Eden (`treaty<App>`, typed from the server's routes). The room socket is a
// plain WebSocket on purpose: Eden's `subscribe()` calls `new WebSocket(url)` on the global, so
// the constructor could not be injected (Node 20 has no global WebSocket), and it would give
// nothing more than JSON.stringify/parse of the same frame types we import from the protocol.
import { treaty } from "@elysiajs/eden";
import type { App } from "../http/app";
import type { ClientFrame, ErrorFrame, JoinedFrame, LeftFrame, Member, Message, MessageFrame, ServerFrame } from "../protocol/frames";
import { CLOSE, isMessageText, isRoomName, isWellFormed, LIMITS, normalizeName } from "../protocol/limits";
import { Backoff } from "./backoff";
import { Identities } from "./identities";
import { Roster } from "./roster";

export type { ErrorFrame, JoinedFrame, LeftFrame, Member, Message, MessageFrame } from "../protocol/frames";

export type ConnectionState = "connecting" | "online" | "reconnecting" | "closed";

/** Where the client gets its token: a string, or a function called before every connect. */
export type TokenSource = string | (() => string | undefined | Promise<string | undefined>);

/**
 * What the `error` event carries: the server's error frame, and on a refusal that ended the
 * connection (`unauthorized`, `forbidden`) the close's reason as well (`kicked`, `banned`, ...).
 */
export type ChatErrorEvent = ErrorFrame & { reason?: string };

/** What the client needs of a WebSocket: the browser's, Bun's and the `ws` package's all fit. */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ChatClientOptions {
  /** The server's base URL, e.g. "http://localhost:3000" (the socket URL is derived). */
  url: string;
  room: string;
  name: string;
  /** Defaults to the global WebSocket; pass the `ws` package's on Node 20. */
  WebSocket?: typeof globalThis.WebSocket | WebSocketConstructor;
  /** Resume point: only messages with a greater id are delivered. */
  since?: number;
  /** How long a sent message may wait for its ack while online (default 10000). */
  ackTimeoutMs?: number;
  /** Reconnect delays: exponential with full jitter, reset after a successful join. */
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * The user's token (a JWT the app's backend signed), sent in every join. A function is called
   * before every connect, reconnects included, so it can hand out a fresh one each time. When
   * the server refuses the join (`unauthorized`, close 4401) a function is asked once more and
   * the join retried; refused again, or refused with a string token or none (the same join would
   * only be refused again), or `forbidden` (4403: not allowed in the room, kicked, banned), the
   * client stops: state `closed`, an `error` event with the code and the reason, pending sends
   * rejected with a ChatError of that code. A function that throws counts as a failed connect.
   */
  token?: TokenSource;
}

export interface ChatClient {
  readonly state: ConnectionState;
  /** The highest message id seen: where a reconnect resumes. */
  readonly lastId: number | undefined;
  /** Who is in the room (each name once), kept from the history and the presence frames. */
  readonly online: string[];
  /**
   * The same people by identity: each verified user once with its `userId` (from the server's
   * `members` and the presence frames' `userId`), other names once without. A name held by a
   * verified user and by someone anonymous is there twice, once with the id and once without.
   */
  readonly members: Member[];
  /** Each join's history, only the messages not seen before (possibly none). */
  on(event: "history", fn: (messages: Message[]) => void): () => void;
  /** Every new message of the room, own ones included; each id at most once, in id order. */
  on(event: "message", fn: (message: MessageFrame) => void): () => void;
  on(event: "joined" | "left", fn: (frame: JoinedFrame | LeftFrame) => void): () => void;
  /**
   * Error frames not tied to one of our sends (those reject the send's promise instead). A
   * refusal that ends the connection (`unauthorized`, `forbidden`) comes once, with the close's
   * `reason`, right before the state turns `closed`.
   */
  on(event: "error", fn: (error: ChatErrorEvent) => void): () => void;
  on(event: "state", fn: (state: ConnectionState) => void): () => void;
  /**
   * Resolves with the stored message once the server acknowledged it (it is durable then).
   * Rejects with a ChatError: the server's code (`rate_limited` with retryAfter, `unavailable`,
   * ...), `timeout` (no ack within ackTimeoutMs while online), `too_big` (the server closed the
   * socket 1009 on it) or `closed`. Sent while offline, it waits for the next join; unacked at a
   * disconnect, it is sent again with the same clientId (the server stores it once).
   * `clientId`: give your own to keep a send idempotent across page reloads (an outbox kept in
   * storage re-sends with the same id, and the server stores it once); one send per id at a time.
   */
  send(text: string, options?: { clientId?: string }): Promise<Message>;
  close(): void;
}

export class ChatError extends Error {
  override name = "ChatError";
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** Typed REST calls: `api(url).rooms.get()`, `api(url).rooms({ room }).messages.get(...)`. */
export const api = (url: string) => treaty<App>(url.replace(/^ws/, "http"));

export function connect(options: ChatClientOptions): ChatClient {
  return new Connection(options);
}

type Pending = {
  clientId: string;
  text: string;
  resolve: (message: Message) => void;
  reject: (error: ChatError) => void;
  timer?: ReturnType<typeof setTimeout>;
};

const newClientId = () => Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");

class Connection implements ChatClient {
  state: ConnectionState = "connecting";
  lastId: number | undefined;
  online: string[] = [];
  members: Member[] = [];

  private readonly roster = new Roster();
  private readonly identities = new Identities();
  private readonly WS: WebSocketConstructor;
  private readonly wsUrl: string;
  private readonly rest: ReturnType<ReturnType<typeof api>["rooms"]>;
  private readonly name: string;
  private readonly backoff: Backoff;
  private socket?: WebSocketLike;
  /** The current socket got its history: the next `joined` is our own (the hub sends them back to back). */
  private historySeen = false;
  /** Frames are handled one after another: a history that needs a REST backfill holds later ones back. */
  private inbox = Promise.resolve();
  /** Sends not acknowledged yet, in the order they were made. */
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(value: any) => void>>();
  private retryTimer?: ReturnType<typeof setTimeout>;
  private closed = false;
  /** The token of the current connect (asked for before each). */
  private token?: string;
  /** Tokens refused (4401) since the last join that got in: the second one stops the client. */
  private refusedTokens = 0;
  /** A refusal's error frame, held until its close says why (`kicked`, `banned`). */
  private refusal?: ErrorFrame;

  constructor(private readonly options: ChatClientOptions) {
    if (!isRoomName(options.room)) throw new TypeError(`bad room name ${JSON.stringify(options.room)}: 1-64 of A-Z a-z 0-9 _ - .`);
    const name = normalizeName(options.name);
    if (name === undefined) throw new TypeError("a name is 1-32 characters, no control, invisible or look-alike characters");
    const WS = options.WebSocket ?? globalThis.WebSocket;
    if (!WS) throw new TypeError("no global WebSocket here: pass options.WebSocket (the `ws` package on Node 20)");
    this.WS = WS as WebSocketConstructor;
    this.name = name;
    const base = options.url.replace(/\/+$/, "");
    this.wsUrl = `${base.replace(/^http/, "ws")}/rooms/${options.room}/ws`;
    this.rest = api(base).rooms({ room: options.room });
    this.lastId = options.since;
    this.backoff = new Backoff(options.backoff?.initialMs, options.backoff?.maxMs);
    this.open();
  }

  on(event: string, fn: (value: any) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => void set.delete(fn);
  }

  send(text: string, options: { clientId?: string } = {}): Promise<Message> {
    if (this.closed) return Promise.reject(new ChatError("closed", "the client is closed"));
    // Checked here too: a refused frame would otherwise be re-sent after every reconnect.
    if (text.length < 1) return Promise.reject(new ChatError("bad_frame", "a message is not empty"));
    // The server's schema counts code points (an emoji is one), not UTF-16 units.
    if (text.length > LIMITS.message && [...text].length > LIMITS.message) return Promise.reject(new ChatError("too_long", `a message is at most ${LIMITS.message} characters`));
    if (!isMessageText(text)) return Promise.reject(new ChatError("bad_frame", "a message is well-formed text with no control characters but tab and line feed"));
    // The server does not echo a clientId it could never accept: its refusal would settle nothing.
    if (options.clientId !== undefined && !isWellFormed(options.clientId)) return Promise.reject(new ChatError("bad_frame", "a clientId is well-formed text"));
    return new Promise((resolve, reject) => {
      const pending: Pending = { clientId: options.clientId ?? newClientId(), text, resolve, reject };
      this.pending.set(pending.clientId, pending);
      if (this.state === "online") this.transmit(pending);
    });
  }

  close() {
    this.stop(new ChatError("closed", "the client was closed before the server acknowledged the message"));
  }

  /** Closed for good: by the app, or by a refusal that retrying would only repeat (then reported). */
  private stop(error: ChatError, report?: ChatErrorEvent) {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, "bye");
    for (const { clientId } of [...this.pending.values()]) this.settle(clientId)!.reject(error);
    this.forgetPresence();
    if (report) this.emit("error", report);
    this.setState("closed");
  }

  /** Asks for the token (a function may fetch a fresh one), then opens the socket. */
  private open() {
    const source = this.options.token;
    if (typeof source !== "function") return this.openSocket(source);
    let token: string | undefined | Promise<string | undefined>;
    try {
      token = source();
    } catch {
      return this.retry(); // like a failed connection: the app's token endpoint may be down for a while
    }
    if (typeof token === "string" || token === undefined) return this.openSocket(token);
    token.then(
      (value) => {
        if (!this.closed) this.openSocket(value);
      },
      () => this.retry(),
    );
  }

  private openSocket(token: string | undefined) {
    this.token = typeof token === "string" && token !== "" ? token : undefined;
    let ws: WebSocketLike;
    try {
      ws = new this.WS(this.wsUrl);
    } catch (error) {
      // A browser may refuse synchronously (a blocked port, say): the first time is the caller's
      // mistake, later ones are treated like a failed connection.
      if (this.state === "connecting") throw error;
      return this.retry();
    }
    this.socket = ws;
    this.historySeen = false;
    const current = () => this.socket === ws;
    ws.onopen = () => {
      if (current()) this.sendJoin();
    };
    ws.onmessage = (event) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(event.data));
      } catch {
        return; // the server only sends JSON; nothing sensible to do with anything else
      }
      this.inbox = this.inbox
        .then(() => (current() ? this.receive(frame) : undefined))
        .catch(() => this.drop(ws)); // a failed backfill: reconnect and resume from the same lastId
    };
    ws.onerror = () => {}; // a close event follows; and `ws` throws on an error nobody listens to
    ws.onclose = (event) => this.drop(ws, event.code, event.reason);
  }

  private async receive(frame: ServerFrame) {
    switch (frame.type) {
      case "history": {
        let messages = frame.messages;
        const last = messages[messages.length - 1];
        if (this.lastId !== undefined && last) messages = messages.concat(await this.backfill(last.id));
        const fresh = messages.filter((m) => this.lastId === undefined || m.id > this.lastId);
        if (fresh.length) this.lastId = fresh[fresh.length - 1]!.id;
        this.historySeen = true;
        this.roster.reset(frame.online);
        this.identities.reset(frame.members);
        this.presenceChanged();
        return this.emit("history", fresh);
      }
      case "joined":
      case "left": {
        // The first `joined` after our history is our own (the server sends them back to back),
        // and our history's list already holds us.
        const own = frame.type === "joined" && this.historySeen && this.state !== "online";
        if (!own) {
          this.roster.apply(frame);
          this.identities.apply(frame);
        } else if (frame.online) this.roster.adopt(frame.online);
        this.presenceChanged();
        if (own) this.joined();
        return this.emit(frame.type, frame);
      }
      case "message": {
        const { type, clientId, ...message } = frame;
        if (this.lastId === undefined || message.id > this.lastId) {
          this.lastId = message.id;
          this.emit("message", frame);
        }
        // A repeated clientId is answered with the stored message: already seen, still our ack.
        if (clientId !== undefined) this.settle(clientId)?.resolve(message);
        return;
      }
      case "error": {
        const mine = frame.clientId === undefined ? undefined : this.settle(frame.clientId);
        if (mine) return mine.reject(new ChatError(frame.code, frame.message, frame.retryAfter));
        // A refused join or a kick: the server closes the socket next, and its reason completes
        // the report (see drop).
        if (frame.code === "unauthorized" || frame.code === "forbidden") {
          this.refusal = frame;
          return;
        }
        this.emit("error", frame);
        if (this.state === "online") return;
        // Our join was refused. Too many joins from our address: the socket stays open, join
        // again on it once allowed (a little later than that, so that the sockets of one busy
        // address do not all come back at the same instant). `unavailable` (the room could not
        // be loaded) is worth a reconnect; anything else would be refused again every time.
        if (frame.code === "rate_limited") return this.rejoinAfter(frame.retryAfter ?? 1000);
        if (frame.code === "unavailable") this.drop(this.socket!);
        else this.close();
      }
    }
  }

  /**
   * A resume gets the *oldest* messages after `since`, at most the server's history limit: when
   * more were missed, the rest would be a silent gap before the live stream. Page forward over
   * REST (`after=`) from the history's last message; live frames that overlap it are dropped by
   * id afterwards. Costs one request per resume that brought anything.
   */
  private async backfill(after: number): Promise<Message[]> {
    const found: Message[] = [];
    for (;;) {
      const { data, error } = await this.rest.messages.get({ query: { after, limit: LIMITS.pageMax } });
      if (error) throw error;
      found.push(...data.messages);
      if (data.messages.length < LIMITS.pageMax) return found;
      after = data.messages[data.messages.length - 1]!.id;
    }
  }

  private rejoinAfter(ms: number) {
    const ws = this.socket;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.socket === ws && ws?.readyState === 1) this.sendJoin();
    }, ms + Math.random() * ms);
  }

  private sendJoin() {
    this.write({ type: "join", name: this.name, ...(this.lastId === undefined ? {} : { since: this.lastId }), ...(this.token === undefined ? {} : { token: this.token }) });
  }

  /** Our own `joined` arrived: we are in. Re-send what is unacked, then send what was queued. */
  private joined() {
    this.backoff.reset();
    this.refusedTokens = 0;
    this.state = "online"; // set before flushing, announced after: a listener's send() is not sent twice
    for (const pending of this.pending.values()) this.transmit(pending);
    this.emit("state", "online");
  }

  private transmit(pending: Pending) {
    this.write({ type: "message", message: pending.text, clientId: pending.clientId });
    clearTimeout(pending.timer);
    const ms = this.options.ackTimeoutMs ?? 10_000;
    pending.timer = setTimeout(() => this.settle(pending.clientId)?.reject(new ChatError("timeout", `no acknowledgement within ${ms} ms`)), ms);
  }

  private settle(clientId: string): Pending | undefined {
    const pending = this.pending.get(clientId);
    if (!pending) return undefined;
    clearTimeout(pending.timer);
    this.pending.delete(clientId);
    return pending;
  }

  /** The socket is gone (closed by the server, failed, or given up on): reconnect after a delay. */
  private drop(ws: WebSocketLike, code?: number, reason?: string) {
    if (this.socket !== ws) return;
    this.socket = undefined;
    if (ws.readyState <= 1) ws.close();
    // Unacked sends wait for the next join (their ack timers only run while online).
    for (const pending of this.pending.values()) clearTimeout(pending.timer);
    const refusal = this.refusal;
    this.refusal = undefined;
    if (code === CLOSE.unauthorized || code === CLOSE.forbidden) return this.refused(code, reason, refusal);
    if (refusal) this.emit("error", refusal);
    if (code === CLOSE.tooBig) {
      // The server refused one of the frames in flight as too big; re-sending it would loop.
      const biggest = [...this.pending.values()].sort((a, b) => b.text.length - a.text.length)[0];
      if (biggest) this.settle(biggest.clientId)!.reject(new ChatError("too_big", "the server closed the connection: frame too big"));
    }
    this.retry(code);
  }

  /**
   * The server refused the token (4401) or the user (4403). A token from a function may just
   * have expired: ask for one more at once. A second refusal in a row, a fixed token (or none),
   * or a 4403 would be refused again however often we came back: stop.
   */
  private refused(code: number, reason: string | undefined, frame: ErrorFrame | undefined) {
    const unauthorized = code === CLOSE.unauthorized;
    if (unauthorized && typeof this.options.token === "function" && ++this.refusedTokens === 1 && !this.closed) {
      this.forgetPresence();
      this.setState("reconnecting");
      this.retryTimer = setTimeout(() => this.open(), 0);
      return;
    }
    const report: ChatErrorEvent = {
      ...(frame ?? { type: "error", code: unauthorized ? "unauthorized" : "forbidden", message: unauthorized ? "the server refused the token" : "not allowed in this room" }),
      ...(reason ? { reason } : {}),
    };
    this.stop(new ChatError(report.code, reason ? `${report.message} (${reason})` : report.message), report);
  }

  private retry(code?: number) {
    if (this.closed) return;
    this.forgetPresence();
    this.setState("reconnecting");
    // 1008: the server refused us on policy (flooding, say); do not come straight back.
    const delay = code === CLOSE.policy ? this.backoff.penalty() : this.backoff.next();
    this.retryTimer = setTimeout(() => this.open(), delay);
  }

  private presenceChanged() {
    this.online = this.roster.names;
    this.members = this.identities.members(this.online);
  }

  private forgetPresence() {
    this.roster.clear();
    this.identities.clear();
    this.online = [];
    this.members = [];
  }

  private write(frame: ClientFrame) {
    this.socket?.send(JSON.stringify(frame));
  }

  private setState(state: ConnectionState) {
    if (this.state === state) return;
    this.state = state;
    this.emit("state", state);
  }

  private emit(event: string, value: unknown) {
    for (const fn of this.listeners.get(event) ?? []) {
      try {
        fn(value);
      } catch (error) {
        // A listener's bug must not break the connection: report it outside our call stack.
        setTimeout(() => {
          throw error;
        });
      }
    }
  }
}
