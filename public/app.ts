// The web page: join screen, room list, one room's conversation. All chat traffic goes through
// the shared client core (src/client), which owns reconnecting, resuming and retrying sends.
import { connect, type ChatClient, type ConnectionState } from "../src/client/index";
import type { Message, RoomSummary } from "../src/protocol/frames";
import { isRoomName, LIMITS, normalizeName } from "../src/protocol/limits";
import { el, hue, MessageList } from "./messages";

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
  me: $("me"),
  sidebar: $("sidebar"),
  rooms: $<HTMLUListElement>("rooms"),
  openForm: $<HTMLFormElement>("open-form"),
  openRoom: $<HTMLInputElement>("open-room"),
  openError: $("open-error"),
  online: $<HTMLUListElement>("online"),
  onlineCount: $("online-count"),
  scroller: $("scroller"),
  older: $("older"),
  messages: $<HTMLOListElement>("messages"),
  pending: $<HTMLOListElement>("pending"),
  marker: $<HTMLButtonElement>("new-marker"),
  announcer: $("announcer"),
  error: $("error"),
  compose: $<HTMLFormElement>("compose"),
  text: $<HTMLTextAreaElement>("text"),
};

const PAGE = 50; // messages per older page
const NAME_KEY = "chat.name";

// localStorage throws in some private modes: the page still works, it just forgets the name.
const storage = {
  get: (key: string) => {
    try {
      return localStorage.getItem(key) ?? undefined;
    } catch {
      return undefined;
    }
  },
  set: (key: string, value: string) => {
    try {
      localStorage.setItem(key, value);
    } catch {}
  },
};

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

// ---- state of the open room ----

let name = storage.get(NAME_KEY) ?? "";
let room = roomFromUrl() ?? "lobby";
let client: ChatClient | undefined;
/** Bumped on every room switch: answers for an older room are dropped. */
let epoch = 0;
const list = new MessageList(ui.messages, () => name);
const older = { ready: false, loading: false, done: false };
let unread = 0;

function enter(next: string) {
  room = next;
  epoch++;
  client?.close();
  list.clear();
  ui.pending.replaceChildren();
  Object.assign(older, { ready: false, loading: false, done: false });
  ui.older.textContent = "";
  hideError();
  hideMarker();
  ui.roomTitle.textContent = `#${room}`;
  ui.me.textContent = name;
  document.title = `#${room} · chat`;
  ui.join.hidden = true;
  ui.chat.hidden = false;
  renderOnline([]);

  const c = connect({
    url: location.origin,
    room,
    name,
    // A page waits at most 5 s between tries: people are watching it.
    backoff: { initialMs: 250, maxMs: 5000 },
  });
  client = c;
  showState(c.state);
  c.on("state", showState);
  c.on("history", (messages) => {
    const first = !older.ready;
    showLive(messages, first);
    if (first) {
      older.ready = true;
      fillView();
    }
  });
  c.on("message", (m) => showLive([m], false));
  c.on("joined", () => {
    renderOnline(c.online);
    refreshRoomsSoon();
  });
  c.on("left", () => {
    renderOnline(c.online);
    refreshRoomsSoon();
  });
  c.on("error", (e) => showError(e.code, e.message, e.retryAfter));
  renderOnline(c.online);
  refreshRooms();
}

// ---- messages, sticky scrolling, the "new messages" marker ----

const nearBottom = () => ui.scroller.scrollHeight - ui.scroller.scrollTop - ui.scroller.clientHeight < 48;
const toBottom = () => (ui.scroller.scrollTop = ui.scroller.scrollHeight);

function showLive(messages: Message[], initial: boolean) {
  const stick = initial || nearBottom();
  const added = list.add(messages);
  if (added.length === 0) return;
  if (stick) toBottom();
  else ui.marker.hidden = false;
  if (initial) return;
  const fromOthers = added.filter((m) => m.name !== name);
  for (const m of fromOthers) announce(`${m.name}: ${m.message}`);
  if (document.hidden) {
    unread += fromOthers.length;
    document.title = `(${unread}) #${room} · chat`;
  }
}

function announce(text: string) {
  ui.announcer.append(el("p", undefined, text));
  // A few recent lines are enough for assistive tech; the list itself keeps everything.
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild!.remove();
}

