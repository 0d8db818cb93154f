// Background connections: one per room, other than the open one, with messages still to send.
// Each joins its room, sends what waits there (the outbox hands it over), and is closed once
// nothing waits. A room whose join is refused is left alone for a while, not retried in a loop;
// one that refused the user (`unauthorized`, `forbidden`) until the name or the token changes.
import { connect, type ChatClient, type ChatClientOptions } from "../src/client/index";

const REFUSED_PAUSE_MS = 30_000;

export class Couriers {
  private readonly clients = new Map<string, ChatClient>();
  private readonly refusedUntil = new Map<string, number>();
  private scheduled = false;

  constructor(
    private readonly options: () => Omit<ChatClientOptions, "room">,
    /** Rooms that need one now. */
    private readonly wanted: () => string[],
    /** A courier's room came online: its messages can go. */
    private readonly online: (room: string) => void,
  ) {}

  get(room: string): ChatClient | undefined {
    return this.clients.get(room);
  }

  /** Brings the connections in line with `wanted()`, once per turn of the event loop. */
  sync() {
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      this.syncNow();
    });
  }

  closeAll() {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
    this.refusedUntil.clear();
  }

  private syncNow() {
    const now = Date.now();
    const wanted = new Set(this.wanted().filter((room) => (this.refusedUntil.get(room) ?? 0) <= now));
    for (const [room, c] of this.clients) {
      if (wanted.has(room)) continue;
      this.clients.delete(room);
      c.close();
    }
    for (const room of wanted) {
      if (this.clients.has(room)) continue;
      const c = connect({ ...this.options(), room });
      this.clients.set(room, c);
      let refusal: number | undefined;
      c.on("error", (e) => {
        // Too many joins from this address: back when the server says; any other refusal: later.
        if (e.code === "unauthorized" || e.code === "forbidden") refusal = Infinity;
        else if (c.state !== "online") refusal = e.code === "rate_limited" ? Math.max(250, e.retryAfter ?? 1000) : REFUSED_PAUSE_MS;
      });
      c.on("state", (state) => {
        if (this.clients.get(room) !== c) return;
        if (state === "online") this.online(room);
        if (state !== "closed") return;
        // Closed by the client itself: the server refused the join.
        this.clients.delete(room);
        const pause = refusal ?? REFUSED_PAUSE_MS;
        this.refusedUntil.set(room, Date.now() + pause);
        if (pause !== Infinity) setTimeout(() => this.sync(), pause); // (an Infinity delay would fire at once)
      });
    }
  }
}
