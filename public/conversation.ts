// One room's conversation on screen: a window over its history (REST pages loaded as one
// scrolls either way, the far end dropped, so the DOM stays bounded), the live end that follows
// new messages while the reader is there, the "N new messages" button, and what was seen.
import type { Message } from "../src/protocol/frames";
import { MessageList } from "./messages";
import { markSeen, seenIn } from "./storage";

/** Messages per REST page, and the most the DOM holds at once. */
export const PAGE = 100;
export const WINDOW = 3 * PAGE;

export interface ConversationHooks {
  me(): string;
  /** New messages from others (live): to announce, to notify. */
  arrived(messages: Message[]): void;
  /** The count of messages that came while the reader was away changed (the tab title). */
  awayChanged(): void;
  /** The reader went back to the newest messages with the button. */
  jumped(): void;
}

export class Conversation {
  readonly list: MessageList;
  /** Messages from others that came while the reader was away (scrolled up, another tab). */
  newWhileAway = 0;
  private room = "";
  /** Bumped on every reset: answers for an earlier room are dropped. */
  private generation = 0;
  private ready = false;
  private loadingOlder = false;
  private loadingNewer = false;
  /** The window starts at the room's first message. */
  private startReached = false;
  /** The window ends at the newest message: live ones are added to it. */
  private atLiveEnd = true;
  /** The newest id known (live), also while the window is elsewhere. */
  private latest = 0;
  private lastScrollTop = 0;

  constructor(
    private readonly ui: { scroller: HTMLElement; older: HTMLElement; messages: HTMLOListElement; marker: HTMLButtonElement },
    private readonly hooks: ConversationHooks,
  ) {
    this.list = new MessageList(ui.messages, hooks.me);
    ui.marker.addEventListener("click", async () => {
      await this.jumpToLatest();
      this.hideMarker();
      hooks.jumped();
    });
    ui.scroller.addEventListener("scroll", () => this.scrolled());
    ui.scroller.addEventListener("keydown", (e) => this.arrowKeys(e));
  }

  /** The newest message id seen live: where a new connection resumes. */
  get latestId() {
    return this.latest;
  }

  reset(room: string) {
    this.room = room;
    this.generation++;
    this.list.clear();
    this.list.firstIsStart = false;
    Object.assign(this, { ready: false, loadingOlder: false, loadingNewer: false, startReached: false, atLiveEnd: true, latest: 0, newWhileAway: 0 });
    // "New since you were last here": after the last message seen on an earlier visit.
    this.list.setDivider(seenIn(room)?.id);
    this.ui.older.textContent = "";
    this.hideMarker();
  }

  /** A join's history (the first one fills the view) or live messages. */
  history(messages: Message[]) {
    const first = !this.ready;
    this.ready = true;
    this.live(messages, first);
    if (first) this.fillView();
  }

  live(messages: Message[], initial = false) {
    if (messages.length === 0) return;
    this.latest = Math.max(this.latest, messages[messages.length - 1]!.id);
    const stick = initial || this.nearBottom();
    const wasHere = initial || this.readerIsHere();
    const lastShown = this.list.lastId;
    let added = messages;
    if (this.atLiveEnd) {
      added = this.list.add(messages);
      if (stick) {
        if (this.list.trimStart(WINDOW) > 0) this.leftStart();
        this.toBottom();
      } else if (this.list.size > WINDOW) {
        // Reading further up: the newest go out of the window (the button brings them back).
        this.list.trimEnd(WINDOW);
        this.atLiveEnd = false;
      }
    }
    const me = this.hooks.me();
    const fromOthers = initial ? [] : added.filter((m) => m.name !== me);
    if (fromOthers.length && !wasHere) {
      const list = this.list;
      if (this.newWhileAway === 0 && (list.divider === undefined || list.divider >= (lastShown ?? 0))) list.setDivider(lastShown);
      this.newWhileAway += fromOthers.length;
      if (!stick || !this.atLiveEnd) this.showMarker();
      this.hooks.awayChanged();
    }
    if (fromOthers.length) this.hooks.arrived(fromOthers);
    this.noteSeen();
  }

  /** One wrote a message: read up to here, so no "New" line, and the view goes to the end. */
  wrote() {
    this.list.setDivider(undefined);
    this.newWhileAway = 0;
    this.hooks.awayChanged();
    if (this.atLiveEnd) this.toBottom();
    else void this.jumpToLatest();
  }

  /** The reader is at the newest message of a visible tab: remember it as seen. */
  noteSeen() {
    if (!this.readerIsHere()) return;
    const last = this.list.last;
    if (last) markSeen(this.room, last.id, last.at);
    this.hideMarker();
    if (this.newWhileAway) {
      this.newWhileAway = 0;
      this.hooks.awayChanged();
    }
  }

  private nearBottom() {
    const s = this.ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
  }
  private toBottom() {
    this.ui.scroller.scrollTop = this.ui.scroller.scrollHeight;
  }
  private readerIsHere() {
    return !document.hidden && this.atLiveEnd && this.nearBottom();
  }

  private showMarker() {
    const n = this.newWhileAway;
    this.ui.marker.hidden = false;
    this.ui.marker.textContent = n > 0 ? `${n} new message${n === 1 ? "" : "s"} ↓` : "Latest messages ↓";
  }
  private hideMarker() {
    this.ui.marker.hidden = true;
  }