function hideMarker() {
  ui.marker.hidden = true;
}

ui.marker.addEventListener("click", () => {
  toBottom();
  hideMarker();
});

ui.scroller.addEventListener("scroll", () => {
  if (nearBottom()) hideMarker();
  if (ui.scroller.scrollTop < 200) void loadOlder();
});

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  unread = 0;
  document.title = `#${room} · chat`;
});

// ---- older messages: REST paging on scroll up ----

async function loadOlder() {
  if (!older.ready || older.loading || older.done) return;
  // Nothing shown yet (an empty room, or a server sending no history): the latest page.
  const before = list.firstId;
  const mine = epoch;
  older.loading = true;
  ui.older.textContent = "Loading older messages…";
  try {
    const query = before === undefined ? `limit=${PAGE}` : `before=${before}&limit=${PAGE}`;
    const res = await fetch(`/rooms/${encodeURIComponent(room)}/messages?${query}`);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const { messages } = (await res.json()) as { messages: Message[] };
    if (mine !== epoch) return;
    // Keep the reader's place: what they look at stays put while older lines go in above.
    const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
    list.add(messages);
    ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
    older.done = messages.length < PAGE;
    ui.older.textContent = older.done ? `This is the start of #${room}.` : "";
  } catch {
    if (mine === epoch) ui.older.textContent = "Could not load older messages; scroll up to try again.";
    return;
  } finally {
    if (mine === epoch) older.loading = false;
  }
  fillView();
}

/** Loads older pages while the view is not scrollable (or still near the top). */
function fillView() {
  if (ui.scroller.scrollHeight <= ui.scroller.clientHeight || ui.scroller.scrollTop < 200) void loadOlder();
}

// ---- who is online ----

function renderOnline(names: string[]) {
  // Names are not unique (one person, two tabs): show each once.
  const unique = [...new Set(names)].sort((a, b) => a.localeCompare(b));
  ui.onlineCount.textContent = `(${unique.length})`;
  ui.online.replaceChildren(
    ...unique.map((n) => {
      const item = el("li", "person", n);
      item.style.setProperty("--hue", String(hue(n)));
      if (n === name) item.append(el("span", "you", " (you)"));
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
  // Offline, we do not know who is there; the next join brings the list back.
  if (state !== "online") renderOnline([]);
}

// ---- the room list ----

let roomsTimer: ReturnType<typeof setTimeout> | undefined;
function refreshRoomsSoon() {
  clearTimeout(roomsTimer);
  roomsTimer = setTimeout(refreshRooms, 300);
}

async function refreshRooms() {
  clearTimeout(roomsTimer);
  try {
    const res = await fetch("/rooms");
    if (res.ok) renderRooms(((await res.json()) as { rooms: RoomSummary[] }).rooms);
  } catch {} // offline: the list stays as it was and the connection state says why
  clearTimeout(roomsTimer); // one polling chain, even when two refreshes overlapped
  roomsTimer = setTimeout(refreshRooms, 15_000);
}

function renderRooms(rooms: RoomSummary[]) {
  if (!rooms.some((r) => r.room === room)) rooms = [{ room, online: 0, lastMessageAt: null }, ...rooms];
  ui.rooms.replaceChildren(
    ...rooms.slice(0, 100).map((r) => {
      const link = el("a", "room-link");
      link.href = `?room=${encodeURIComponent(r.room)}`;
      link.dataset.room = r.room;
      if (r.room === room) link.setAttribute("aria-current", "page");
      const count = el("span", "badge", `${r.online} online`);
      count.classList.toggle("some", r.online > 0);
      link.append(el("span", "room-name", `#${r.room}`), count);
      const item = el("li");
      item.append(link);
      return item;
    }),
  );
}

function openRoom(next: string) {
  setDrawer(false);
  if (next === room && client) return;
  putRoomInUrl(next);
  enter(next);
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
}
ui.roomsToggle.addEventListener("click", () => setDrawer(!ui.sidebar.classList.contains("open")));
ui.scroller.addEventListener("click", () => setDrawer(false));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && ui.sidebar.classList.contains("open")) {
    setDrawer(false);
    ui.roomsToggle.focus();
  }
});

// ---- errors, in words ----

let countdown: ReturnType<typeof setInterval> | undefined;
let rateUntil = 0;

