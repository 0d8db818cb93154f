// Who is online on every node, kept in Redis (Bun's RedisClient). Per room, one hash
// (`chat:presence:<room>`): field = node id, value = that node's roster there as JSON pairs
// [[name, sockets], ...]. Per node, a heartbeat key (`chat:node:<id>`, PX ttl) refreshed every
// ttl/3. A node that dies (kill -9: it says nothing) stops refreshing it: within ttl its key is
// gone, and within one check more the nodes that share a room with it notice, delete its fields
// (HDEL: idempotent, so several nodes may do it) and report it gone. Reads skip the fields of
// nodes without a heartbeat, so a dead node's names never count, even where no node checked.
//
// Redis is never trusted to keep anything: after a restart (or a drop longer than ttl) the
// heartbeat is found missing and every roster of this node is written again. Rosters and
// removals not yet written are kept for then. Nothing here rejects: while Redis is down a read
// answers with this node's own view.
//
// The scripts read keys they are not given (the heartbeats): fine on one Redis, not on Redis
// Cluster, where a room's hash and the heartbeats would live on different shards.
import { RedisClient } from "bun";
import type { NodeRoster, PresenceDirectory } from "../rooms/ports";
import { online } from "./local-presence";

export const presenceKey = (room: string) => `chat:presence:${room}`;
const HEARTBEAT = "chat:node:";
export const heartbeatKey = (node: string) => `${HEARTBEAT}${node}`;

// KEYS: room hashes; ARGV: this node, the heartbeat prefix, nodes seen before. The other nodes
// in these rooms (or seen before) without a heartbeat lose their fields here; returns
// { dead nodes, live nodes }.
const CHECK = `
local self, prefix = ARGV[1], ARGV[2]
local alive, dead, live = {}, {}, {}
local function check(node)
  if node == self then return true end
  if alive[node] == nil then
    alive[node] = redis.call('EXISTS', prefix .. node) == 1
    if alive[node] then live[#live + 1] = node else dead[#dead + 1] = node end
  end
  return alive[node]
end
for i = 3, #ARGV do check(ARGV[i]) end
for _, key in ipairs(KEYS) do
  for _, node in ipairs(redis.call('HKEYS', key)) do
    if not check(node) then redis.call('HDEL', key, node) end
  end
end
return { dead, live }`;

// KEYS[1]: a room's hash; ARGV: this node, the heartbeat prefix. The other live nodes' rosters,
// flat: node, roster, node, roster...
const LOAD = `
local self, prefix, found = ARGV[1], ARGV[2], {}
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] ~= self and redis.call('EXISTS', prefix .. fields[i]) == 1 then
    found[#found + 1] = fields[i]
    found[#found + 1] = fields[i + 1]
  end
end
return found`;

// KEYS: room hashes; ARGV[1]: the heartbeat prefix. Per room, the distinct names of live nodes.
const COUNTS = `
local prefix, alive, counts = ARGV[1], {}, {}
for i, key in ipairs(KEYS) do
  local names, count = {}, 0
  local fields = redis.call('HGETALL', key)
  for j = 1, #fields, 2 do
    local node = fields[j]
    if alive[node] == nil then alive[node] = redis.call('EXISTS', prefix .. node) == 1 end
    local ok, roster = pcall(cjson.decode, fields[j + 1])
    if alive[node] and ok and type(roster) == 'table' then
      for _, pair in ipairs(roster) do
        if type(pair) == 'table' and type(pair[1]) == 'string' and not names[pair[1]] then
          names[pair[1]] = true
          count = count + 1
        end
      end
    end
  end
  counts[i] = count
end
return counts`;

