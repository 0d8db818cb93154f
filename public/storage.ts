// What the page keeps in the browser (localStorage): the name, and per room the draft, the
// unsent messages and the last message seen. localStorage throws in some private modes and when
// full: the page then still works, it only forgets across reloads. The signed-in user's token
// is the exception: sessionStorage, so it lives as long as the tab (a reload keeps it) and never
// reaches another tab or outlives the session.

export const KEYS = {
  name: "chat.name",
  notify: "chat.notify",
  draft: (room: string) => `chat.draft.${room}`,
  outbox: (room: string) => `chat.outbox.${room}`,
  seen: (room: string) => `chat.seen.${room}`,
};

export const storage = {
  get(key: string): string | undefined {
    try {
      return localStorage.getItem(key) ?? undefined;
    } catch {
      return undefined;
    }
  },
  set(key: string, value: string) {
    try {
      localStorage.setItem(key, value);
    } catch {}
  },
  remove(key: string) {
    try {
      localStorage.removeItem(key);
    } catch {}
  },
  json<T>(key: string): T | undefined {
    const raw = storage.get(key);
    if (raw === undefined) return undefined;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return undefined;
    }
  },
  /** Rooms with something stored under `key` (from this tab, another one, or before a reload). */
  roomsWith(key: (room: string) => string): string[] {
    const prefix = key("");
    const rooms: string[] = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const stored = localStorage.key(i);
        if (stored?.startsWith(prefix)) rooms.push(stored.slice(prefix.length));
      }
    } catch {}
    return rooms;
  },
};

/** The last message a reader saw in a room: where "new since you were last here" starts. */
export interface Seen {
  id: number;
  at: number;
}
export const seenIn = (room: string) => storage.json<Seen>(KEYS.seen(room));
export function markSeen(room: string, id: number, at: number) {
  const seen = seenIn(room);
  if (seen && seen.id >= id) return;
  storage.set(KEYS.seen(room), JSON.stringify({ id, at }));
}

const TOKEN_KEY = "chat.token";

/** The signed-in user's token in this tab (see access.ts), or undefined. */
export const sessionToken = {
  get(): string | undefined {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || undefined;
    } catch {
      return undefined;
    }
  },
  set(token: string) {
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {}
  },
};
