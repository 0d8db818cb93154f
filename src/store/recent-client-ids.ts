// Idempotent sends without a unique index. On SQLite, a unique (room, name, clientId) index
// cost more than half of every stored row (its pages are scattered, so each commit wrote many
// of them), so the embedded store remembers recent clientIds in memory instead, the way NATS
// JetStream and Centrifugo bound theirs: by a window, documented in the README.

export interface RecentClientIdsOptions {
  /** A retry is matched if its message is at most this much older than the retry. */
  windowMs: number;
  /** And at most this many are remembered (the oldest go first): bounds memory under a flood. */
  max: number;
}

interface Entry {
  room: string;
  name: string;
  clientId: string;
  id: number;
  timestamp: number;
}

/** (room, name, clientId) -> the id of the message stored with it, for the messages of the window. */
export class RecentClientIds {
  // Keyed by the clientId string as it came off the wire (no key to build: this runs per
  // message); the rare clientId reused by another room or name goes to `shared`.
  private readonly byClientId = new Map<string, Entry>();
  private readonly shared = new Map<string, Entry>();
  // Oldest first, for forgetting. (Not a Map's own order: deleting from the front of a big Map
  // leaves it to skip ever more deleted slots on each walk from the start.)
  private order: Entry[] = [];
  private head = 0;
  private newest = -Infinity;

  constructor(private readonly options: RecentClientIdsOptions) {}

  /** The id stored with (room, name, clientId), if that message is at most the window older than `at`. */
  get(room: string, name: string, clientId: string, at: number): number | undefined {
    let entry = this.byClientId.get(clientId);
    if (!entry || entry.room !== room || entry.name !== name) entry = this.shared.size ? this.shared.get(sharedKey(room, name, clientId)) : undefined;
    return entry && entry.timestamp >= at - this.options.windowMs ? entry.id : undefined;
  }

  /** Remembers a stored message's clientId (in id order), then forgets what fell out of the window. */
  add(room: string, name: string, clientId: string, id: number, timestamp: number) {
    const entry: Entry = { room, name, clientId, id, timestamp };
    const other = this.byClientId.get(clientId);
    if (!other || (other.room === room && other.name === name)) this.byClientId.set(clientId, entry);
    else this.shared.set(sharedKey(room, name, clientId), entry);
    this.order.push(entry);
    if (timestamp > this.newest) this.newest = timestamp;
    this.forget();
  }

  private forget() {
    const { max, windowMs } = this.options;
    const oldest = this.newest - windowMs;
    const order = this.order;
    while (this.head < order.length && (order.length - this.head > max || order[this.head]!.timestamp < oldest)) {
      const gone = order[this.head++]!;
      // Unless the same (room, name, clientId) was added again since (its message was pruned).
      if (this.byClientId.get(gone.clientId) === gone) this.byClientId.delete(gone.clientId);
      else if (this.shared.size) {
        const key = sharedKey(gone.room, gone.name, gone.clientId);
        if (this.shared.get(key) === gone) this.shared.delete(key);
      }
    }
    if (this.head > 1024 && this.head * 2 > order.length) {
      this.order = order.slice(this.head);
      this.head = 0;
    }
  }

  get size() {
    return this.byClientId.size + this.shared.size;
  }
}

/** One string per (room, name, clientId); the lengths keep "a"+"bc" apart from "ab"+"c". */
function sharedKey(room: string, name: string, clientId: string): string {
  return `${room.length}:${room}${name.length}:${name}${clientId}`;
}
