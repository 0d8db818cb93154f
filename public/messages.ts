// The message list: one <li> per message id, kept in id order, consecutive messages of one
// sender grouped. Everything people typed goes in through textContent, never as HTML.
import type { Message } from "../src/protocol/frames";

/** Messages of one sender closer than this are shown as one group (name once). */
const GROUP_MS = 5 * 60_000;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A stable colour per name, so a group's sender is recognisable at a glance. */
export function hue(name: string): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
  return h % 360;
}

const sameDay = (a: Date, b: Date) => a.toDateString() === b.toDateString();

/** Local time; older days get their date too. */
export function formatTime(timestamp: number, now = new Date()): string {
  const at = new Date(timestamp);
  const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return sameDay(at, now) ? time : `${at.toLocaleDateString([], { day: "numeric", month: "short" })} ${time}`;
}

export class MessageList {
  private readonly ids = new Set<number>();

  constructor(
    private readonly list: HTMLOListElement,
    /** The reader's own name: their messages get a class of their own. */
    private readonly me: () => string,
  ) {}

  get firstId(): number | undefined {
    return this.idOf(this.list.firstElementChild);
  }

  get size() {
    return this.ids.size;
  }

  clear() {
    this.ids.clear();
    this.list.replaceChildren();
  }

  /** Adds messages not shown yet, each at its place by id. Returns those added. */
  add(messages: Message[]): Message[] {
    const added: Message[] = [];
    for (const m of messages) {
      if (this.ids.has(m.id)) continue;
      this.ids.add(m.id);
      added.push(m);
      const item = this.render(m);
      // Usually the new one goes last (live) or first (an older page): walk from the end.
      let next: Element | null = null;
      for (let at = this.list.lastElementChild; at && this.idOf(at)! > m.id; at = at.previousElementSibling) next = at;
      this.list.insertBefore(item, next);
      this.group(item);
      if (next) this.group(next as HTMLLIElement);
    }
    return added;
  }

  private idOf(node: Element | null): number | undefined {
    return node ? Number((node as HTMLElement).dataset.id) : undefined;
  }

  private render(m: Message): HTMLLIElement {
    const item = el("li", "msg");
    item.dataset.id = String(m.id);
    item.dataset.name = m.name;
    item.dataset.ts = String(m.timestamp);
    if (m.name === this.me()) item.classList.add("mine");
    const name = el("span", "name", m.name);
    name.style.setProperty("--hue", String(hue(m.name)));
    const time = el("time", "time", formatTime(m.timestamp));
    time.dateTime = new Date(m.timestamp).toISOString();
    time.title = new Date(m.timestamp).toLocaleString();
    item.append(name, time, el("div", "text", m.message));
    return item;
  }

  /** Marks an item as the continuation of its predecessor's group (same sender, close in time). */
  private group(item: HTMLLIElement) {
    const prev = item.previousElementSibling as HTMLLIElement | null;
    const ts = Number(item.dataset.ts);
    const cont =
      prev !== null &&
      prev.dataset.name === item.dataset.name &&
      ts - Number(prev.dataset.ts) < GROUP_MS &&
      sameDay(new Date(ts), new Date(Number(prev.dataset.ts)));
    item.classList.toggle("cont", cont);
  }
}
