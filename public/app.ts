// The web page: join screen, room list, one room's conversation. All chat traffic goes through
// the shared client core (src/client), which owns reconnecting, resuming and acks; the page owns
// what people typed (drafts and the outbox, per room, in localStorage) and what is on screen.
import { connect, type ChatClient, type ConnectionState } from "../src/client/index";
import type { Message, RoomSummary } from "../src/protocol/frames";
import { isRoomName, LIMITS, normalizeName } from "../src/protocol/limits";
import { el, hue, MessageList } from "./messages";
import { Outbox, type Entry } from "./outbox";
import { RoomList, type RoomRow } from "./rooms";
import { KEYS, markSeen, seenIn, storage } from "./storage";
import { MESSAGE_LIMIT, mentions, messageLength, REFUSED_CONTROL } from "./text";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  join: $("join"),
  joinForm: $<HTMLFormElement>("join-form"),
  joinName: $<HTMLInputElement>("join-name"),
  joinRoom: $<HTMLInputElement>("join-room"),
  joinError: $("join-error"),
  chat: $("chat"),
  roomsToggle: $<HTMLButtonElement>("rooms-toggle"),
  roomTitle: $("room-title"),
  conn: $("conn"),
  invite: $<HTMLButtonElement>("invite"),
  rename: $<HTMLButtonElement>("rename"),
  notify: $<HTMLButtonElement>("notify"),
  me: $("me"),
  sidebar: $("sidebar"),
  rooms: $<HTMLUListElement>("rooms"),
  openForm: $<HTMLFormElement>("open-form"),
  openRoom: $<HTMLInputElement>("open-room"),
  openError: $("open-error"),
  online: $<HTMLUListElement>("online"),
  onlineCount: $("online-count"),
  onlineUnknown: $("online-unknown"),
  scroller: $("scroller"),
  older: $("older"),
  messages: $<HTMLOListElement>("messages"),
  pending: $<HTMLOListElement>("pending"),
  marker: $<HTMLButtonElement>("new-marker"),
  announcer: $("announcer"),
  status: $("status"),
  error: $("error"),
  compose: $<HTMLFormElement>("compose"),
  text: $<HTMLTextAreaElement>("text"),
  counter: $("counter"),
  renameDialog: $<HTMLDialogElement>("rename-dialog"),
  renameForm: $<HTMLFormElement>("rename-form"),
  renameName: $<HTMLInputElement>("rename-name"),
  renameError: $("rename-error"),
  renameCancel: $<HTMLButtonElement>("rename-cancel"),
};

/** Messages per page of REST paging, and the most the DOM holds at once (the window). */
const PAGE = 100;
const WINDOW = 3 * PAGE;
/** The counter shows from here on: far from the limit it is only noise. */
const COUNTER_FROM = MESSAGE_LIMIT - 300;
const BACKOFF = { initialMs: 250, maxMs: 5000 }; // people are watching: at most 5 s between tries

/**
 * A phone or tablet keyboard has no Shift+Enter: there Enter breaks the line and Send sends.
 * Asked of the device (its main pointer), not of the width: a narrow desktop window keeps Enter.
 */
const isTouchDevice = () => matchMedia("(pointer: coarse)").matches || (navigator.maxTouchPoints > 0 && !matchMedia("(any-pointer: fine)").matches);

// ---- the room in the URL (?room=lobby, or #lobby), so a link invites ----

function roomFromUrl(): string | undefined {
  const room = new URLSearchParams(location.search).get("room") ?? new URLSearchParams(`room=${location.hash.slice(1)}`).get("room")!;
  return isRoomName(room) ? room : undefined;
}

function putRoomInUrl(room: string) {
  const url = new URL(location.href);
  url.hash = "";
  url.searchParams.set("room", room);
  if (url.href !== location.href) history.pushState(null, "", url);
}

// ---- state ----