  /** Back to the newest messages: the window is reloaded at the live end if it left it. */
  private async jumpToLatest() {
    if (!this.atLiveEnd) {
      const mine = this.generation;
      const page = await this.fetchPage(`limit=${PAGE}`);
      if (!page || mine !== this.generation) return;
      this.list.clear();
      this.list.firstIsStart = false;
      this.startReached = page.length < PAGE;
      this.list.add(page);
      this.atLiveEnd = true;
      await this.catchUp();
    }
    this.toBottom();
    this.noteSeen();
  }

  private scrolled() {
    const s = this.ui.scroller;
    const up = s.scrollTop < this.lastScrollTop;
    this.lastScrollTop = s.scrollTop;
    if (this.nearBottom() && this.atLiveEnd) this.noteSeen();
    if (s.scrollTop < 400 && (up || s.scrollTop === 0)) void this.loadOlder();
    if (!this.atLiveEnd && s.scrollHeight - s.scrollTop - s.clientHeight < 400) void this.loadNewer();
    if (!this.atLiveEnd && this.ui.marker.hidden) this.showMarker();
  }

  // ---- paging over REST, both ways, keeping the reader's place ----

  private async fetchPage(query: string): Promise<Message[] | undefined> {
    try {
      const res = await fetch(`/rooms/${encodeURIComponent(this.room)}/messages?${query}`);
      if (!res.ok) return undefined;
      return ((await res.json()) as { messages: Message[] }).messages;
    } catch {
      return undefined;
    }
  }

  /** Runs `change`, then scrolls so that the message at the top of the view stays where it was. */
  private keepPlace(change: () => void) {
    const top = this.ui.scroller.getBoundingClientRect().top;
    const anchor = [...this.ui.messages.children].find((item) => item.getBoundingClientRect().bottom > top);
    const before = anchor?.getBoundingClientRect().top;
    change();
    if (anchor?.isConnected && before !== undefined) this.ui.scroller.scrollTop += anchor.getBoundingClientRect().top - before;
    this.lastScrollTop = this.ui.scroller.scrollTop;
  }

  private async loadOlder() {
    if (!this.ready || this.loadingOlder || this.startReached) return;
    const before = this.list.firstId;
    const mine = this.generation;
    this.loadingOlder = true;
    this.ui.older.textContent = "Loading older messages…";
    const page = await this.fetchPage(before === undefined ? `limit=${PAGE}` : `before=${before}&limit=${PAGE}`);
    if (mine !== this.generation) return;
    this.loadingOlder = false;
    if (!page) {
      this.ui.older.textContent = "Could not load older messages; scroll up to try again.";
      return;
    }
    this.startReached = page.length < PAGE;
    this.list.firstIsStart = this.startReached;
    this.keepPlace(() => {
      this.list.add(page);
      // The far end goes out of the DOM; scrolling back down loads it again.
      if (this.list.trimEnd(WINDOW) > 0) this.atLiveEnd = false;
    });
    this.ui.older.textContent = this.startReached ? `This is the start of #${this.room}.` : "";
    this.fillView();
  }

  private async loadNewer() {
    if (!this.ready || this.loadingNewer || this.atLiveEnd) return;
    const mine = this.generation;
    this.loadingNewer = true;
    const page = await this.fetchPage(`after=${this.list.lastId ?? 0}&limit=${PAGE}`);
    if (mine !== this.generation) return;
    this.loadingNewer = false;
    if (!page) return;
    this.keepPlace(() => {
      this.list.add(page);
      if (this.list.trimStart(WINDOW) > 0) this.leftStart();
    });
    if (page.length < PAGE) {
      this.atLiveEnd = true;
      await this.catchUp();
    }
  }

  /** The room's first message went out of the window. */
  private leftStart() {
    this.startReached = false;
    this.list.firstIsStart = false;
    this.ui.older.textContent = "";
  }

  /** Live messages that came while the window was elsewhere and the REST page did not have. */
  private async catchUp() {
    while (this.atLiveEnd && (this.list.lastId ?? 0) < this.latest) {
      const mine = this.generation;
      const page = await this.fetchPage(`after=${this.list.lastId ?? 0}&limit=${PAGE}`);
      if (!page || mine !== this.generation || page.length === 0) return;
      this.list.add(page);
    }
  }

  /** Loads older pages while the view is not scrollable (or still near the top). */
  private fillView() {
    const s = this.ui.scroller;
    if (s.scrollHeight <= s.clientHeight || s.scrollTop < 200) void this.loadOlder();
  }

  /** Arrow keys move between messages (each can take focus, which shows its time). */
  private arrowKeys(e: KeyboardEvent) {
    if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
    const target = e.target as HTMLElement;
    let next: Element | null | undefined;
    if (target.classList.contains("msg") && target.parentElement === this.ui.messages) {
      next = e.key === "ArrowUp" ? target.previousElementSibling : target.nextElementSibling;
    } else if (target === this.ui.scroller) {
      const bottom = this.ui.scroller.getBoundingClientRect().bottom;
      next = [...this.ui.messages.children].reverse().find((item) => item.getBoundingClientRect().top < bottom);
    }
    if (!next) return;
    e.preventDefault();
    (next as HTMLElement).focus();
  }
}
