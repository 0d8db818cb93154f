// One suite for every RoomBus (hono's `runTest({ newRouter })` shape): what a node's members
// get, what its `onRemote` handler gets, membership, and the link's state through outages.
// Nodes are fake: a sink stands in for the Bun server's topics, so no socket is needed.
//
// Absence is proven by order, not by waiting: frames from one node reach another in the order
// they were published, so once a later marker has arrived, an earlier frame that was not
// delivered never will be.
import { expect, test } from "bun:test";
import type { Publisher } from "../../src/bus/local";
import type { BusEvents, RemoteMeta, RoomBus } from "../../src/rooms/ports";
import { defer } from "../setup";

/** Whatever takes the link down: only where there is one. */
export interface Outage {
  /** Drops every subscribed connection (`CLIENT KILL TYPE pubsub`): they reconnect by themselves. */
  killSubscribers(): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export interface BusImplementation {
  name: string;
  /** How many nodes can share one link (1: a one-node bus). */
  maxNodes: number;
  /** A fresh link (its own server, say), and how to open a node on it. */
  link(): Promise<{ open(server: () => Publisher, events: BusEvents): RoomBus; outage?: Outage }>;
}

const WAIT_MS = 10_000; // generous: Bun's client waits up to 2 s between reconnect attempts

/** One node: its bus, what its members got, what its handler got, and what it reported. */
class FakeNode {
  readonly delivered: { room: string; data: string }[] = [];
  readonly remote: { room: string; data: string; meta: RemoteMeta }[] = [];
  readonly states: boolean[] = [];
  readonly errors: unknown[] = [];
  readonly bus: RoomBus;
  private waiters = new Set<() => void>();

  constructor(open: (server: () => Publisher, events: BusEvents) => RoomBus) {
    const sink: Publisher = {
      publish: (room, data) => {
        this.delivered.push({ room, data });
        this.wake();
        return data.length;
      },
    };
    const events: BusEvents = {
      state: (up) => {
        this.states.push(up);
        this.wake();
      },
      error: (error) => this.errors.push(error),
    };
    this.bus = open(() => sink, events);
    defer(() => this.bus.close());
  }

  /** Hands frames from other nodes to the test instead of straight to the members. */
  handle() {
    this.bus.onRemote((room, data, meta) => {
      this.remote.push({ room, data, meta });
      this.wake();
    });
    return this;
  }

  got(room: string) {
    return this.delivered.filter((d) => d.room === room).map((d) => d.data);
  }

