// The room list: one link per room with who is online, unread and unsent counts. Rows are
// updated in place (a focused link keeps its focus) and keep their order while the pointer or
// the focus is in the list: a row never moves away from under the cursor.
import type { RoomSummary } from "../src/protocol/frames";
import { el } from "./messages";

export interface RoomRow extends RoomSummary {
  /** Messages from others since the reader last saw the room (undefined: not known). */
  unread?: number;
  /** Messages typed there and not sent yet. */
  unsent?: number;
}

export class RoomList {
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