let name = storage.get(KEYS.name) ?? "";
let room = roomFromUrl() ?? "lobby";
let client: ChatClient | undefined;
/** Bumped on every room switch: answers for an older room are dropped. */
let epoch = 0;
const list = new MessageList(ui.messages, () => name);
const view = {
  ready: false,
  loadingOlder: false,
  loadingNewer: false,
  /** The window starts at the room's first message. */
  startReached: false,
  /** The window ends at the newest message: live ones are added to it. */
  atLiveEnd: true,
  /** The newest id known (live), also while the window is elsewhere. */
  latestId: 0,
};
/** Messages that came while the reader was away (scrolled up or another tab): marker and title. */
let newWhileAway = 0;
const roomList = new RoomList(ui.rooms);

// Background connections, one per other room with unsent messages: they join, send, and leave.
const couriers = new Map<string, ChatClient>();
const outbox = new Outbox(
  (r) => (r === room ? client : couriers.get(r)),
  (r) => {
    if (r === room) renderPending();
    scheduleCouriers();
  },
);

// ---- entering a room ----

function enter(next: string) {
  room = next;
  epoch++;
  const old = client;
  client = undefined;
  old?.close();
  list.clear();
  Object.assign(view, { ready: false, loadingOlder: false, loadingNewer: false, startReached: false, atLiveEnd: true, latestId: 0 });
  list.firstIsStart = false;
  newWhileAway = 0;
  // "New since you were last here": after the last message seen on an earlier visit.
  list.setDivider(seenIn(room)?.id);
  ui.older.textContent = "";
  hideError();
  hideMarker();
  ui.roomTitle.textContent = `#${room}`;
  ui.me.textContent = name;
  ui.join.hidden = true;
  ui.chat.hidden = false;
  ui.text.value = storage.get(KEYS.draft(room)) ?? "";
  ui.text.placeholder = isTouchDevice() ? `Message #${room}` : `Message #${room} (Enter sends, Shift+Enter: new line)`;
  ui.text.enterKeyHint = isTouchDevice() ? "enter" : "send";
  composerChanged();
  updateTitle();
  connectRoom();
  renderPending();
  scheduleCouriers();
  // Now, and again once the server has seen us leave the room before (so it is not counted).
  refreshRoomsSoon(0);
  setTimeout(() => refreshRoomsSoon(0), 1000);
}

/** (Re)connects the open room, keeping what is on screen: a resume brings only newer messages. */
function connectRoom() {
  const old = client;
  client = undefined;
  old?.close();
  const mine = epoch;
  const c = connect({ url: location.origin, room, name, backoff: BACKOFF, ...(view.latestId ? { since: view.latestId } : {}) });
  client = c;
  let joinRefused: { code: string; retryAfter?: number } | undefined;
  showState(c.state);
  c.on("state", (state) => {
    if (c !== client) return;
    showState(state);
    if (state === "online") {
      outbox.online(room);
      refreshRooms();
    }
    if (state === "closed" && joinRefused) {
      // The server refused the join. Too many joins from this address: come back when it says.
      const refusal = joinRefused;
      joinRefused = undefined;
      if (refusal.code === "rate_limited") setTimeout(() => mine === epoch && c === client && connectRoom(), Math.max(250, refusal.retryAfter ?? 1000));
    }
  });
  c.on("history", (messages) => {
    if (c !== client) return;
    const first = !view.ready;
    view.ready = true;
    showLive(messages, first);
    renderOnline();
    if (first) fillView();
  });
  c.on("message", (m) => c === client && showLive([m], false));
  const presence = () => {
    if (c !== client) return;
    renderOnline();
    refreshRoomsSoon();
  };
  c.on("joined", presence);
  c.on("left", presence);
  c.on("error", (e) => {
    if (c !== client) return;
    if (c.state !== "online") joinRefused = { code: e.code, retryAfter: e.retryAfter };
    showError(e.code, e.message, e.retryAfter);
  });
  renderOnline();
}

// ---- messages, the window, sticky scrolling, the "new messages" marker ----

const nearBottom = () => ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight < 48;
const toBottom = () => (ui.scroller.scrollTop = ui.scroller.scrollHeight);
const readerIsHere = () => !document.hidden && view.atLiveEnd && nearBottom();

