// The Redis directory: several nodes on one real redis-server of the test's own.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { heartbeatKey, openRedisPresence, PRESENCE_CHECK_EVERY, PRESENCE_TTL, presenceKey } from "../../src/bus/redis-presence";
import { startRedis } from "../redis";
import { defer } from "../setup";
import { runPresenceContract } from "./presence-contract";

runPresenceContract({
  name: "redis",
  maxNodes: 3,
  async link() {
    const redis = await startRedis();
    return { open: (node) => openRedisPresence({ url: redis.url, node, ttl: 1_500, checkEvery: 250 }) };
  },
});

const TTL = 1_500;
const CHECK = 250;
const roster = (entries: [string, number][]) => new Map(entries);

/** A node in a child process (./presence-node.ts), killed with SIGKILL after the test at the latest. */
async function childNode(url: string, node: string, rooms: string[]) {
  const child = Bun.spawn([process.execPath, join(import.meta.dir, "presence-node.ts"), url, node, String(TTL), ...rooms], { stdout: "pipe", stderr: "inherit" });
  defer(() => child.kill("SIGKILL"));
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("ready\n")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`presence node ${node} exited before it was ready: ${out}`);
    out += new TextDecoder().decode(value);
  }
  return child;
}

function open(url: string, node: string, options: { ttl?: number; checkEvery?: number } = {}) {
  const directory = openRedisPresence({ url, node, ttl: TTL, checkEvery: CHECK, ...options });
  defer(() => directory.close());
  const gone: { node: string; at: number }[] = [];
  let wake = () => {};
  directory.onNodeGone((node) => {
    gone.push({ node, at: Date.now() });
    wake();
  });
  /** Resolves when `count` nodes were reported gone; rejects after `ms`. */
  const untilGone = (count: number, ms: number) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${node}: ${gone.length} of ${count} nodes reported gone after ${ms} ms`)), ms);
      const look = () => gone.length >= count && (clearTimeout(timer), resolve());
      wake = look;
      look();
    });
  return { directory, gone, untilGone };
}

test("redis: a node killed with SIGKILL is reported gone once, within ttl + one check, by each node sharing a room with it; its names count nowhere", async () => {
  const redis = await startRedis();
  const a = open(redis.url, "a");
  const b = open(redis.url, "b");
  await a.directory.publish("r", roster([["ann", 1]]));
  await b.directory.publish("r", roster([["bob", 1], ["shared", 1]]));
  await b.directory.publish("s", roster([["bob", 1]]));
  // "nobody-checks" holds only the dead node: no live node checks it, its reads must still skip it.
  const victim = await childNode(redis.url, "victim", ["r", "s", "nobody-checks"]);
  expect(await a.directory.load("r")).toEqual(
    new Map([
      ["b", roster([["bob", 1], ["shared", 1]])],
      ["victim", roster([["victim-r", 1], ["shared", 2]])],
    ]),
  );
  expect(await a.directory.counts(["r", "s", "nobody-checks"])).toEqual(new Map([["r", 4], ["s", 3], ["nobody-checks", 2]]));
  expect(a.gone).toEqual([]);

  const killedAt = Date.now();
  victim.kill("SIGKILL");
  await victim.exited;
  // Within ttl + a check; a loaded machine gets a wide margin on top.
  await Promise.all([a.untilGone(1, TTL + CHECK + 5_000), b.untilGone(1, TTL + CHECK + 5_000)]);
  for (const { gone } of [a, b]) expect(gone.map((g) => g.node)).toEqual(["victim"]);
  const took = Math.max(a.gone[0]!.at, b.gone[0]!.at) - killedAt;
  expect(await a.directory.load("r")).toEqual(new Map([["b", roster([["bob", 1], ["shared", 1]])]]));
  expect(await b.directory.counts(["r", "s", "nobody-checks"])).toEqual(new Map([["r", 3], ["s", 1], ["nobody-checks", 0]]));
  // Its fields are deleted where a live node checked, and the hash it held alone runs out.
  expect(((await redis.command("HKEYS", [presenceKey("r")])) as string[]).sort()).toEqual(["a/ann", "b/bob", "b/shared"]);
  expect(await redis.command("HKEYS", [presenceKey("s")])).toEqual(["b/bob"]);
  expect(Number(await redis.command("PTTL", [presenceKey("nobody-checks")]))).toBeLessThanOrEqual(TTL);
  // Reported once: the checks after it find nothing new (the next report would be a second node).
  const late = await childNode(redis.url, "late", ["r"]);
  late.kill("SIGKILL");
  await a.untilGone(2, TTL + CHECK + 5_000);
  expect(a.gone.map((g) => g.node)).toEqual(["victim", "late"]);
  console.log(`presence: a node killed -9 was reported gone by both others ${took} ms later (ttl ${TTL}, check ${CHECK})`);
}, 30_000);

test("redis: after Redis restarts empty, every node writes its rosters again, and a node that died meanwhile is still reported, alone", async () => {
  const redis = await startRedis();
  const a = open(redis.url, "a");
  const b = open(redis.url, "b");
  await a.directory.publish("r", roster([["ann", 1]]));
  await b.directory.publish("r", roster([["bob", 1]]));
  await childNode(redis.url, "dies-in-outage", ["r"]).then(async (child) => {
    expect((await b.directory.load("r")).size).toBe(2); // b now knows the node, not only its field
    await redis.stop();
    child.kill("SIGKILL");
    await child.exited;
  });
  expect(await b.directory.load("r")).toEqual(new Map()); // down: what is known, nothing
  expect(await b.directory.counts(["r"])).toEqual(new Map([["r", 1]])); // down: its own names
  await a.directory.publish("r", roster([["ann", 2]])); // written once Redis is back
  await redis.start();
  // The dead node's field went with the restart: only what b knew finds it. The first report
  // comes after the grace each node gives the others to come back: had a or b been taken for
  // dead, it would be reported in that same check or before.
  await b.untilGone(1, 2 * TTL + CHECK + 10_000);
  expect(b.gone.map((g) => g.node)).toEqual(["dies-in-outage"]);
  expect(a.gone).toEqual([]);
  expect(await b.directory.load("r")).toEqual(new Map([["a", roster([["ann", 2]])]]));
  expect(await a.directory.load("r")).toEqual(new Map([["b", roster([["bob", 1]])]]));
  expect(await a.directory.counts(["r"])).toEqual(new Map([["r", 2]]));
}, 40_000);

test("redis: counts for a page of rooms is one command to Redis, however many rooms and nodes", async () => {
  const redis = await startRedis();
  // No heartbeat or check falls inside the measure.
  const quiet = { ttl: 600_000, checkEvery: 600_000 };
  const nodes = ["a", "b", "c"].map((node) => open(redis.url, node, quiet).directory);
  const rooms = Array.from({ length: 50 }, (_, i) => `room-${i}`);
  for (const [n, node] of nodes.entries()) for (const room of rooms) await node.publish(room, roster([[`${room}-${n}`, 1], ["everywhere", 1]]));
  await redis.command("CONFIG", ["RESETSTAT"]);
  const counts = await nodes[0]!.counts(rooms);
  const stats = String(await redis.command("INFO", ["commandstats"]));
  expect(counts).toEqual(new Map(rooms.map((room) => [room, 4])));
  const calls = Object.fromEntries([...stats.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)].map(([, name, n]) => [name, Number(n)]));
  expect(calls.eval).toBe(1); // the reads below ran inside it, not as round trips of their own
  expect(calls.hkeys).toBe(50);
  expect(Object.keys(calls).sort()).toEqual(expect.arrayContaining(["eval", "exists", "hkeys"]));
  expect(Object.keys(calls).filter((name) => !["eval", "exists", "hkeys", "config|resetstat", "info", "hello", "client|setinfo"].includes(name))).toEqual([]);
});

test("redis: a field another program garbled is skipped by load, not a failed read", async () => {
  const redis = await startRedis();
  const a = open(redis.url, "a").directory;
  const b = open(redis.url, "b").directory;
  await a.publish("r", roster([["ann", 1]]));
  await b.publish("r", roster([["bob", 1]]));
  await redis.command("SET", [heartbeatKey("garbler"), "1"]);
  await redis.command("HSET", [presenceKey("r"), "garbler/mal", "not a number", "no slash", "1"]);
  expect(await a.load("r")).toEqual(new Map([["b", roster([["bob", 1]])]]));
});

test("redis: a node that stops beating for longer than ttl (SIGSTOP) is reported gone, then back once it runs again, with its names", async () => {
  const redis = await startRedis();
  const a = open(redis.url, "a");
  const backs: string[] = [];
  const isBack = Promise.withResolvers<void>();
  a.directory.onNodeBack((node) => {
    backs.push(node);
    isBack.resolve();
  });
  await a.directory.publish("r", roster([["ann", 1]]));
  const frozen = await childNode(redis.url, "frozen", ["r"]);
  frozen.kill("SIGSTOP"); // its connection stays open; nothing is sent
  await a.untilGone(1, TTL + CHECK + 5_000);
  expect(await a.directory.load("r")).toEqual(new Map());
  frozen.kill("SIGCONT");
  // Its first heartbeat finds its key gone: it writes its rosters again, and a's next check sees it.
  await Promise.race([isBack.promise, Bun.sleep(TTL + CHECK + 5_000).then(() => Promise.reject(new Error("not reported back")))]);
  expect(backs).toEqual(["frozen"]);
  expect(await a.directory.load("r")).toEqual(new Map([["frozen", roster([["frozen-r", 1], ["shared", 2]])]]));
  expect(a.gone.map((g) => g.node)).toEqual(["frozen"]);
}, 30_000);

test("redis: a join or a leave in a big room sends that name only, not the room's roster", async () => {
  const redis = await startRedis();
  const quiet = { ttl: 600_000, checkEvery: 600_000 };
  const a = open(redis.url, "a", quiet).directory;
  const b = open(redis.url, "b", quiet).directory;
  const crowd = roster(Array.from({ length: 2_000 }, (_, i) => [`member-${i}`, 1] as [string, number]));
  await a.publish("big", crowd);
  const inputBytes = async () => Number(/total_net_input_bytes:(\d+)/.exec(String(await redis.command("INFO", ["stats"])))![1]);
  const before = await inputBytes();
  await a.publish("big", new Map([...crowd, ["newcomer", 1]]));
  const joined = (await inputBytes()) - before;
  await a.publish("big", new Map([...crowd].filter(([name]) => name !== "member-7").concat([["newcomer", 2]])));
  const both = (await inputBytes()) - before;
  expect(joined).toBeLessThan(1_000); // the roster itself is ~30 KB
  expect(both - joined).toBeLessThan(1_000);
  const seen = (await b.load("big")).get("a")!;
  expect(seen.size).toBe(2_000);
  expect(seen.get("newcomer")).toBe(2);
  expect(seen.has("member-7")).toBe(false);
  expect(await b.counts(["big"])).toEqual(new Map([["big", 2_000]]));
});

test("redis: the defaults notice a dead node within the 30 s the issue promises, with room to spare for a busy event loop", () => {
  // A dead node is reported within ttl + one check (measured above at test scale).
  expect(PRESENCE_TTL + PRESENCE_CHECK_EVERY).toBeLessThanOrEqual(25_000);
});

test("redis: a node started while Redis is down answers at once from what it has, and its rosters reach Redis once it is up", async () => {
  const redis = await startRedis();
  await redis.stop();
  const a = open(redis.url, "a").directory;
  const startedAt = Date.now();
  await a.publish("r", roster([["ann", 1]]));
  expect(await a.counts(["r"])).toEqual(new Map([["r", 1]]));
  expect(await a.load("r")).toEqual(new Map());
  expect(Date.now() - startedAt).toBeLessThan(5_000); // Bun's own connect() would take 31 s to give up
  await redis.start();
  const b = open(redis.url, "b").directory;
  // No event says a reconnected: poll b's reads (each is a real answer, not a wait).
  const deadline = Date.now() + 15_000;
  while ((await b.load("r")).size === 0 && Date.now() < deadline) await Bun.sleep(100);
  expect(await b.load("r")).toEqual(new Map([["a", roster([["ann", 1]])]]));
}, 30_000);

test("redis: an unwritten mark lapses within the ttl once its node stops holding the room (a dead node stops refreshing alike); refreshed while held", async () => {
  const redis = await startRedis();
  const a = open(redis.url, "a");
  const b = open(redis.url, "b");
  a.directory.markUnwritten("held", "unwritten");
  a.directory.markUnwritten("left", "unwritten");
  const listed = async () => (await b.directory.unwrittenRooms()).join();
  const started = Date.now();
  for (;;) {
    if ((await listed()) === "held,left") break;
    if (Date.now() - started > 5_000) throw new Error(`marks never listed: ${await listed()}`);
    await Bun.sleep(10);
  }
  a.directory.markUnwritten("left", "gone"); // no longer live on a: not taken back (another node may hold it)
  expect(await listed()).toBe("held,left");
  // Beyond the ttl: the room still held was refreshed by a's heartbeat, the other lapsed.
  while ((await listed()) !== "held") {
    if (Date.now() - started > 3 * TTL + 2_000) throw new Error(`the gone room's mark never lapsed: ${await listed()}`);
    await Bun.sleep(50);
  }
  expect(Date.now() - started).toBeGreaterThanOrEqual(TTL - 100);
});
