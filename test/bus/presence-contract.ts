// One suite for every PresenceDirectory (the shape of ./contract.ts): what a node reads of the
// others' rosters, how GET /rooms' counts are made, and a node leaving cleanly. Dying nodes and
// outages are the Redis suite's (./redis-presence.test.ts): only there can a node die alone.
import { expect, test } from "bun:test";
import type { PresenceDirectory } from "../../src/rooms/ports";
import { defer } from "../setup";

export interface PresenceImplementation {
  name: string;
  /** How many nodes can share one link (1: one node). */
  maxNodes: number;
  /** A fresh link (its own server, say), and how to open a node on it. */
  link(): Promise<{ open(node: string): PresenceDirectory }>;
}

const roster = (entries: [string, number][]) => new Map(entries);

/** Marks are written without a promise: wait (bounded) until another read shows them. */
async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await Bun.sleep(10);
  }
}

export function runPresenceContract(implementation: PresenceImplementation) {
  const { name, maxNodes } = implementation;
  const cluster = maxNodes > 1 ? test : () => {};

  async function nodes(count: number) {
    const link = await implementation.link();
    return Array.from({ length: count }, (_, i) => {
      const directory = link.open(`node-${i}`);
      defer(() => directory.close());
      return directory;
    });
  }

  test(`${name}: counts are this node's distinct names per room; an empty roster removes it; unknown rooms are 0`, async () => {
    const [a] = (await nodes(1)) as [PresenceDirectory];
    expect(a.node).toBe("node-0");
    await a.publish("r", roster([["ann", 2], ["bob", 1], ["nobody", 0]]));
    await a.publish("s", roster([["cat", 1]]));
    expect(await a.counts(["r", "s", "empty"])).toEqual(new Map([["r", 2], ["s", 1], ["empty", 0]]));
    await a.publish("s", new Map());
    await a.publish("never held", new Map()); // nothing to remove: fine
    expect(await a.counts(["s"])).toEqual(new Map([["s", 0]]));
    expect(await a.counts([])).toEqual(new Map());
    expect(await a.load("r")).toEqual(new Map()); // never its own roster
  });

  test(`${name}: a roster is a snapshot: changing the map afterwards changes nothing published`, async () => {
    const [a] = (await nodes(1)) as [PresenceDirectory];
    const mutable = roster([["ann", 1]]);
    await a.publish("r", mutable);
    mutable.set("bob", 1);
    expect(await a.counts(["r"])).toEqual(new Map([["r", 1]]));
  });

  test(`${name}: rooms marked unwritten are listed, sorted, until written or gone here`, async () => {
    const [a] = (await nodes(1)) as [PresenceDirectory];
    a.markUnwritten("s", "unwritten");
    a.markUnwritten("r", "unwritten");
    a.markUnwritten("t", "unwritten");
    await until(async () => (await a.unwrittenRooms()).join() === "r,s,t", "three rooms listed");
    a.markUnwritten("s", "written");
    await until(async () => (await a.unwrittenRooms()).join() === "r,t", "a written room no longer listed");
  });

  cluster(`${name}: every node lists the rooms any live node marks unwritten; written anywhere takes it back`, async () => {
    const [a, b] = (await nodes(2)) as [PresenceDirectory, PresenceDirectory];
    a.markUnwritten("quiet", "unwritten");
    b.markUnwritten("calm", "unwritten");
    for (const node of [a, b]) await until(async () => (await node.unwrittenRooms()).join() === "calm,quiet", `both rooms listed on ${node.node}`);
    b.markUnwritten("quiet", "written"); // b heard its first message
    await until(async () => (await a.unwrittenRooms()).join() === "calm", "a written room gone on the other node");
  });

  cluster(`${name}: each node loads the other nodes' rosters exactly, and counts the distinct names of all`, async () => {
    const [a, b, c] = (await nodes(3)) as [PresenceDirectory, PresenceDirectory, PresenceDirectory];
    await a.publish("r", roster([["ann", 1], ["shared", 2]]));
    await b.publish("r", roster([["bob", 3], ["shared", 1]]));
    await c.publish("other", roster([["cat", 1]]));
    const names = "ünïcode 😀 \"quoted\" [x]";
    await c.publish("r", roster([[names, 1]]));
    expect(await a.load("r")).toEqual(new Map([["node-1", roster([["bob", 3], ["shared", 1]])], ["node-2", roster([[names, 1]])]]));
    expect(await c.load("r")).toEqual(new Map([["node-0", roster([["ann", 1], ["shared", 2]])], ["node-1", roster([["bob", 3], ["shared", 1]])]]));
    expect(await b.load("other")).toEqual(new Map([["node-2", roster([["cat", 1]])]]));
    for (const node of [a, b, c]) expect(await node.counts(["r", "other", "none"])).toEqual(new Map([["r", 4], ["other", 1], ["none", 0]]));
    // The last write wins, and an empty roster is gone for the others too.
    await b.publish("r", roster([["bob", 1]]));
    await c.publish("r", new Map());
    expect(await a.load("r")).toEqual(new Map([["node-1", roster([["bob", 1]])]]));
    expect(await a.counts(["r"])).toEqual(new Map([["r", 3]]));
  });

  cluster(`${name}: quick successive publishes of a room end with the last one`, async () => {
    const [a, b] = (await nodes(2)) as [PresenceDirectory, PresenceDirectory];
    const writes = Array.from({ length: 50 }, (_, i) => a.publish("r", roster([[`n${i}`, 1]])));
    await Promise.all(writes);
    expect(await b.load("r")).toEqual(new Map([["node-0", roster([["n49", 1]])]]));
  });

  cluster(`${name}: a node that closes takes its rosters with it, at once`, async () => {
    const [a, b] = (await nodes(2)) as [PresenceDirectory, PresenceDirectory];
    let gone = 0;
    b.onNodeGone(() => gone++);
    await a.publish("r", roster([["ann", 1]]));
    await b.publish("r", roster([["bob", 1]]));
    expect(await b.counts(["r"])).toEqual(new Map([["r", 2]]));
    await a.close();
    expect(await b.load("r")).toEqual(new Map());
    expect(await b.counts(["r"])).toEqual(new Map([["r", 1]]));
    expect(gone).toBe(0); // it said goodbye: nothing to report
  });
}