function showLive(messages: Message[], initial: boolean) {
  if (messages.length === 0) return;
  view.latestId = Math.max(view.latestId, messages[messages.length - 1]!.id);
  const stick = initial || nearBottom();
  const wasHere = initial || readerIsHere();
  const lastShown = list.lastId;
  let added: Message[] = [];
  if (view.atLiveEnd) {
    added = list.add(messages);
    if (stick) {
      list.trimStart(WINDOW);
      view.startReached &&= list.size < WINDOW;
      toBottom();
    } else if (list.size > WINDOW) {
      // Reading further up: the newest go out of the window (the marker brings them back).
      list.trimEnd(WINDOW);
      view.atLiveEnd = false;
    }
  } else added = messages;
  if (initial) return noteSeen();
  const fromOthers = added.filter((m) => m.name !== name);
  if (fromOthers.length === 0) return noteSeen();
  for (const m of fromOthers) announce(`${m.name}: ${m.message}`);
  if (!wasHere) {
    if (newWhileAway === 0 && (list.divider === undefined || list.divider >= (lastShown ?? 0))) list.setDivider(lastShown);
    newWhileAway += fromOthers.length;
    if (!stick || !view.atLiveEnd) showMarker();
    updateTitle();
  }
  notify(fromOthers);
  noteSeen();
}

/** The reader is at the newest message of a visible tab: remember it as seen. */
function noteSeen() {
  if (!readerIsHere()) return;
  const last = list.last;
  if (last) markSeen(room, last.id, last.at);
  hideMarker();
  if (newWhileAway) {
    newWhileAway = 0;
    updateTitle();
  }
}

function announce(text: string) {
  ui.announcer.append(el("p", undefined, text));
  // A few recent lines are enough for assistive tech; the list itself keeps everything.
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild!.remove();
}

function showMarker() {
  ui.marker.hidden = false;
  ui.marker.textContent = newWhileAway > 0 ? `${newWhileAway} new message${newWhileAway === 1 ? "" : "s"} ↓` : "Latest messages ↓";
}

function hideMarker() {
  ui.marker.hidden = true;
}

ui.marker.addEventListener("click", async () => {
  await jumpToLatest();
  hideMarker();
  // The button is gone: focus goes where the reader goes next, not to <body>.
  ui.text.focus({ preventScroll: true });
});

/** Back to the newest messages: the window is reloaded at the live end if it left it. */
async function jumpToLatest() {
  if (!view.atLiveEnd) {
    const mine = epoch;
    const page = await fetchPage(`limit=${PAGE}`);
    if (!page || mine !== epoch) return;
    list.clear();
    list.firstIsStart = false;
    view.startReached = page.length < PAGE;
    list.add(page);
    view.atLiveEnd = true;
    await catchUp();
  }
  toBottom();
  noteSeen();
}

let lastScrollTop = 0;
ui.scroller.addEventListener("scroll", () => {
  const up = ui.scroller.scrollTop < lastScrollTop;
  lastScrollTop = ui.scroller.scrollTop;
  if (nearBottom() && view.atLiveEnd) noteSeen();
  if (ui.scroller.scrollTop < 400 && (up || ui.scroller.scrollTop === 0)) void loadOlder();
  if (!view.atLiveEnd && ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight < 400) void loadNewer();
  if (!view.atLiveEnd && ui.marker.hidden) showMarker();
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  noteSeen();
  refreshRooms();
});
window.addEventListener("focus", () => refreshRoomsSoon());

// ---- paging over REST, both ways, keeping the reader's place ----

async function fetchPage(query: string): Promise<Message[] | undefined> {
  try {
    const res = await fetch(`/rooms/${encodeURIComponent(room)}/messages?${query}`);
    if (!res.ok) return undefined;
    return ((await res.json()) as { messages: Message[] }).messages;
  } catch {
    return undefined;
  }
}

/** Runs `change`, then scrolls so that the message at the top of the view stays where it was. */
function keepPlace(change: () => void) {
  const top = ui.scroller.getBoundingClientRect().top;
  const anchor = [...ui.messages.children].find((item) => item.getBoundingClientRect().bottom > top) as HTMLElement | undefined;
  const before = anchor?.getBoundingClientRect().top;
  change();
  if (anchor?.isConnected && before !== undefined) ui.scroller.scrollTop += anchor.getBoundingClientRect().top - before;
  lastScrollTop = ui.scroller.scrollTop;
}

