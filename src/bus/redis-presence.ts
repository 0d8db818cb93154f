// Who is online on every node, kept in Redis (Bun's RedisClient). Per room, one hash
// (`chat:presence:<room>`) with a field per node and name (`<node>/<name>` = that node's sockets
// of the name), so a join or a leave writes one field, however big the room. Per node, a
// heartbeat key (`chat:node:<id>`, PX ttl) refreshed every ttl/3. A node that dies (kill -9: it
// says nothing) stops refreshing it: within ttl the key is gone, and within one check more the
// nodes that share a room with it notice, delete its fields (HDEL: idempotent, so several nodes
// may do it) and report it gone. Reads skip the fields of nodes without a heartbeat, so a dead
// node's names never count, even in rooms no live node checks; those hashes expire ttl after
// their last live holder refreshed them.
//
// Redis is never trusted to keep anything: after a restart (or a drop longer than ttl) the
// heartbeat is found missing, and each of this node's rosters is replaced whole. A write that
// failed is replaced whole at the next connection too. Nothing here rejects: while Redis is
// down a read answers with this node's own view.
//
// The scripts read keys they are not given (the heartbeats): fine on one Redis, not on Redis
// Cluster, where a room's hash and the heartbeats would live on different shards.
import { RedisClient } from "bun";
import type { NodeRoster, PresenceDirectory } from "../rooms/ports";
import { online } from "./local-presence";

export const presenceKey = (room: string) => `chat:presence:${room}`;
const HEARTBEAT = "chat:node:";
export const heartbeatKey = (node: string) => `${HEARTBEAT}${node}`;
/** Rooms live somewhere with no message yet: a sorted set, each scored by when its mark lapses (ms). */
export const UNWRITTEN_KEY = "chat:unwritten";
/** A field's node ends at its first "/": node ids have none, names may. */
const field = (node: string, name: string) => `${node}/${name}`;

// In every script: a field's node, and whether a node has a heartbeat (asked once per run).
const COMMON = `
local prefix, alive = ARGV[2], {}
local function node_of(field)
  return string.sub(field, 1, (string.find(field, '/', 1, true) or 0) - 1)
end
local function is_alive(node)
  if alive[node] == nil then alive[node] = redis.call('EXISTS', prefix .. node) == 1 end
  return alive[node]
end`;

// KEYS: this node's rooms; ARGV: this node, the heartbeat prefix, other nodes seen before.
// Deletes the fields of nodes without a heartbeat; returns { dead nodes, live nodes }.
const CHECK = `${COMMON}
local self, seen, dead, live = ARGV[1], {}, {}, {}
local function look(node)
  if node == self then return true end
  if seen[node] == nil then
    seen[node] = true
    if is_alive(node) then live[#live + 1] = node else dead[#dead + 1] = node end
  end
  return is_alive(node)
end
for i = 3, #ARGV do look(ARGV[i]) end
for _, key in ipairs(KEYS) do
  for _, field in ipairs(redis.call('HKEYS', key)) do
    if not look(node_of(field)) then redis.call('HDEL', key, field) end
  end
end
return { dead, live }`;

// KEYS[1]: a room; ARGV: this node, the heartbeat prefix. The other live nodes' fields, flat.
const LOAD = `${COMMON}
local self, found = ARGV[1], {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  local node = node_of(fields[i])
  if node ~= self and is_alive(node) then
    found[#found + 1] = fields[i]
    found[#found + 1] = fields[i + 1]
  end
end
return found`;

// KEYS: rooms; ARGV: (unused), the heartbeat prefix. Per room, the distinct names of live nodes.
const COUNTS = `${COMMON}
local counts = {}
for i, key in ipairs(KEYS) do
  local names, count = {}, 0
  for _, field in ipairs(redis.call('HKEYS', key)) do
    local node = node_of(field)
    local name = string.sub(field, #node + 2)
    if is_alive(node) and not names[name] then
      names[name] = true
      count = count + 1
    end
  end
  counts[i] = count
end
return counts`;

// KEYS[1]: a room; ARGV: this node, ttl, then name, sockets, name, sockets... This node's
// fields there become exactly these (none: gone).
const REPLACE = `
local self, ttl = ARGV[1], ARGV[2]
for _, field in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(field, 1, #self + 1) == self .. '/' then redis.call('HDEL', KEYS[1], field) end
end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], self .. '/' .. ARGV[i], ARGV[i + 1]) end
if #ARGV > 2 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1`;

export interface RedisPresenceOptions {
  url: string;
  /** This node's id: its RoomBus's `node` (no "/" in it). */
  node: string;
  /** Ms a heartbeat lives: a dead node is noticed within ttl + checkEvery. */
  ttl?: number;
  /** Ms between checks for dead nodes in this node's rooms. */
  checkEvery?: number;
  /** Ms before connecting again once Bun's client has given up its own retries. */
  retryEvery?: number;
}