  async until(done: () => boolean, what: string) {
    const deadline = Date.now() + WAIT_MS;
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.add(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async untilUp() {
    await this.until(() => this.bus.status().up, "the link up");
  }

  private wake() {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const wake of waiting) wake();
  }
}

const frame = (text: string) => JSON.stringify({ type: "message", text });

export function runBusContract(implementation: BusImplementation) {
  const { name, maxNodes } = implementation;
  // Cross-node promises only where there can be other nodes.
  const cluster = maxNodes > 1 ? test : () => {};

  async function nodes(count: number) {
    const link = await implementation.link();
    const opened = Array.from({ length: count }, () => new FakeNode(link.open));
    for (const node of opened) await node.untilUp();
    return { nodes: opened, outage: link.outage };
  }

  test(`${name}: a publish reaches this node's members at once, whatever the link does`, async () => {
    const {
      nodes: [a],
    } = await nodes(1);
    a!.handle();
    await a!.bus.join("r");
    a!.bus.publish("r", frame("one"));
    expect(a!.got("r")).toEqual([frame("one")]); // synchronously, whatever the link does
    expect(a!.remote).toEqual([]);
    expect(a!.bus.status()).toMatchObject({ up: true, remoteFrames: 0, dropped: 0 });
  });

  test(`${name}: a publish from a connected member goes through its own socket (it skips itself)`, async () => {
    const {
      nodes: [a],
    } = await nodes(1);
    const sent: string[] = [];
    const member = { readyState: 1, publish: (_: string, data: string) => sent.push(data), send: () => 0, subscribe() {}, cork: (fn: () => void) => fn() };
    a!.bus.publish("r", frame("mine"), member);
    expect(sent).toEqual([frame("mine")]);
    expect(a!.delivered).toEqual([]);
    a!.bus.publish("r", frame("gone"), { ...member, readyState: 3 });
    expect(a!.got("r")).toEqual([frame("gone")]);
  });

  cluster(`${name}: frames reach the members on every other node, both ways, in order, and no node hears its own echo`, async () => {
    const { nodes: all } = await nodes(3);
    const [a, b, c] = all as [FakeNode, FakeNode, FakeNode];
    for (const node of all) await node.bus.join("r");
    for (let i = 0; i < 20; i++) a.bus.publish("r", frame(`a${i}`));
    b.bus.publish("r", frame("b0"));
    const fromA = Array.from({ length: 20 }, (_, i) => frame(`a${i}`));
    await b.until(() => b.got("r").length >= 21, "a's frames at b");
    expect(b.got("r").filter((f) => f !== frame("b0"))).toEqual(fromA); // b0 went out locally, at once
    await c.until(() => c.got("r").length >= 21, "both senders' frames at c");
    expect(c.got("r").filter((f) => f !== frame("b0"))).toEqual(fromA);
    // a's own frames came back to it through the link before b's (b sent after a): dropped.
    await a.until(() => a.got("r").includes(frame("b0")), "b's frame at a");
    expect(a.got("r")).toEqual([...fromA, frame("b0")]);
    expect(b.bus.status().remoteFrames).toBe(20);
    expect(a.bus.status().remoteFrames).toBe(1);
  });

  cluster(`${name}: a handler gets other nodes' frames with the sender's node id, and the members get them only from it`, async () => {
    const { nodes: all } = await nodes(2);
    const [a, b] = all as [FakeNode, FakeNode];
    b.handle();
    await b.bus.join("r");
    const data = `${frame("ünïcode 😀")}\n{"a raw newline":"passes"}`; // the bus never reads the frame
    a.bus.publish("r", data);
    await b.until(() => b.remote.length >= 1, "the frame at b's handler");
    expect(b.remote).toEqual([{ room: "r", data, meta: { node: a.bus.node } }]);
    expect(b.delivered).toEqual([]);
    expect(a.bus.node).not.toBe(b.bus.node);
    b.bus.deliver("r", b.remote[0]!.data);
    expect(b.got("r")).toEqual([data]);
  });

  cluster(`${name}: a handler that throws is reported, and the next frames still come`, async () => {
    const { nodes: all } = await nodes(2);
    const [a, b] = all as [FakeNode, FakeNode];
    b.bus.onRemote((room, data) => {
      if (data === frame("first")) throw new Error("the hub broke");
      b.bus.deliver(room, data);
    });
    await b.bus.join("r");
    a.bus.publish("r", frame("first"));
    a.bus.publish("r", frame("second"));
    await b.until(() => b.got("r").length >= 1, "the second frame at b");
    expect(b.got("r")).toEqual([frame("second")]);
    expect(String(b.errors)).toContain("the hub broke");
  });

  cluster(`${name}: a node hears only the rooms it joined, and nothing of a room after it left`, async () => {
    const { nodes: all } = await nodes(2);
    const [a, b] = all as [FakeNode, FakeNode];
    await b.bus.join("kept");
    await b.bus.join("left");
    a.bus.publish("never", frame("not joined"));
    a.bus.publish("left", frame("before"));
    a.bus.publish("kept", frame("marker 1"));
    await b.until(() => b.got("kept").length >= 1, "marker 1");
    expect(b.got("never")).toEqual([]);
    expect(b.got("left")).toEqual([frame("before")]);
    b.bus.leave("left");
    b.bus.leave("left"); // idempotent
    a.bus.publish("left", frame("after"));
    a.bus.publish("kept", frame("marker 2"));
    await b.until(() => b.got("kept").length >= 2, "marker 2");
    expect(b.got("kept")).toEqual([frame("marker 1"), frame("marker 2")]);
    expect(b.got("left")).toEqual([frame("before")]);
    await b.bus.join("left"); // and back
    a.bus.publish("left", frame("again"));
    await b.until(() => b.got("left").length >= 2, "the room joined again");
    expect(b.got("left")).toEqual([frame("before"), frame("again")]);
  });

  cluster(`${name}: after its subscribed connections are killed, every node is back on its rooms and hears each frame once`, async () => {
    const { nodes: all, outage } = await nodes(3);
    const [a, b, c] = all as [FakeNode, FakeNode, FakeNode];
    for (const node of all) await node.bus.join("r");
    await c.bus.join("only-c");
    for (let round = 1; round <= 3; round++) {
      await outage!.killSubscribers();
      for (const node of all) await node.until(() => node.states.filter((up) => up).length >= round + 1, `node up again after kill ${round}`);
      const sent = Array.from({ length: 10 }, (_, i) => frame(`round ${round} #${i}`));
      for (const text of sent) a.bus.publish("r", text);
      b.bus.publish("only-c", frame(`marker ${round}`));
      await b.until(() => b.got("r").length >= 10 * round, `round ${round} at b`);
      await c.until(() => c.got("only-c").length >= round, `round ${round}'s marker at c`);
      expect(b.got("r")).toHaveLength(10 * round);
      expect(b.got("r").slice(-10)).toEqual(sent);
      expect(c.got("only-c")).toHaveLength(round);
      expect(c.got("r")).toHaveLength(10 * round); // a duplicate would have come before the marker
      expect(c.got("r").slice(-10)).toEqual(sent);
    }
    expect(a.states).toEqual([true, false, true, false, true, false, true]);
    expect(b.bus.status().reconnects).toBe(3);
    expect(all.flatMap((node) => node.errors)).toEqual([]);
  });

  cluster(`${name}: with the link stopped, each node reports it down, keeps delivering locally, counts what it dropped, and resumes once it is back`, async () => {
    const { nodes: all, outage } = await nodes(2);
    const [a, b] = all as [FakeNode, FakeNode];
    for (const node of all) await node.bus.join("r");
    await outage!.stop();
    for (const node of all) await node.until(() => node.states.at(-1) === false, "the link reported down");
    expect(a.bus.status().up).toBe(false);
    a.bus.publish("r", frame("while down"));
    expect(a.got("r")).toEqual([frame("while down")]);
    expect(a.bus.status().dropped).toBe(1);
    await b.bus.join("joined while down"); // resolves, does not hang
    await outage!.start();
    for (const node of all) await node.untilUp();
    a.bus.publish("r", frame("back"));
    a.bus.publish("joined while down", frame("new room"));
    await b.until(() => b.got("joined while down").length >= 1, "a frame after the restart");
    expect(b.got("r")).toEqual([frame("back")]);
    b.bus.publish("r", frame("b back"));
    await a.until(() => a.got("r").length >= 3, "b's frame at a");
    expect(a.got("r")).toEqual([frame("while down"), frame("back"), frame("b back")]);
    expect(a.states).toEqual([true, false, true]);
    expect(all.flatMap((node) => node.errors)).toEqual([]);
  }, 30_000);
}
