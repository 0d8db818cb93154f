// The AccessStore's answers, kept for a few seconds: every join asks whether its room is private
// and (verified) whether its user is banned there, and on PostgreSQL each question is a round
// trip. Moderation is rare and a few seconds late is acceptable for a join (the server API that
// bans closes live sockets itself); a flood of joins to one room costs one read per TTL.
import type { AccessStore } from "./ports";

/** How long an answer is kept. */
export const ACCESS_TTL_MS = 5_000;
/** Answers kept at most: a spray of made-up room names or user ids cannot grow the map without end. */
const MAX_ENTRIES = 10_000;

interface Entry<T> {
  value: Promise<T>;
  until: number;
}

class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  /** The value while it is fresh; undefined when it must be read. */
  fresh(key: string): Promise<T> | undefined {
    const hit = this.entries.get(key);
    return hit && hit.until > this.now() ? hit.value : undefined;
  }

  delete(key: string) {
    this.entries.delete(key);
  }

  set(key: string, value: T) {
    const now = this.now();
    if (this.entries.size >= MAX_ENTRIES) this.evict(now);
    this.entries.set(key, { value: Promise.resolve(value), until: now + this.ttlMs });
  }

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = this.now();
    const hit = this.entries.get(key);
    if (hit && hit.until > now) return hit.value;
    if (this.entries.size >= MAX_ENTRIES) this.evict(now);
    // Concurrent joins share one read; a failed read is not kept.
    const value = load();
    this.entries.set(key, { value, until: now + this.ttlMs });
    value.catch(() => this.entries.delete(key));
    return value;
  }

  private evict(now: number) {
    for (const [key, entry] of this.entries) if (entry.until <= now) this.entries.delete(key);
    // Still full: the oldest half goes (a Map iterates in insertion order).
    if (this.entries.size >= MAX_ENTRIES) {
      let drop = this.entries.size / 2;
      for (const key of this.entries.keys()) {
        if (drop-- <= 0) break;
        this.entries.delete(key);
      }
    }
  }
}

export class AccessCache {
  private readonly privacy: TtlCache<boolean>;
  private readonly bans: TtlCache<boolean>;

  constructor(
    private readonly store: AccessStore,
    private readonly now: () => number,
    ttlMs = ACCESS_TTL_MS,
  ) {
    this.privacy = new TtlCache(ttlMs, now);
    this.bans = new TtlCache(ttlMs, now);
  }

  isPrivate(room: string): Promise<boolean> {
    return this.privacy.get(room, () => this.store.roomSettings(room).then((settings) => settings.private));
  }

  /**
   * Which of the rooms are private: the ones not cached are read in one store call (a page of
   * GET /rooms: one query, however long the page), and cached for the joins that follow.
   */
  async privateAmong(rooms: readonly string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const unknown: string[] = [];
    await Promise.all(
      rooms.map(async (room) => {
        const cached = this.privacy.fresh(room);
        if (cached === undefined) unknown.push(room);
        else if (await cached) found.add(room);
      }),
    );
    if (unknown.length) {
      const read = await this.store.privateRooms(unknown);
      for (const room of unknown) {
        this.privacy.set(room, read.has(room));
        if (read.has(room)) found.add(room);
      }
    }
    return found;
  }

  isBanned(room: string, userId: string): Promise<boolean> {
    return this.bans.get(banKey(room, userId), () => this.store.isBanned(room, userId, this.now()));
  }

  /**
   * A moderation call changed the room's settings (or this user's ban there): the next join reads
   * the store again, refused or let in at once rather than up to a TTL later. A read in flight
   * is not kept either: its entry is the one removed.
   */
  forget(room: string, userId?: string) {
    this.privacy.delete(room);
    if (userId !== undefined) this.bans.delete(banKey(room, userId));
  }
}

// A NUL never appears in a room name, so the key is unambiguous.
const banKey = (room: string, userId: string) => `${room}\u0000${userId}`;
