// The web page: join screen, room list, one room's conversation. All chat traffic goes through
// the shared client core (src/client), which owns reconnecting, resuming and acks; the page owns
// what people typed (drafts and the outbox, per room, in localStorage) and what is on screen.
import { connect, type ChatClient, type ConnectionState } from "../src/client/index";
import { parseFragment, refusalText, tokenName, withoutToken } from "./access";
import { isRoomName, LIMITS, normalizeName } from "../src/protocol/limits";
import { Couriers } from "./couriers";
import { Conversation } from "./conversation";
import { el, hue, verifiedMark } from "./messages";
import { notify, notifyButton } from "./notify";
import { Outbox } from "./outbox";
import { PendingView } from "./pending";
import { HOME_ROOM, RoomDirectory } from "./rooms";
import { KEYS, sessionToken, storage } from "./storage";
import { MESSAGE_LIMIT, messageLength, REFUSED_CONTROL } from "./text";

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
  const room = new URLSearchParams(location.search).get("room") ?? parseFragment(location.hash).room;
  return room !== undefined && isRoomName(room) ? room : undefined;
}

// ---- a signed-in user's token: `#token=...` (see access.ts), kept for the tab's session ----

/** Reads a token from the fragment, keeps it, and takes it out of the address (and its history entry). */
function takeTokenFromUrl(): string | undefined {
  const { token } = parseFragment(location.hash);
  if (!token) return undefined;
  sessionToken.set(token);
  history.replaceState(history.state, "", withoutToken(location.href));
  return token;
}

function putRoomInUrl(room: string) {
  const url = new URL(location.href);
  url.hash = "";
  url.searchParams.set("room", room);
  if (url.href !== location.href) history.pushState(null, "", url);
}

// ---- state ----

let token = takeTokenFromUrl() ?? sessionToken.get();
/** The name a token carries: the server shows that one, whatever the join says. */
const signedInName = () => (token === undefined ? undefined : tokenName(token));
let name = signedInName() ?? storage.get(KEYS.name) ?? "";
let room = roomFromUrl() ?? HOME_ROOM;
let client: ChatClient | undefined;
const conversation = new Conversation(ui, {
  me: () => name,
  arrived(messages) {
    for (const m of messages) announce(`${m.name}: ${m.message}`);
    notify(messages, room, name);
  },
  awayChanged: () => updateTitle(),
  // The button is gone: focus goes where the reader goes next, not to <body>.
  jumped: () => ui.text.focus({ preventScroll: true }),
});
const directory = new RoomDirectory(ui.rooms, {
  current: () => room,
  connected: () => client?.state === "online",
  me: () => name,
  unsent: (r) => outbox.entries(r).length,
  changed: () => updateTitle(),
});

const outbox: Outbox = new Outbox(
  (r) => (r === room ? client : couriers.get(r)),
  (r) => {
    if (r === room) renderPending();
    couriers.sync();
    renderRooms();
  },
);
// Background connections, one per other room with unsent messages: they join, send, and leave.
const couriers = new Couriers(
  () => ({ url: location.origin, name, backoff: BACKOFF, token }),
  () => (name ? outbox.roomsWaiting().filter((r) => r !== room) : []),
  (r) => outbox.online(r),
);

// ---- entering a room ----

function enter(next: string) {
  room = next;
  const old = client;
  client = undefined;
  old?.close();
  conversation.reset(room);
  hideError();
  ui.roomTitle.textContent = `#${room}`;
  ui.me.textContent = name;
  ui.rename.hidden = signedInName() !== undefined; // the token's name wins over any other
  ui.join.hidden = true;
  ui.chat.hidden = false;
  ui.text.value = storage.get(KEYS.draft(room)) ?? "";
  ui.text.placeholder = isTouchDevice() ? `Message #${room}` : `Message #${room} (Enter sends, Shift+Enter: new line)`;
  ui.text.enterKeyHint = isTouchDevice() ? "enter" : "send";
  composerChanged();
  updateTitle();
  connectRoom();
  renderPending();
  couriers.sync();
  // Now, and again once the server has seen us leave the room before (so it is not counted).
  refreshRoomsSoon(0);
  setTimeout(() => refreshRoomsSoon(0), 1000);
}