// Defaults: a dead node's members are gone within 15 + 5 s, well inside the 30 s promised.
export const PRESENCE_TTL = 15_000;
export const PRESENCE_CHECK_EVERY = 5_000;

type Roster = Map<string, number>;

export function openRedisPresence(options: RedisPresenceOptions): PresenceDirectory {
  const { node, ttl = PRESENCE_TTL, checkEvery = PRESENCE_CHECK_EVERY } = options;
  if (node.includes("/")) throw new Error(`a node id has no "/": ${node}`);
  // No offline queue: while Redis is down a command fails at once, and what was not written
  // is replaced whole at the next connection.
  const client = new RedisClient(options.url, { enableOfflineQueue: false, connectionTimeout: 2_000 });
  const mine = new Map<string, Roster>(); // room -> this node's roster (never empty)
  const written = new Map<string, Roster>(); // room -> what Redis holds of it, once sent commands ran
  const dirty = new Set<string>(); // rooms whose roster Redis has not been sent yet
  const unsure = new Set<string>(); // rooms where a write failed, or Redis lost them: replace whole
  const known = new Set<string>(); // other nodes seen in this node's rooms
  const reported = new Set<string>(); // reported gone and not back
  const unwritten = new Set<string>(); // this node's live rooms without a message: marked, refreshed with the heartbeat
  const mark = (rooms: Iterable<string>) => {
    const lapses = String(Date.now() + ttl);
    const members = [...rooms].flatMap((room) => [lapses, room]);
    if (members.length && client.connected && !closed) client.send("ZADD", [UNWRITTEN_KEY, ...members]).catch(() => {});
  };
  let flushing: Promise<void> | undefined;
  // Settles at the first connection, or after a second without one: a publish right after
  // opening is written, and a node started while Redis is down waits once, briefly. (Bun's
  // connect() settles only once its retries are spent: 31 s with Redis down, measured here.)
  const first = Promise.withResolvers<void>();
  setTimeout(first.resolve, 1_000).unref();
  let connectedAt = 0;
  let reconnected = false;
  let closed = false;
  let gone: (node: string) => void = () => {};
  let back: (node: string) => void = () => {};

  /** Sends what changed since the last write, a room at a time, in one pipeline. */
  function send(room: string): Promise<unknown> {
    const now = mine.get(room) ?? new Map();
    const key = presenceKey(room);
    if (unsure.delete(room)) {
      written.set(room, now);
      return client.send("EVAL", [REPLACE, "1", key, node, String(ttl), ...[...now].flatMap(([name, sockets]) => [name, String(sockets)])]);
    }
    // Commands on one connection run in order: what was sent is what Redis holds, unless a
    // command fails, and then the room is replaced whole.
    const before = written.get(room) ?? new Map();
    written.set(room, now);
    const set = [...now].filter(([name, sockets]) => before.get(name) !== sockets).flatMap(([name, sockets]) => [field(node, name), String(sockets)]);
    const removed = [...before.keys()].filter((name) => !now.has(name)).map((name) => field(node, name));
    const commands: Promise<unknown>[] = [];
    if (set.length) commands.push(client.send("HSET", [key, ...set]), client.send("PEXPIRE", [key, String(ttl)]));
    if (removed.length) commands.push(client.send("HDEL", [key, ...removed]));
    return Promise.all(commands);
  }

  async function flush(): Promise<void> {
    await first.promise;
    if (!client.connected || closed) return;
    return (flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      flushing = undefined;
      const rooms = [...dirty];
      dirty.clear();
      await Promise.all(
        rooms.map((room) =>
          send(room).catch(() => {
            unsure.add(room);
            dirty.add(room);
          }),
        ),
      );
      for (const room of rooms) if (!mine.has(room) && !unsure.has(room)) written.delete(room);
    }));
  }

  async function heartbeat() {
    if (!client.connected || closed) return;
    try {
      // Sent before any roster on this connection: a roster is never seen without its heartbeat.
      const before = await client.send("SET", [heartbeatKey(node), "1", "PX", String(ttl), "GET"]);
      // A room's hash expires ttl after its last live holder refreshed it: no dead room lingers.
      for (const room of mine.keys()) client.send("PEXPIRE", [presenceKey(room), String(ttl)]).catch(() => {});
      mark(unwritten);
      client.send("ZREMRANGEBYSCORE", [UNWRITTEN_KEY, "-inf", String(Date.now())]).catch(() => {});
      if (before === null) {
        // A restarted Redis, or a drop longer than ttl (the others dropped this node's fields).
        for (const room of new Set([...mine.keys(), ...written.keys()])) {
          unsure.add(room);
          dirty.add(room);
        }
      }
      if (dirty.size) await flush();
    } catch {
      // Down: the next connection starts with a heartbeat.
    }
  }

  async function check() {
    if (!client.connected || closed) return;
    // After a reconnect, one ttl for the other nodes to come back and beat again: a restarted
    // Redis has lost every heartbeat, and a live node must not be taken for a dead one.
    if (reconnected && Date.now() - connectedAt < ttl) return;
    const rooms = [...mine.keys()].map(presenceKey);
    let result: unknown;
    try {
      result = await client.send("EVAL", [CHECK, String(rooms.length), ...rooms, node, HEARTBEAT, ...known]);
    } catch {
      return;
    }
    const [dead, live] = result as [string[], string[]];
    for (const other of live) {
      known.add(other);
      if (reported.delete(other)) back(other);
    }
    for (const other of dead) {
      known.delete(other);
      if (reported.has(other)) continue;
      reported.add(other);
      gone(other);
    }
  }

  client.onconnect = () => {
    if (connectedAt) reconnected = true;
    connectedAt = Date.now();
    // Whatever failed on the last connection is replaced whole on this one, after the heartbeat.
    void heartbeat();
    first.resolve();
  };
  client.onclose = () => {
    // Bun's client says so only once it gave up its own retries.
    if (!closed) setTimeout(() => !closed && client.connect().catch(() => {}), options.retryEvery ?? 1_000).unref();
  };
  client.connect().catch(() => first.resolve());
  const beating = setInterval(heartbeat, ttl / 3);
  const checking = setInterval(() => void check().catch(() => {}), checkEvery);
  beating.unref();
  checking.unref();

  return {
    node,
    publish(room, roster) {
      const names = online(roster);
      if (names.length) mine.set(room, new Map(names.map((name) => [name, roster.get(name)!])));
      else if (!mine.delete(room)) return Promise.resolve();
      dirty.add(room);
      return flush();
    },
    async load(room) {
      const others = new Map<string, Roster>();
      await first.promise;
      let found: string[];
      try {
        found = (await client.send("EVAL", [LOAD, "1", presenceKey(room), node, HEARTBEAT])) as string[];
      } catch {
        return others;
      }
      for (let i = 0; i < found.length; i += 2) {
        const at = found[i]!.indexOf("/");
        const other = found[i]!.slice(0, at);
        const sockets = Number(found[i + 1]);
        if (at < 0 || !Number.isInteger(sockets) || sockets <= 0) continue; // not a node's field
        if (!others.has(other)) others.set(other, new Map());
        others.get(other)!.set(found[i]!.slice(at + 1), sockets);
        known.add(other);
      }
      return others;
    },
    async counts(rooms) {
      if (!rooms.length) return new Map();
      await first.promise;
      try {
        const counts = (await client.send("EVAL", [COUNTS, String(rooms.length), ...rooms.map(presenceKey), node, HEARTBEAT])) as number[];
        return new Map(rooms.map((room, i) => [room, counts[i] ?? 0]));
      } catch {
        return new Map(rooms.map((room) => [room, mine.get(room)?.size ?? 0]));
      }
    },
    markUnwritten(room, state) {
      if (state === "unwritten") {
        if (unwritten.has(room)) return;
        unwritten.add(room);
        mark([room]);
        return;
      }
      unwritten.delete(room);
      // Written: no node should list it any more (each node that holds it says so too).
      if (state === "written" && client.connected && !closed) client.send("ZREM", [UNWRITTEN_KEY, room]).catch(() => {});
    },
    async unwrittenRooms() {
      await first.promise;
      try {
        const rooms = (await client.send("ZRANGEBYSCORE", [UNWRITTEN_KEY, String(Date.now()), "+inf"])) as string[];
        return rooms.toSorted();
      } catch {
        return [...unwritten].sort();
      }
    },
    onNodeGone(fn) {
      gone = fn;
    },
    onNodeBack(fn) {
      back = fn;
    },
    async close() {
      if (closed) return;
      clearInterval(beating);
      clearInterval(checking);
      await flushing;
      closed = true;
      if (client.connected) {
        // A clean stop: the others see its members go at once, not after a timeout.
        const rooms = new Set([...mine.keys(), ...written.keys()]);
        const removals = [...rooms].map((room) => client.send("EVAL", [REPLACE, "1", presenceKey(room), node, String(ttl)]));
        // Its unwritten marks lapse within ttl (another node may hold the same rooms).
        await Promise.all([...removals, client.send("DEL", [heartbeatKey(node)])]).catch(() => {});
      }
      mine.clear();
      client.close();
    },
  };
}
