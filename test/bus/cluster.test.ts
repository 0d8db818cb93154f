// Two nodes in one test process: two apps (createApp) on one real PostgreSQL and one real
// redis-server, their members on real sockets. What the cluster promises across nodes: delivery
// both ways, every member's log equal to the room's history in id order (concurrent senders,
// frames lost on Redis), presence counted over both nodes.
import { describe, expect, test } from "bun:test";
import { openCluster, type ClusterLink } from "../../src/bus/cluster";
import { createTokenVerifier, type TokenSettings } from "../../src/auth/tokens";
import type { AppOptions } from "../../src/http/app";
import { openPgStore } from "../../src/store/pg";
import { SECRET, sign } from "../auth/keys";
import { Client, startServer, type TestServer } from "../helpers";
import { usePostgres } from "../pg";
import { startRedis, type TestRedis } from "../redis";
import { defer } from "../setup";

const pg = usePostgres();

interface Node {
  server: TestServer;
  link: ClusterLink;
  /** While true, this node's message frames never reach Redis (a frame lost on the way). */
  dropRelays: boolean;
  ws(room: string): string;
  metric(name: string): Promise<number>;
}

async function startNodes(count: number, redis?: TestRedis, options: Partial<AppOptions> = {}): Promise<{ nodes: Node[]; redis: TestRedis }> {
  redis ??= await startRedis();
  const databaseUrl = await pg.server.createDatabase();
  const nodes: Node[] = [];
  for (let i = 0; i < count; i++) {
    const store = await openPgStore(databaseUrl);
    let server: TestServer | undefined;
    const link = openCluster({ url: redis.url, server: () => server?.app.server });
    const relay = link.bus.relay;
    const node = { dropRelays: false } as Node;
    // Fault injection at the edge: the frame is committed and delivered here, never published.
    link.bus.relay = (room, data, meta) => {
      if (node.dropRelays && meta.id !== undefined) return;
      relay(room, data, meta);
    };
    defer(() => Promise.all([link.directory.close(), link.bus.close()]));
    server = await startServer({ store, storeKind: "postgres", cluster: link, historyLimit: 1000, ...options });
    Object.assign(node, {
      server,
      link,
      ws: server.wsUrl,
      async metric(name: string) {
        const text = await (await fetch(`${server!.base}/metrics`)).text();
        return Number(text.match(new RegExp(`^${name} (\\d+)`, "m"))?.[1] ?? NaN);
      },
    });
    nodes.push(node);
  }
  for (const node of nodes) expect(await node.link.ready(10_000)).toBe(true);
  return { nodes, redis };
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await Bun.sleep(20); // polling a state that has no event of its own
  }
}

/** A member's next `count` messages (ids and texts). */
async function messagesOf(client: Client, count: number, timeoutMs = 15_000) {
  const got: { id: number; message: string }[] = [];
  while (got.length < count) {
    const frame = await client.next("message", () => true, timeoutMs);
    if (frame.clientId === undefined) got.push({ id: frame.id, message: frame.message });
    else got.push({ id: frame.id, message: frame.message }); // the sender's own copy: one per message too
  }
  return got;
}

async function roomHistory(node: Node, room: string) {
  const { messages } = await (await fetch(`${node.server.base}/rooms/${room}/messages?limit=1000`)).json();
  return (messages as { id: number; message: string }[]).map(({ id, message }) => ({ id, message }));
}