/** (Re)connects the open room, keeping what is on screen: a resume brings only newer messages. */
function connectRoom() {
  const old = client;
  client = undefined;
  old?.close();
  // A fixed token (a new #token= in this tab enters the room again with it): a 4401 is final.
  const c = connect({ url: location.origin, room, name, backoff: BACKOFF, token, ...(conversation.latestId ? { since: conversation.latestId } : {}) });
  client = c;
  showState(c.state);
  c.on("state", (state) => {
    if (c !== client) return;
    showState(state);
    if (state === "online") {
      outbox.online(room);
      refreshRooms();
    }
  });
  c.on("history", (messages) => {
    if (c !== client) return;
    conversation.history(messages);
    renderOnline();
  });
  c.on("message", (m) => c === client && conversation.live([m]));
  const presence = () => {
    if (c !== client) return;
    renderOnline();
    refreshRoomsSoon();
  };
  c.on("joined", presence);
  c.on("left", presence);
  // A refused join (the client rejoins by itself after a rate limit's retryAfter; after
  // `unauthorized` or `forbidden` it stops, and the words say why).
  c.on("error", (e) => c === client && showError(e.code, e.message, e.retryAfter, e.reason));
  renderOnline();
}

// ---- messages from the room ----

function announce(text: string) {
  ui.announcer.append(el("p", undefined, text));
  // A few recent lines are enough for assistive tech; the list itself keeps everything.
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild!.remove();
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  conversation.noteSeen();
  refreshRooms();
});
window.addEventListener("focus", () => refreshRoomsSoon());

// ---- who is online ----

function renderOnline() {
  const connected = client?.state === "online";
  ui.onlineUnknown.hidden = connected;
  // Offline, nobody is known to be here: no "(0)", which would read as if everyone left.
  // Each person once (one person, two tabs: one entry); a verified user and an anonymous one
  // under the same name are two, only the verified one marked.
  const members = connected ? [...client!.members] : [];
  members.sort((a, b) => a.name.localeCompare(b.name) || Number(b.userId !== undefined) - Number(a.userId !== undefined));
  ui.onlineCount.textContent = connected ? `(${members.length})` : "";
  ui.online.replaceChildren(
    ...members.map(({ name: n, userId }) => {
      const item = el("li", "person");
      item.style.setProperty("--hue", String(hue(n)));
      const label = el("span", "person-name", n);
      label.dir = "auto";
      if (userId !== undefined) label.append(verifiedMark());
      item.append(label);
      // Signed in, one is the verified entry under one's name; else the anonymous one.
      if (n === name && (userId !== undefined) === (token !== undefined)) item.append(el("span", "you", "(you)"));
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

const refreshRooms = () => directory.refresh();
const refreshRoomsSoon = (ms?: number) => directory.refreshSoon(ms);
const renderRooms = () => directory.render();

function updateTitle() {
  const total = conversation.newWhileAway + directory.unreadElsewhere();
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

function addressChanged() {
  const fresh = takeTokenFromUrl();
  const next = roomFromUrl() ?? HOME_ROOM;
  if (fresh) {
    // Signed in (again) in this tab: every connection rejoins with the new token.
    token = fresh;
    name = signedInName() ?? name;
    couriers.closeAll();
    if (name) enter(next);
    else showJoin();
    return;
  }
  if (next !== room && name) enter(next);
}
window.addEventListener("popstate", addressChanged);
window.addEventListener("hashchange", addressChanged);

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

const pendingView = new PendingView(ui.pending, outbox, { room: () => room, name: () => name, online: () => client?.state === "online" }, (action, id) => {
  if (action === "retry") return outbox.retry(room, id);
  if (action === "reconnect") return connectRoom();
  const text = outbox.cancel(room, id);
  if (text === undefined) return;
  // Nothing typed is lost: the words go back to the composer.
  ui.text.value = ui.text.value.trim() ? `${ui.text.value}\n${text}` : text;
  composerChanged();
  ui.text.focus();
});
const renderPending = () => pendingView.render();

window.addEventListener("storage", (e) => {
  if (e.key?.startsWith(KEYS.outbox(""))) outbox.reload(e.key.slice(KEYS.outbox("").length));
});

// ---- errors, in words ----

let countdown: ReturnType<typeof setInterval> | undefined;

function showError(code: string | undefined, message: string, retryAfter?: number, reason?: string) {
  clearInterval(countdown);
  ui.error.hidden = false;
  ui.error.dataset.code = code ?? "";
  const refusal = code === undefined ? undefined : refusalText(code, reason, token !== undefined);
  if (refusal) {
    ui.error.textContent = refusal;
    return;
  }
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
  conversation.wrote();
  if (isTouchDevice()) ui.text.focus();
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
  couriers.closeAll(); // they rejoin under the new name
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

notifyButton(ui.notify);
if (name) {
  putRoomInUrl(room);
  enter(room);
  // On a touch device focusing would pop the keyboard up over a page one came to read.
  if (!isTouchDevice()) ui.text.focus();
} else showJoin();
