// Messages typed but not yet acknowledged, per room, kept in localStorage: they stay in their
// room (across a room switch and a reload) and are sent there, each under one clientId for its
// whole life, so the server stores each once however often it is re-sent (by this tab after a
// reload, or by another tab of the same room).
//
// One queue for the page: the rate limit is per address, shared by every room and tab.
// `rate_limited` closes a gate for `retryAfter`; then messages go one at a time, spaced by that
// interval, so a burst of retries does not collect more refusals (and strikes toward a 1008).
import type { ConnectionState, Message } from "../src/client/index";
import { KEYS, storage } from "./storage";

export type Status = "queued" | "sending" | "failed";

export interface Entry {
  clientId: string;
  room: string;
  text: string;
  /** When it was typed: the order it is sent in. */
  at: number;
  status: Status;
  /** Why it failed (an error code of the contract, `timeout`, ...). */
  code?: string;
  reason?: string;
}

/** What the outbox needs of a room's connection (a ChatClient fits). */
export interface Sender {
  readonly state: ConnectionState;
  send(text: string, options: { clientId: string }): Promise<Message>;
}

/** Failures worth a try again by themselves: a while later, and whenever the connection is back. */
const TRANSIENT = new Set(["timeout", "unavailable"]);
const TRANSIENT_RETRY_MS = 5_000;

