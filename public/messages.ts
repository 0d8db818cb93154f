// The message list: a window of at most a few hundred messages of the room in the DOM (the page
// trims one end as it loads the other, so a long scroll keeps the DOM and memory flat). One <li>
// per message id, in id order; a day heading where the day changes; a "New" line before the
// first unread; consecutive messages of one sender grouped. What people typed goes in as text.
// A verified sender (the message has a `userId`) gets a mark: an empty element drawn by CSS, so
// no name, whatever characters it holds ("✓", "verified"), can look like it or be read as it.
import type { Message } from "../src/protocol/frames";
import { clock, dayKey, dayLabel, mentions, renderText } from "./text";

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

/** The verified mark: an element beside the name's text, never text itself. */
export function verifiedMark(): HTMLSpanElement {
  const mark = el("span", "verified");
  mark.setAttribute("role", "img");
  mark.setAttribute("aria-label", "verified");
  mark.title = "Verified: the app vouches for this user";
  return mark;
}

/**
 * Who sent a message, for grouping: a verified user by id, anyone else by name, so that an
 * anonymous "ada" right after the verified one starts a group of its own (with its own name
 * shown, without the mark) instead of passing as her follow-up.
 */
const senderOf = (m: Message) => (m.userId === undefined ? `name:${m.name}` : `user:${m.userId}`);

const idOf = (node: Element | null | undefined) => (node ? Number((node as HTMLElement).dataset.id) : undefined);

export class MessageList {
  /** Messages after this id are "new since you were last here". */
  private dividerAfter: number | undefined;

  constructor(
    private readonly list: HTMLOListElement,
    /** The reader's own name: their messages and mentions of them look different. */
    private readonly me: () => string,
  ) {}

  get firstId() {
    return idOf(this.list.firstElementChild);
  }
  get lastId() {
    return idOf(this.list.lastElementChild);
  }
  get last(): { id: number; at: number } | undefined {
    const item = this.list.lastElementChild as HTMLElement | null;
    return item ? { id: Number(item.dataset.id), at: Number(item.dataset.ts) } : undefined;
  }
  get size() {
    return this.list.childElementCount;
  }

  clear() {
    this.list.replaceChildren();
    this.dividerAfter = undefined;
  }

  /** Adds messages not shown yet, each at its place by id. Returns those added. */
  add(messages: Message[]): Message[] {
    const added: Message[] = [];
    for (const m of messages) {
      // Usually the new one goes last (live, newer page) or first (older page).
      let next: Element | null = null;
      let at = this.list.lastElementChild;
      for (; at && idOf(at)! > m.id; at = at.previousElementSibling) next = at;
      if (at && idOf(at) === m.id) continue;
      const item = this.render(m);
      this.list.insertBefore(item, next);
      added.push(m);
      this.decorate(item);
      if (next) this.decorate(next as HTMLLIElement);
    }
    return added;
  }

  /** Removes messages from the top (older end) until at most `keep` remain. */
  trimStart(keep: number) {
    let removed = 0;
    while (this.list.childElementCount > keep) {
      this.list.firstElementChild!.remove();
      removed++;
    }
    if (removed) this.decorate(this.list.firstElementChild as HTMLLIElement | null);
    return removed;
  }

  /** Removes messages from the bottom (newer end) until at most `keep` remain. */
  trimEnd(keep: number) {
    let removed = 0;
    while (this.list.childElementCount > keep) {
      this.list.lastElementChild!.remove();
      removed++;
    }
    return removed;
  }

  /** Puts the "New" line before the first message after `id` (undefined: no line). */
  setDivider(id: number | undefined) {
    this.dividerAfter = id;
    this.list.querySelector(".unread-divider")?.remove();
    if (id === undefined) return;
    for (const item of this.list.children) {
      if (idOf(item)! > id) {
        if (item.previousElementSibling || this.firstIsStart) item.querySelector(".name")!.before(el("p", "unread-divider", "New"));
        return;
      }
    }
  }
  get divider() {
    return this.dividerAfter;
  }
  /** True when the first message shown is the room's first (an older page came back short). */
  firstIsStart = false;

  private render(m: Message): HTMLLIElement {
    const item = el("li", "msg");
    const key = `m${m.id}`;
    item.id = key;
    item.dataset.id = String(m.id);
    item.dataset.name = m.name;
    item.dataset.sender = senderOf(m);
    item.dataset.ts = String(m.timestamp);
    item.tabIndex = -1; // arrow keys move between messages (see app.ts)
    // The item's accessible name: sender, text, time, also for a grouped follow-up whose
    // name is only visually hidden.
    item.setAttribute("aria-labelledby", `${key}n ${key}x ${key}t`);
    const me = this.me();
    if (m.name === me) item.classList.add("mine");
    else if (mentions(m.message, me)) item.classList.add("mentioned");
    const name = el("span", "name", m.name);
    name.id = `${key}n`;
    name.dir = "auto";
    name.style.setProperty("--hue", String(hue(m.name)));
    // Inside the name's element, after its text: hidden with it in a group, read with it.
    if (m.userId !== undefined) name.append(verifiedMark());
    const time = el("time", "time", clock(m.timestamp));
    time.id = `${key}t`;
    time.dateTime = new Date(m.timestamp).toISOString();
    time.title = new Date(m.timestamp).toLocaleString();
    const text = el("div", "text");
    text.id = `${key}x`;
    text.dir = "auto";
    renderText(text, m.message, me);
    item.append(name, time, text);
    return item;
  }

  /** Day heading and grouping of an item, from its predecessor in the window. */
  private decorate(item: HTMLLIElement | null) {
    if (!item) return;
    const prev = item.previousElementSibling as HTMLLIElement | null;
    const ts = Number(item.dataset.ts);
    const newDay = !prev || dayKey(Number(prev.dataset.ts)) !== dayKey(ts);
    const cont = !newDay && prev!.dataset.sender === item.dataset.sender && ts - Number(prev!.dataset.ts) < GROUP_MS;
    item.classList.toggle("cont", cont);
    const heading = item.querySelector(".day");
    if (newDay && !heading) item.prepend(el("h2", "day", dayLabel(ts)));
    else if (!newDay) heading?.remove();
    if (this.dividerAfter !== undefined && idOf(item)! > this.dividerAfter && (!prev || idOf(prev)! <= this.dividerAfter)) this.setDivider(this.dividerAfter);
  }
}