async function loadOlder() {
  if (!view.ready || view.loadingOlder || view.startReached) return;
  const before = list.firstId;
  const mine = epoch;
  view.loadingOlder = true;
  ui.older.textContent = "Loading older messages…";
  const page = await fetchPage(before === undefined ? `limit=${PAGE}` : `before=${before}&limit=${PAGE}`);
  if (mine !== epoch) return;
  view.loadingOlder = false;
  if (!page) {
    ui.older.textContent = "Could not load older messages; scroll up to try again.";
    return;
  }
  view.startReached = page.length < PAGE;
  list.firstIsStart = view.startReached;
  keepPlace(() => {
    list.add(page);
    // The far end goes out of the DOM; scrolling back down loads it again.
    if (list.trimEnd(WINDOW) > 0) view.atLiveEnd = false;
  });
  ui.older.textContent = view.startReached ? `This is the start of #${room}.` : "";
  fillView();
}

async function loadNewer() {
  if (!view.ready || view.loadingNewer || view.atLiveEnd) return;
  const mine = epoch;
  view.loadingNewer = true;
  const after = list.lastId ?? 0;
  const page = await fetchPage(`after=${after}&limit=${PAGE}`);
  if (mine !== epoch) return;
  view.loadingNewer = false;
  if (!page) return;
  keepPlace(() => {
    list.add(page);
    if (list.trimStart(WINDOW) > 0) {
      view.startReached = false;
      list.firstIsStart = false;
      ui.older.textContent = "";
    }
  });
  if (page.length < PAGE) {
    view.atLiveEnd = true;
    await catchUp();
  }
}

/** Live messages that came while the window was elsewhere and the REST page did not have. */
async function catchUp() {
  while (view.atLiveEnd && (list.lastId ?? 0) < view.latestId) {
    const mine = epoch;
    const page = await fetchPage(`after=${list.lastId ?? 0}&limit=${PAGE}`);
    if (!page || mine !== epoch || page.length === 0) return;
    list.add(page);
  }
}

/** Loads older pages while the view is not scrollable (or still near the top). */
function fillView() {
  if (ui.scroller.scrollHeight <= ui.scroller.clientHeight || ui.scroller.scrollTop < 200) void loadOlder();
}

// Arrow keys move between messages (each can take focus, which shows its time).
ui.scroller.addEventListener("keydown", (e) => {
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
  const target = e.target as HTMLElement;
  let next: Element | null | undefined;
  if (target.classList.contains("msg") && target.parentElement === ui.messages) {
    next = e.key === "ArrowUp" ? target.previousElementSibling : target.nextElementSibling;
  } else if (target === ui.scroller) {
    const bottom = ui.scroller.getBoundingClientRect().bottom;
    next = [...ui.messages.children].reverse().find((item) => item.getBoundingClientRect().top < bottom);
  }
  if (!next) return;
  e.preventDefault();
  (next as HTMLElement).focus();
});

// ---- who is online ----

function renderOnline() {
  const connected = client?.state === "online";
  ui.onlineUnknown.hidden = connected;
  // Offline, nobody is known to be here: no "(0)", which would read as if everyone left.
  const names = connected ? client!.online : [];
  // Names are not unique (one person, two tabs): show each once.
  const unique = [...new Set(names)].sort((a, b) => a.localeCompare(b));
  ui.onlineCount.textContent = connected ? `(${unique.length})` : "";
  ui.online.replaceChildren(
    ...unique.map((n) => {
      const item = el("li", "person");
      item.style.setProperty("--hue", String(hue(n)));
      const label = el("span", "person-name", n);
      label.dir = "auto";
      item.append(label);
      if (n === name) item.append(el("span", "you", "(you)"));
      return item;
    }),
  );
}

// ---- connection state ----

const STATE_WORDS: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  online: "Online",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

function showState(state: ConnectionState) {
  ui.conn.dataset.state = state;
  ui.conn.textContent = STATE_WORDS[state];
  renderOnline();
  renderPending();
  renderRooms();
}

// ---- the room list ----

let roomsTimer: ReturnType<typeof setTimeout> | undefined;
let summaries: RoomSummary[] = [];
/** Unread counts by room, with the lastMessageAt they were counted at (recounted when it moves). */
const unreadCounts = new Map<string, { at: number; count: number }>();