const newClientId = () => `w${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;

export class Outbox {
  private readonly rooms = new Map<string, Entry[]>();
  /** Acked or cancelled here: another tab's stale copy in storage must not bring them back. */
  private readonly gone = new Set<string>();
  private gateUntil = 0;
  /** After a refusal: one message in flight at a time, this far apart (the server's refill time). */
  private paceMs = 0;
  private inFlight = 0;
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly senderFor: (room: string) => Sender | undefined,
    private readonly changed: (room: string) => void,
  ) {}

  /** The room's unsent messages, oldest first (merged with what other tabs stored). */
  entries(room: string): Entry[] {
    let list = this.rooms.get(room);
    if (!list) {
      list = this.merge(room, []);
      this.rooms.set(room, list);
    }
    return list;
  }

  /** When sending is refused for a while: the page shows a countdown until then. */
  get waitUntil() {
    return this.gateUntil;
  }

  add(room: string, text: string): Entry {
    const entry: Entry = { clientId: newClientId(), room, text, at: Date.now(), status: "queued" };
    this.entries(room).push(entry);
    this.save(room);
    this.changed(room);
    this.pump();
    return entry;
  }

  /** Takes back a message not in flight (so it cannot have been stored): its text is returned. */
  cancel(room: string, clientId: string): string | undefined {
    const entry = this.entries(room).find((e) => e.clientId === clientId);
    if (!entry || entry.status === "sending") return undefined;
    this.remove(entry);
    return entry.text;
  }

  retry(room: string, clientId: string) {
    const entry = this.entries(room).find((e) => e.clientId === clientId);
    if (!entry || entry.status !== "failed") return;
    this.requeue(entry);
    this.pump();
  }

  /** A room's connection came online: what failed for a passing reason goes again. */
  online(room: string) {
    for (const entry of this.entries(room)) if (entry.status === "failed" && TRANSIENT.has(entry.code!)) this.requeue(entry);
    this.pump();
  }

  /** Rooms whose messages wait to be sent (not failed ones: those wait for the person). */
  roomsWaiting(): string[] {
    for (const room of storage.roomsWith(KEYS.outbox)) this.entries(room);
    return [...this.rooms].filter(([, list]) => list.some((e) => e.status !== "failed")).map(([room]) => room);
  }

  /** Another tab changed a room's outbox: take its entries in. */
  reload(room: string) {
    if (!this.rooms.has(room)) return;
    this.rooms.set(room, this.merge(room, this.rooms.get(room)!));
    this.changed(room);
    this.pump();
  }

  /** Hands queued messages to their rooms' connections, in the order they were typed. */
  pump() {
    clearTimeout(this.timer);
    const wait = this.gateUntil - Date.now();
    if (wait > 0) {
      this.timer = setTimeout(() => this.pump(), wait);
      return;
    }
    const queued = [...this.rooms.values()].flat().filter((e) => e.status === "queued").sort((a, b) => a.at - b.at);
    if (queued.length === 0) this.paceMs = 0; // caught up: back to sending at once
    for (const entry of queued) {
      if (this.paceMs > 0 && this.inFlight > 0) return;
      const sender = this.senderFor(entry.room);
      if (sender?.state !== "online") continue;
      this.transmit(entry, sender);
      if (this.paceMs > 0) return;
    }
  }

  private transmit(entry: Entry, sender: Sender) {
    entry.status = "sending";
    entry.code = entry.reason = undefined;
    this.inFlight++;
    this.changed(entry.room);
    sender.send(entry.text, { clientId: entry.clientId }).then(
      () => {
        this.inFlight--;
        this.remove(entry);
        if (this.paceMs > 0) this.gateUntil = Date.now() + this.paceMs;
        this.pump();
      },
      (error: { code?: string; message?: string; retryAfter?: number }) => {
        this.inFlight--;
        if (this.gone.has(entry.clientId)) return;
        const code = error.code ?? "error";
        if (code === "rate_limited") {
          const ms = Math.max(100, error.retryAfter ?? 1000);
          this.gateUntil = Math.max(this.gateUntil, Date.now() + ms);
          this.paceMs = ms;
          this.requeue(entry);
        } else if (code === "closed") {
          this.requeue(entry); // the page closed that connection (room switch, rename): still to send
        } else {
          Object.assign(entry, { status: "failed", code, reason: error.message });
          this.save(entry.room);
          this.changed(entry.room);
          // Same clientId again, so a message stored but not acknowledged is not stored twice.
          if (TRANSIENT.has(code)) setTimeout(() => this.online(entry.room), TRANSIENT_RETRY_MS);
        }
        this.pump();
      },
    );
  }

  private requeue(entry: Entry) {
    Object.assign(entry, { status: "queued", code: undefined, reason: undefined });
    this.save(entry.room);
    this.changed(entry.room);
  }

  private remove(entry: Entry) {
    this.gone.add(entry.clientId);
    const list = this.entries(entry.room);
    const at = list.indexOf(entry);
    if (at >= 0) list.splice(at, 1);
    this.save(entry.room);
    this.changed(entry.room);
  }

  /** Read-modify-write, so that two tabs adding to one room keep each other's messages. */
  private save(room: string) {
    const list = this.merge(room, this.entries(room));
    this.rooms.set(room, list);
    if (list.length === 0) return storage.remove(KEYS.outbox(room));
    const stored = list.map(({ clientId, text, at, status, code, reason }) => ({ clientId, text, at, ...(status === "failed" ? { status, code, reason } : {}) }));
    storage.set(KEYS.outbox(room), JSON.stringify(stored));
  }

  private merge(room: string, mine: Entry[]): Entry[] {
    const stored = storage.json<Partial<Entry>[]>(KEYS.outbox(room));
    const byId = new Map(mine.filter((e) => !this.gone.has(e.clientId)).map((e) => [e.clientId, e]));
    if (Array.isArray(stored)) {
      for (const s of stored) {
        if (typeof s?.clientId !== "string" || typeof s.text !== "string" || byId.has(s.clientId) || this.gone.has(s.clientId)) continue;
        byId.set(s.clientId, {
          clientId: s.clientId,
          room,
          text: s.text,
          at: typeof s.at === "number" ? s.at : 0,
          status: s.status === "failed" ? "failed" : "queued",
          code: s.code,
          reason: s.reason,
        });
      }
    }
    return [...byId.values()].sort((a, b) => a.at - b.at);
  }
}
