// The room list: one link per room with who is online, unread and unsent counts. Rows are
// updated in place (a focused link keeps its focus) and keep their order while the pointer or
// the focus is in the list: a row never moves away from under the cursor.
import type { Message, RoomSummary } from "../src/protocol/frames";
import { isRoomName } from "../src/protocol/limits";
import { el } from "./messages";
import { KEYS, seenIn, storage } from "./storage";

/** While the tab is visible the list is polled this often (and refreshed on events); hidden, not at all. */
const POLL_MS = 5_000;
/** Unread messages are counted up to this (then shown as 99+), in this many rooms per refresh. */
const UNREAD_MAX = 100;
const UNREAD_ROOMS = 20;
/** Where a link without a room, and the join screen, lead. */
export const HOME_ROOM = "lobby";

export interface DirectoryContext {
  current(): string;
  connected(): boolean;
  me(): string;
  unsent(room: string): number;
  /** Unread counts changed (the tab title). */
  changed(): void;
}

/** What the list shows, from `GET /rooms` and what this browser knows (seen, drafts, unsent). */
export class RoomDirectory {
  private readonly view: RoomList;
  private summaries: RoomSummary[] = [];
  /** Unread counts by room, with the lastMessageAt they were counted at (recounted when it moves). */
  private readonly unread = new Map<string, { at: number; count: number }>();
  private timer?: ReturnType<typeof setTimeout>;

  constructor(
    list: HTMLUListElement,
    private readonly context: DirectoryContext,
  ) {
    this.view = new RoomList(list);
  }

  /** Unread messages in the rooms other than the open one. */
  unreadElsewhere(): number {
    let total = 0;
    for (const [room, { count }] of this.unread) if (room !== this.context.current()) total += count;
    return total;
  }

  refreshSoon(ms = 300) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), ms);
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      // The first page is enough here: the server lists the most recently active rooms first.
      const res = await fetch("/rooms");
      if (res.ok) this.summaries = ((await res.json()) as { rooms: RoomSummary[] }).rooms;
    } catch {} // offline: the list stays, without online counts, and the connection state says why
    this.render();
    void this.countUnread();
    clearTimeout(this.timer); // one polling chain, even when two refreshes overlapped
    if (!document.hidden) this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  render() {
    const current = this.context.current();
    // Always listed: the home room, the open one, and those with a draft or unsent messages.
    const mine = new Set([HOME_ROOM, current, ...storage.roomsWith(KEYS.outbox), ...storage.roomsWith(KEYS.draft)].filter(isRoomName));
    const rows: RoomRow[] = this.summaries
      // A room nobody is in and nobody wrote in is a typo or an abandoned idea: not listed.
      .filter((r) => r.online > 0 || r.lastMessageAt !== null || mine.has(r.room))
      .slice(0, 100)
      .map((r) => ({ ...r, unread: this.unread.get(r.room)?.count }));
    const listed = new Set(rows.map((r) => r.room));
    for (const room of mine) if (!listed.has(room)) rows.unshift({ room, online: 0, lastMessageAt: null });
    for (const row of rows) row.unsent = this.context.unsent(row.room);
    this.view.show(rows, current, this.context.connected());
    this.context.changed();
  }

  /** Unread per visited room: the messages from others after the last one seen there. */
  private async countUnread() {
    const current = this.context.current();
    const stale = this.summaries.filter((r) => {
      if (r.room === current || r.lastMessageAt === null) return false;
      const seen = seenIn(r.room);
      if (!seen) return false;
      if (r.lastMessageAt <= seen.at) return this.unread.delete(r.room), false;
      return this.unread.get(r.room)?.at !== r.lastMessageAt;
    });
    for (const r of stale.slice(0, UNREAD_ROOMS)) {
      const seen = seenIn(r.room)!;
      try {
        const res = await fetch(`/rooms/${encodeURIComponent(r.room)}/messages?after=${seen.id}&limit=${UNREAD_MAX}`);
        if (!res.ok) continue;
        const { messages } = (await res.json()) as { messages: Message[] };
        const me = this.context.me();
        this.unread.set(r.room, { at: r.lastMessageAt!, count: messages.filter((m) => m.name !== me).length });
      } catch {
        return;
      }
    }
    if (stale.length) this.render();
  }
}

export interface RoomRow extends RoomSummary {
  /** Messages from others since the reader last saw the room (undefined: not known). */
  unread?: number;
  /** Messages typed there and not sent yet. */
  unsent?: number;
}

class RoomList {
  private readonly rows = new Map<string, HTMLLIElement>();
  private latest: { rows: RoomRow[]; current: string; connected: boolean } | undefined;
  private pointerInside = false;

  constructor(private readonly list: HTMLUListElement) {
    list.addEventListener("pointerenter", () => (this.pointerInside = true));
    list.addEventListener("pointerleave", () => {
      this.pointerInside = false;
      this.flush();
    });
    list.addEventListener("focusout", (e) => {
      if (!list.contains(e.relatedTarget as Node | null)) queueMicrotask(() => this.flush());
    });
  }

  private get frozen() {
    return this.pointerInside || this.list.contains(document.activeElement);
  }

  /** `connected`: false shows no online counts (they would be stale). */
  show(rows: RoomRow[], current: string, connected: boolean) {
    this.latest = { rows, current, connected };
    this.flush();
  }

  private flush() {
    if (!this.latest) return;
    const { rows, current, connected } = this.latest;
    const frozen = this.frozen;
    for (const row of rows) this.update(row, current, connected);
    const wanted = new Set(rows.map((r) => r.room));
    if (frozen) {
      // New rooms go last; gone ones stay until the pointer leaves.
      for (const row of rows) if (!this.rows.get(row.room)!.isConnected) this.list.append(this.rows.get(row.room)!);
      return;
    }
    for (const [room, item] of this.rows) {
      if (!wanted.has(room)) {
        item.remove();
        this.rows.delete(room);
      }
    }
    // Reorder by moving only what is out of place (keeps focus and avoids needless layout).
    let at: Element | null = this.list.firstElementChild;
    for (const row of rows) {
      const item = this.rows.get(row.room)!;
      if (item !== at) this.list.insertBefore(item, at);
      else at = at.nextElementSibling;
    }
  }

  private update(row: RoomRow, current: string, connected: boolean) {
    let item = this.rows.get(row.room);
    if (!item) {
      item = el("li");
      const link = el("a", "room-link");
      link.href = `?room=${encodeURIComponent(row.room)}`;
      link.dataset.room = row.room;
      link.append(el("span", "room-name", `#${row.room}`), el("span", "badges"));
      item.append(link);
      this.rows.set(row.room, item);
    }
    const link = item.firstElementChild as HTMLAnchorElement;
    if (row.room === current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
    const badges: HTMLElement[] = [];
    if (row.unsent) badges.push(el("span", "badge unsent", `${row.unsent} unsent`));
    if (row.unread && row.room !== current) badges.push(el("span", "badge unread", `${row.unread > 99 ? "99+" : row.unread} new`));
    if (connected && row.online > 0) badges.push(el("span", "badge some", `${row.online} online`));
    const holder = link.querySelector(".badges")!;
    if (holder.textContent !== badges.map((b) => b.textContent).join("")) holder.replaceChildren(...badges);
  }
}