function refreshRoomsSoon(ms = 300) {
  clearTimeout(roomsTimer);
  roomsTimer = setTimeout(refreshRooms, ms);
}

/** While the tab is visible the list is polled this often (and on events); hidden, not at all. */
const ROOMS_POLL_MS = 5_000;

async function refreshRooms() {
  clearTimeout(roomsTimer);
  try {
    // The first page is enough here: the server lists the busiest rooms first.
    const res = await fetch("/rooms");
    if (res.ok) summaries = ((await res.json()) as { rooms: RoomSummary[] }).rooms;
  } catch {} // offline: the list stays, without online counts, and the connection state says why
  renderRooms();
  void countUnread();
  clearTimeout(roomsTimer); // one polling chain, even when two refreshes overlapped
  if (!document.hidden) roomsTimer = setTimeout(refreshRooms, ROOMS_POLL_MS);
}

function renderRooms() {
  // Rooms of one's own: the open one, and those with a draft or unsent messages.
  const mine = new Set([room, ...storage.roomsWith(KEYS.outbox), ...storage.roomsWith(KEYS.draft)].filter(isRoomName));
  const rows: RoomRow[] = summaries
    // A room nobody is in and nobody wrote in is a typo or an abandoned idea: not listed.
    .filter((r) => r.online > 0 || r.lastMessageAt !== null || mine.has(r.room))
    .slice(0, 100)
    .map((r) => ({ ...r, unread: unreadCounts.get(r.room)?.count }));
  const listed = new Set(rows.map((r) => r.room));
  for (const r of mine) if (!listed.has(r)) rows.unshift({ room: r, online: 0, lastMessageAt: null });
  for (const row of rows) row.unsent = outbox.entries(row.room).length;
  roomList.show(rows, room, client?.state === "online");
  updateTitle();
}

/** Unread per visited room: the messages from others after the last one seen there. */
async function countUnread() {
  const stale = summaries.filter((r) => {
    if (r.room === room || r.lastMessageAt === null) return false;
    const seen = seenIn(r.room);
    if (!seen) return false;
    if (r.lastMessageAt <= seen.at) return unreadCounts.delete(r.room), false;
    return unreadCounts.get(r.room)?.at !== r.lastMessageAt;
  });
  for (const r of stale.slice(0, 20)) {
    const seen = seenIn(r.room)!;
    try {
      const res = await fetch(`/rooms/${encodeURIComponent(r.room)}/messages?after=${seen.id}&limit=${PAGE}`);
      if (!res.ok) continue;
      const { messages } = (await res.json()) as { messages: Message[] };
      unreadCounts.set(r.room, { at: r.lastMessageAt!, count: messages.filter((m) => m.name !== name).length });
    } catch {
      return;
    }
  }
  if (stale.length) renderRooms();
}

function updateTitle() {
  let total = newWhileAway;
  for (const [r, { count }] of unreadCounts) if (r !== room) total += count;
  document.title = `${total ? `(${total > 99 ? "99+" : total}) ` : ""}#${room} · chat`;
}

function openRoom(next: string) {
  setDrawer(false);
  if (next !== room || !client) {
    putRoomInUrl(next);
    enter(next);
  }
  // Focus goes to where one writes, not to <body> (the link may have moved).
  ui.text.focus({ preventScroll: true });
}

ui.rooms.addEventListener("click", (e) => {
  const link = (e.target as Element).closest<HTMLAnchorElement>("a[data-room]");
  if (!link || e.ctrlKey || e.metaKey || e.shiftKey) return; // let new tabs open normally
  e.preventDefault();
  openRoom(link.dataset.room!);
});

ui.openForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const next = ui.openRoom.value.trim();
  if (!isRoomName(next)) {
    ui.openError.textContent = "A room name is 1-64 letters, digits, _ - or .";
    return;
  }
  ui.openError.textContent = "";
  ui.openRoom.value = "";
  openRoom(next);
});

window.addEventListener("popstate", () => {
  const next = roomFromUrl() ?? "lobby";
  if (next !== room && name) enter(next);
});