function showError(code: string | undefined, message: string, retryAfter?: number) {
  clearInterval(countdown);
  ui.error.hidden = false;
  ui.error.dataset.code = code ?? "";
  if (code === "rate_limited") {
    rateUntil = Date.now() + (retryAfter ?? 1000);
    const tick = () => {
      const left = Math.ceil((rateUntil - Date.now()) / 1000);
      if (left <= 0) return hideError();
      ui.error.textContent = `You are sending too fast. You can send again in ${left} s.`;
    };
    tick();
    countdown = setInterval(tick, 250);
    return;
  }
  const words: Record<string, string> = {
    too_long: `That message is too long: at most ${LIMITS.message} characters.`,
    unavailable: "The server could not store the message; nothing was sent. Please try again.",
    timeout: "The server did not answer in time; the message may not have been sent.",
    bad_frame: `The server refused that: ${message}`,
  };
  ui.error.textContent = (code && words[code]) || message || "Something went wrong.";
}

function hideError() {
  clearInterval(countdown);
  ui.error.hidden = true;
  ui.error.textContent = "";
}

// ---- composing: Enter sends, Shift+Enter breaks the line ----

function autosize() {
  ui.text.style.height = "auto";
  ui.text.style.height = `${Math.min(ui.text.scrollHeight, 160)}px`;
}
ui.text.addEventListener("input", () => {
  autosize();
  // The "too long" error goes as soon as the text fits again.
  if (ui.error.dataset.code === "too_long" && ui.text.value.length <= LIMITS.message) hideError();
});

ui.text.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.shiftKey || e.isComposing || e.altKey || e.ctrlKey || e.metaKey) return;
  e.preventDefault();
  ui.compose.requestSubmit();
});

ui.compose.addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = ui.text.value;
  const c = client;
  if (!c || text.trim() === "") return;
  if (text.length > LIMITS.message) {
    return showError("too_long", "");
  }
  if (rateUntil > Date.now()) return; // the countdown is on screen; the text stays in the box
  ui.text.value = "";
  autosize();
  // Shown until the server's ack (the message then appears in the list with its id).
  const pending = el("li", "msg mine pending-msg");
  pending.append(el("span", "name", name), el("span", "time", "sending…"), el("div", "text", text));
  ui.pending.append(pending);
  toBottom();
  try {
    await c.send(text);
    if (ui.error.dataset.code !== "rate_limited") hideError();
  } catch (error) {
    const { code, retryAfter, message } = error as Error & { code?: string; retryAfter?: number };
    if (ui.text.value === "") ui.text.value = text; // give the words back to fix or resend
    autosize();
    if (c === client) showError(code, message, retryAfter);
  } finally {
    pending.remove();
  }
});

// ---- the join screen and renaming ----

function showJoin() {
  ui.joinName.value = name;
  ui.joinRoom.value = room;
  ui.joinError.textContent = "";
  ui.chat.hidden = true;
  ui.join.hidden = false;
  ui.joinName.focus();
}

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const chosen = normalizeName(ui.joinName.value);
  const next = ui.joinRoom.value.trim();
  if (chosen === undefined) {
    ui.joinError.textContent = `A name is 1-${LIMITS.name} characters, without control characters.`;
    return;
  }
  if (!isRoomName(next)) {
    ui.joinError.textContent = "A room name is 1-64 letters, digits, _ - or .";
    return;
  }
  name = chosen;
  storage.set(NAME_KEY, name);
  putRoomInUrl(next);
  client?.close();
  client = undefined;
  enter(next);
  ui.text.focus();
});

ui.rename.addEventListener("click", () => {
  client?.close();
  client = undefined;
  showJoin();
});

ui.invite.addEventListener("click", async () => {
  const link = new URL(`?room=${encodeURIComponent(room)}`, location.href).href;
  try {
    await navigator.clipboard.writeText(link);
    ui.invite.textContent = "Link copied";
  } catch {
    // No clipboard (plain http on another host): show the link so it can be copied by hand.
    showError(undefined, `Invite link: ${link}`);
  }
  setTimeout(() => (ui.invite.textContent = "Invite"), 2000);
});

if (name) {
  putRoomInUrl(room);
  enter(room);
} else showJoin();