export interface RedisPresenceOptions {
  url: string;
  /** This node's id: its RoomBus's `node`. */
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

export function openRedisPresence(options: RedisPresenceOptions): PresenceDirectory {
  const { node, ttl = PRESENCE_TTL, checkEvery = PRESENCE_CHECK_EVERY } = options;
  // No offline queue: while Redis is down a command fails at once, and what was not written
  // stays dirty for the next connection.
  const client = new RedisClient(options.url, { enableOfflineQueue: false, connectionTimeout: 2_000 });
  const mine = new Map<string, Map<string, number>>(); // room -> this node's roster (never empty)
  const dirty = new Set<string>(); // rooms whose roster (or its removal) Redis has not got yet
  const known = new Set<string>(); // other nodes seen in this node's rooms
  const reported = new Set<string>(); // reported gone (a node that comes back is reported again)
  let flushing: Promise<void> | undefined;
  // Settles at the first connection, or when it failed: a publish right after opening is written.
  const first = Promise.withResolvers<void>();
  let connectedAt = 0;
  let reconnected = false;
  let closed = false;
  let handler: (node: string) => void = () => {};

  /** Writes what is dirty, in one pipeline; resolves once Redis has it (or it failed). */
  async function flush(): Promise<void> {
    await first.promise;
    if (!client.connected || closed) return;
    return (flushing ??= new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
      flushing = undefined;
      const rooms = [...dirty];
      dirty.clear();
      const writes = rooms.map((room) => {
        const roster = mine.get(room);
        const key = presenceKey(room);
        const written = roster
          ? Promise.all([client.send("HSET", [key, node, JSON.stringify([...roster])]), client.send("PEXPIRE", [key, String(ttl)])])
          : client.send("HDEL", [key, node]);
        return written.catch(() => void dirty.add(room)); // the next connection writes it
      });
      await Promise.all(writes);
    }));
  }

  /** Every roster of this node, again: Redis lost them, or may have. */
  function rewrite() {
    for (const room of mine.keys()) dirty.add(room);
    return flush();
  }

  async function heartbeat() {
    if (!client.connected || closed) return;
    try {
      // Sent before any roster on this connection: a roster is never seen without its heartbeat.
      const before = await client.send("SET", [heartbeatKey(node), "1", "PX", String(ttl), "GET"]);
      // The hashes expire ttl after their last holder refreshed them: no dead room lingers.
      for (const room of mine.keys()) client.send("PEXPIRE", [presenceKey(room), String(ttl)]).catch(() => {});
      if (before === null) await rewrite(); // a restarted Redis, or a drop longer than ttl
      else if (dirty.size) await flush();
    } catch {
      // Down: the next connection starts with a heartbeat.
    }
  }

  async function check() {
    if (!client.connected || closed) return;
    // After a reconnect, one ttl for the other nodes to come back and beat again: a restarted
    // Redis has lost every heartbeat, and a live node must not be taken for a dead one.
    if (reconnected && Date.now() - connectedAt < ttl) return;
    let result: unknown;
    try {
      result = await client.send("EVAL", [CHECK, String(mine.size), ...[...mine.keys()].map(presenceKey), node, HEARTBEAT, ...known]);
    } catch {
      return;
    }
    const [dead, live] = result as [string[], string[]];
    for (const other of live) {
      known.add(other);
      reported.delete(other);
    }
    for (const other of dead) {
      known.delete(other);
      if (reported.has(other)) continue;
      reported.add(other);
      handler(other);
    }
  }

  client.onconnect = () => {
    if (connectedAt) reconnected = true;
    connectedAt = Date.now();
    void heartbeat(); // first on the connection; it rewrites every roster when Redis lost them
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
      const others = new Map<string, Map<string, number>>();
      let found: string[];
      await first.promise;
      try {
        found = (await client.send("EVAL", [LOAD, "1", presenceKey(room), node, HEARTBEAT])) as string[];
      } catch {
        return others;
      }
      for (let i = 0; i < found.length; i += 2) {
        const roster = parseRoster(found[i + 1]!);
        if (!roster) continue;
        others.set(found[i]!, roster);
        known.add(found[i]!);
      }
      return others;
    },
    async counts(rooms) {
      const own = () => new Map(rooms.map((room) => [room, mine.get(room)?.size ?? 0]));
      if (!rooms.length) return new Map();
      await first.promise;
      try {
        const counts = (await client.send("EVAL", [COUNTS, String(rooms.length), ...rooms.map(presenceKey), HEARTBEAT])) as number[];
        return new Map(rooms.map((room, i) => [room, counts[i] ?? 0]));
      } catch {
        return own();
      }
    },
    onNodeGone(fn) {
      handler = fn;
    },
    async close() {
      if (closed) return;
      clearInterval(beating);
      clearInterval(checking);
      await flushing;
      closed = true;
      if (client.connected) {
        // A clean stop: the others see its members go at once, not after a timeout.
        const removals = [...new Set([...mine.keys(), ...dirty])].map((room) => client.send("HDEL", [presenceKey(room), node]));
        await Promise.all([...removals, client.send("DEL", [heartbeatKey(node)])]).catch(() => {});
      }
      mine.clear();
      client.close();
    },
  };
}

/** A roster as another node wrote it, or undefined when it is not one. */
function parseRoster(text: string): Map<string, number> | undefined {
  try {
    const pairs: unknown = JSON.parse(text);
    if (!Array.isArray(pairs)) return undefined;
    const roster = new Map<string, number>();
    for (const pair of pairs) {
      if (Array.isArray(pair) && typeof pair[0] === "string" && Number.isInteger(pair[1]) && pair[1] > 0) roster.set(pair[0], pair[1]);
    }
    return roster;
  } catch {
    return undefined;
  }
}