// The sidebar is a drawer on narrow screens.
function setDrawer(open: boolean) {
  ui.sidebar.classList.toggle("open", open);
  ui.roomsToggle.setAttribute("aria-expanded", String(open));
  if (open) refreshRooms();
}
ui.roomsToggle.addEventListener("click", () => setDrawer(!ui.sidebar.classList.contains("open")));
ui.scroller.addEventListener("click", () => setDrawer(false));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && ui.sidebar.classList.contains("open")) {
    setDrawer(false);
    ui.roomsToggle.focus();
  }
});

// ---- unsent messages: each shown in its room until the server has it ----

const pendingItems = new Map<string, HTMLLIElement>();
let pendingTick: ReturnType<typeof setInterval> | undefined;

const FAILURE_WORDS: Record<string, string> = {
  too_long: `too long: at most ${MESSAGE_LIMIT} characters`,
  too_big: "the server refused it as too big",
  unavailable: "the server could not store it",
  timeout: "the server did not answer in time",
  bad_frame: "the server refused it",
};

function renderPending() {
  const entries = outbox.entries(room);
  const keep = new Set(entries.map((e) => e.clientId));
  for (const [id, item] of pendingItems) if (!keep.has(id)) (item.remove(), pendingItems.delete(id));
  let countdown = false;
  for (const entry of entries) {
    let item = pendingItems.get(entry.clientId);
    if (!item) {
      item = el("li", "msg mine pending-msg");
      item.dataset.clientId = entry.clientId;
      const who = el("span", "name", name);
      who.dir = "auto";
      const text = el("div", "text", entry.text);
      text.dir = "auto";
      item.append(who, el("span", "time"), text, el("div", "pending-actions"));
      pendingItems.set(entry.clientId, item);
      ui.pending.append(item);
    }
    countdown ||= describe(item, entry);
  }
  clearInterval(pendingTick);
  if (countdown) pendingTick = setInterval(renderPending, 500);
}

/** Status words and buttons of one unsent message; true while it shows a countdown. */
function describe(item: HTMLLIElement, entry: Entry): boolean {
  const online = client?.state === "online";
  const waitMs = outbox.waitUntil - Date.now();
  let words: string;
  let actions: [string, string][] = [];
  if (entry.status === "sending") words = "Sending…";
  else if (entry.status === "failed") {
    words = `Not sent: ${FAILURE_WORDS[entry.code ?? ""] ?? entry.reason ?? "refused"}.`;
    actions = [["retry", "Retry"], ["edit", "Edit"]];
  } else if (!online) {
    words = "Not sent yet: will send when back online.";
    actions = [["reconnect", "Retry now"], ["cancel", "Cancel"]];
  } else if (waitMs > 0) {
    words = `Sending too fast: will send in ${Math.ceil(waitMs / 1000)} s.`;
    actions = [["cancel", "Cancel"]];
  } else words = "Waiting to send…";
  item.dataset.status = entry.status;
  const time = item.querySelector(".time")!;
  if (time.textContent !== words) time.textContent = words;
  const holder = item.querySelector(".pending-actions")!;
  const wanted = actions.map(([action]) => action).join();
  if (holder.getAttribute("data-actions") !== wanted) {
    holder.setAttribute("data-actions", wanted);
    holder.replaceChildren(
      ...actions.map(([action, label]) => {
        const button = el("button", "link-button", label);
        button.type = "button";
        button.dataset.action = action;
        return button;
      }),
    );
  }
  return entry.status === "queued" && online && waitMs > 0;
}

ui.pending.addEventListener("click", (e) => {
  const button = (e.target as Element).closest<HTMLButtonElement>("button[data-action]");
  const item = button?.closest<HTMLLIElement>("li[data-client-id]");
  if (!button || !item) return;
  const id = item.dataset.clientId!;
  switch (button.dataset.action) {
    case "retry":
      return outbox.retry(room, id);
    case "reconnect":
      return connectRoom();
    case "cancel":
    case "edit": {
      const text = outbox.cancel(room, id);
      if (text === undefined) return;
      // Nothing typed is lost: the words go back to the composer.
      ui.text.value = ui.text.value.trim() ? `${ui.text.value}\n${text}` : text;
      composerChanged();
      ui.text.focus();
    }
  }
});