describe("two nodes on one PostgreSQL and one Redis", () => {
  test("delivery both ways, presence counted over both nodes, /health reports Redis", async () => {
    const { nodes } = await startNodes(2);
    const [a, b] = nodes as [Node, Node];
    expect(await (await fetch(`${a.server.base}/health`)).json()).toMatchObject({ ok: true, store: "postgres", redis: "up" });

    const ann = await Client.joined(a.ws("r"), "ann");
    // A room with no message yet, live on A only: B lists it too, counting A's member.
    await until(async () => (await (await fetch(`${b.server.base}/rooms`)).json()).rooms.some((r: any) => r.room === "r" && r.online === 1), "ann's room in B's room list");
    const bob = await Client.open(b.ws("r"));
    bob.send({ type: "join", name: "bob" });
    const history = await bob.next("history");
    expect(history.online.sort()).toEqual(["ann", "bob"]);
    expect((await bob.next("joined", (f) => f.name === "bob")).count).toBe(2);
    const joined = await ann.next("joined", (f) => f.name === "bob");
    expect(joined.count).toBe(2);

    ann.send({ type: "message", message: "hello from A", clientId: "a1" });
    const fromA = await bob.next("message");
    expect(fromA).toMatchObject({ name: "ann", message: "hello from A" });
    expect(fromA.clientId).toBeUndefined();
    expect((await ann.next("message")).clientId).toBe("a1");
    bob.send({ type: "message", message: "hello from B" });
    const fromB = await ann.next("message");
    expect(fromB).toMatchObject({ name: "bob", message: "hello from B" });
    expect(fromB.id).toBeGreaterThan(fromA.id);
    expect(await b.metric("chat_cluster_remote_messages_total")).toBe(1);

    // The last member on B leaving still tells A, with the count over both nodes.
    bob.close();
    const left = await ann.next("left", (f) => f.name === "bob");
    expect(left.count).toBe(1);
    expect(left.online).toEqual(["ann"]);
  });

  test("a verified member on A: its joined, messages and left carry its userId on B too", async () => {
    const verifier = await createTokenVerifier({ authSecret: SECRET } as TokenSettings);
    const { nodes } = await startNodes(2, undefined, { verifier });
    const [a, b] = nodes as [Node, Node];
    const bob = await Client.joined(b.ws("v"), "bob");
    const ann = await Client.open(a.ws("v"));
    ann.send({ type: "join", name: "x", token: await sign(SECRET, { sub: "u-ann", name: "Ann" }) });
    expect((await ann.next("history")).members).toContainEqual({ name: "Ann", userId: "u-ann" });
    expect(await bob.next("joined", (f) => f.name === "Ann")).toMatchObject({ userId: "u-ann", count: 2 });
    ann.send({ type: "message", message: "hi", clientId: "a1" });
    expect(await bob.next("message")).toMatchObject({ name: "Ann", userId: "u-ann", message: "hi" });
    ann.close();
    expect(await bob.next("left", (f) => f.name === "Ann")).toMatchObject({ userId: "u-ann", count: 1 });
  });

  test("a message frame lost on Redis: the other node fills the gap from the database before anything newer", async () => {
    const { nodes } = await startNodes(2);
    const [a, b] = nodes as [Node, Node];
    const ann = await Client.joined(a.ws("gap"), "ann");
    const bob = await Client.joined(b.ws("gap"), "bob");
    a.dropRelays = true;
    ann.send({ type: "message", message: "lost on the way" });
    await ann.next("message");
    a.dropRelays = false;
    ann.send({ type: "message", message: "heard" });
    expect((await messagesOf(bob, 2)).map((m) => m.message)).toEqual(["lost on the way", "heard"]);
    expect(await b.metric("chat_cluster_gap_filled_total")).toBe(1);
    // Nothing doubled afterwards.
    ann.send({ type: "message", message: "after" });
    expect((await bob.next("message")).message).toBe("after");
    expect(bob.unread.filter((f) => f.type === "message")).toEqual([]);
  });

  test("concurrent senders on both nodes, subscribers killed mid-stream: every member's log is the room's history, in id order, once", async () => {
    const { nodes, redis } = await startNodes(2);
    const [a, b] = nodes as [Node, Node];
    const senders = [await Client.joined(a.ws("busy"), "s-a"), await Client.joined(b.ws("busy"), "s-b")];
    const watchers = [await Client.joined(a.ws("busy"), "w-a"), await Client.joined(b.ws("busy"), "w-b")];
    const perSender = 60;
    const logs = watchers.map((w) => messagesOf(w, 2 * perSender, 30_000));
    const acks = senders.map((s) => messagesOf(s, 2 * perSender, 30_000)); // each sender's log: the others' and its own acks
    for (let i = 0; i < perSender; i++) {
      for (const [n, sender] of senders.entries()) sender.send({ type: "message", message: `${n}:${i}`, clientId: `${n}-${i}` });
      if (i % 15 === 7) await redis.command("CLIENT", ["KILL", "TYPE", "pubsub"]);
      if (i % 5 === 0) await Bun.sleep(5); // a stream, not one burst
    }
    const got = [...(await Promise.all(logs)), ...(await Promise.all(acks))];
    const history = await roomHistory(a, "busy");
    expect(history.length).toBe(2 * perSender);
    expect(await roomHistory(b, "busy")).toEqual(history);
    for (const log of got) expect(log).toEqual(history);
    // The kills did cost frames, and the nodes filled them from the database.
    expect((await a.metric("chat_redis_reconnects_total")) + (await b.metric("chat_redis_reconnects_total"))).toBeGreaterThan(0);
    expect((await a.metric("chat_cluster_gap_filled_total")) + (await b.metric("chat_cluster_gap_filled_total"))).toBeGreaterThan(0);
    // Nothing more (no message twice) once the stream is over and the links are back.
    for (const node of nodes) await until(() => node.link.bus.status().up, "links up again");
    senders[0]!.send({ type: "message", message: "last" });
    for (const member of [...watchers, ...senders]) expect((await member.next("message")).message).toBe("last");
  }, 60_000);
});