/** One background connection per other room with messages still to send, and none else. */
let couriersScheduled = false;
function scheduleCouriers() {
  if (couriersScheduled) return;
  couriersScheduled = true;
  setTimeout(() => {
    couriersScheduled = false;
    syncCouriers();
  });
}

function syncCouriers() {
  const waiting = new Set(name ? outbox.roomsWaiting().filter((r) => r !== room) : []);
  for (const [r, c] of couriers) {
    if (waiting.has(r)) continue;
    couriers.delete(r);
    c.close();
  }
  for (const r of waiting) {
    if (couriers.has(r)) continue;
    const c = connect({ url: location.origin, room: r, name, backoff: BACKOFF });
    couriers.set(r, c);
    c.on("state", (state) => {
      if (couriers.get(r) !== c) return;
      if (state === "online") outbox.online(r);
      if (state === "closed") couriers.delete(r); // refused: tried again on the next change
    });
  }
  renderRooms();
}

window.addEventListener("storage", (e) => {
  if (e.key?.startsWith(KEYS.outbox(""))) outbox.reload(e.key.slice(KEYS.outbox("").length));
});

// ---- errors, in words ----

let countdown: ReturnType<typeof setInterval> | undefined;

function showError(code: string | undefined, message: string, retryAfter?: number) {
  clearInterval(countdown);
  ui.error.hidden = false;
  ui.error.dataset.code = code ?? "";
  if (code === "rate_limited") {
    const until = Date.now() + (retryAfter ?? 1000);
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) return hideError();
      ui.error.textContent = `Too many at once from this address: trying again in ${left} s.`;
    };
    tick();
    countdown = setInterval(tick, 250);
    return;
  }
  const words: Record<string, string> = {
    too_long: `That message is too long: at most ${MESSAGE_LIMIT} characters (an emoji may count as 2 or more).`,
    control: "That message holds invisible control characters the server refuses; remove them (tabs and new lines are fine).",
    unavailable: "The server could not load the room; trying again.",
    bad_frame: `The server refused that: ${message}`,
  };
  ui.error.textContent = (code && words[code]) || message || "Something went wrong.";
}

function hideError() {
  clearInterval(countdown);
  ui.error.hidden = true;
  ui.error.textContent = "";
  ui.error.dataset.code = "";
}

// ---- composing: drafts per room, the length counter, Enter ----

function autosize() {
  // scrollHeight leaves out the borders, which border-box sizing counts: add them back, or the
  // box shrinks by their width on the first key.
  const borders = ui.text.offsetHeight - ui.text.clientHeight;
  ui.text.style.height = "auto";
  ui.text.style.height = `${Math.min(ui.text.scrollHeight + borders, 160)}px`;
}

function composerChanged() {
  autosize();
  const length = messageLength(ui.text.value);
  ui.counter.hidden = length < COUNTER_FROM;
  ui.counter.textContent = `${length} / ${MESSAGE_LIMIT}`;
  ui.counter.classList.toggle("over", length > MESSAGE_LIMIT);
  // The "too long" error goes as soon as the text fits again.
  if (ui.error.dataset.code === "too_long" && length <= MESSAGE_LIMIT) hideError();
  if (ui.error.dataset.code === "control" && !REFUSED_CONTROL.test(ui.text.value)) hideError();
}

ui.text.addEventListener("input", () => {
  if (ui.text.value) storage.set(KEYS.draft(room), ui.text.value);
  else storage.remove(KEYS.draft(room));
  composerChanged();
});

ui.text.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
  if (isTouchDevice()) return; // a new line; the Send button sends
  e.preventDefault();
  ui.compose.requestSubmit();
});

ui.compose.addEventListener("submit", (e) => {
  e.preventDefault();
  const text = ui.text.value;
  if (text.trim() === "" || !name) return;
  if (messageLength(text) > MESSAGE_LIMIT) return showError("too_long", "");
  if (REFUSED_CONTROL.test(text)) return showError("control", "");
  hideError();
  // A lone surrogate (a broken paste) would be refused whole: it becomes U+FFFD instead.
  const wellFormed = (text as unknown as { toWellFormed?: () => string }).toWellFormed?.() ?? text;
  outbox.add(room, wellFormed);
  ui.text.value = "";
  storage.remove(KEYS.draft(room));
  composerChanged();
  // Writing means one has read up to here.
  list.setDivider(undefined);
  newWhileAway = 0;
  updateTitle();
  if (view.atLiveEnd) toBottom();
  else void jumpToLatest();
  if (isTouchDevice()) ui.text.focus();
});

// ---- desktop notifications: only after the person asked for them (a click) ----

const canNotify = () => "Notification" in window && Notification.permission === "granted" && storage.get(KEYS.notify) === "on";

function showNotifyButton() {
  const supported = "Notification" in window;
  ui.notify.hidden = !supported;
  if (!supported) return;
  const on = canNotify();
  ui.notify.setAttribute("aria-pressed", String(on));
  ui.notify.textContent = Notification.permission === "denied" ? "Notifications blocked" : on ? "Notifications on" : "Notify me";
  ui.notify.title = on ? "Desktop notifications for @mentions and for messages while this tab is hidden: click to turn off" : "Desktop notifications for @mentions and for messages while this tab is hidden";
}

ui.notify.addEventListener("click", async () => {
  if (canNotify()) storage.set(KEYS.notify, "off");
  else if ((await Notification.requestPermission()) === "granted") storage.set(KEYS.notify, "on");
  showNotifyButton();
});

function notify(messages: Message[]) {
  if (!canNotify()) return;
  for (const m of messages) {
    if (!document.hidden && !mentions(m.message, name)) continue;
    try {
      const note = new Notification(`${m.name} in #${room}`, { body: m.message.slice(0, 200), tag: `chat-${room}` });
      note.onclick = () => window.focus();
    } catch {} // some browsers only notify from a service worker
  }
}

// ---- the join screen and renaming ----

function showJoin() {
  ui.joinName.value = name;
  ui.joinRoom.value = room;
  ui.joinError.textContent = "";
  ui.chat.hidden = true;
  ui.join.hidden = false;
  ui.joinName.focus();
}

const NAME_RULE = `A name is 1-${LIMITS.name} characters, without control or invisible characters.`;

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const chosen = normalizeName(ui.joinName.value);
  const next = ui.joinRoom.value.trim();
  if (chosen === undefined) {
    ui.joinError.textContent = NAME_RULE;
    return;
  }
  if (!isRoomName(next)) {
    ui.joinError.textContent = "A room name is 1-64 letters, digits, _ - or .";
    return;
  }
  name = chosen;
  storage.set(KEYS.name, name);
  putRoomInUrl(next);
  enter(next);
  ui.text.focus();
});

// Renaming asks first: nothing changes (no leaving, no rejoining) until Save.
ui.rename.addEventListener("click", () => {
  ui.renameName.value = name;
  ui.renameError.textContent = "";
  ui.renameDialog.showModal();
  ui.renameName.select();
});
ui.renameCancel.addEventListener("click", () => ui.renameDialog.close());
ui.renameDialog.addEventListener("close", () => ui.rename.focus());
ui.renameForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const chosen = normalizeName(ui.renameName.value);
  if (chosen === undefined) {
    ui.renameError.textContent = NAME_RULE;
    return;
  }
  ui.renameDialog.close();
  if (chosen === name) return;
  name = chosen;
  storage.set(KEYS.name, name);
  for (const c of couriers.values()) c.close();
  couriers.clear();
  enter(room);
  ui.text.focus();
});

ui.invite.addEventListener("click", async () => {
  const link = new URL(`?room=${encodeURIComponent(room)}`, location.href).href;
  try {
    await navigator.clipboard.writeText(link);
    ui.invite.textContent = "Link copied";
    ui.status.textContent = "Link copied";
  } catch {
    // No clipboard (plain http on another host): show the link so it can be copied by hand.
    showError(undefined, `Invite link: ${link}`);
  }
  setTimeout(() => {
    ui.invite.textContent = "Invite";
    ui.status.textContent = "";
  }, 2000);
});

showNotifyButton();
if (name) {
  putRoomInUrl(room);
  enter(room);
  // On a touch device focusing would pop the keyboard up over a page one came to read.
  if (!isTouchDevice()) ui.text.focus();
} else showJoin();
