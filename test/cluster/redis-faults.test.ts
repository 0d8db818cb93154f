// Redis failing under a cluster (issue 13). Pub/sub is at-most-once: a frame published while a
// node's subscriber is reconnecting is lost to that node, which must notice the gap and fill it
// from the database. Killed subscribers: every member still gets every message once, in id
// order. Redis stopped: each node serves its own members, /health says so, and once Redis is back
// each node catches up: nothing lost, nothing doubled, in id order throughout.
import { describe, expect, test } from "bun:test";
import { eventually, expectLogEquals, join, messagesOf, metric, restHistory, say, useCluster, waitForMessage, waitForTexts } from "./harness";

const cluster = useCluster();

describe("Redis failing", () => {
  test("the subscribers killed again and again during a stream (CLIENT KILL TYPE pubsub): every member gets every message once, in id order", async () => {
    const { nodes, killSubscribers, subscribers } = await cluster.start(2);
    const [a, b] = nodes as [any, any];
    const room = "stream";
    const members = [await join(a, room, "la"), await join(b, room, "lb")];
    const senders = [await join(a, room, "sa"), await join(b, room, "sb")];
    const everyone = [...members, ...senders];
    const names = ["la (node a)", "lb (node b)", "sa (node a)", "sb (node b)"];

    const texts: string[] = [];
    let killed = 0;
    for (let chunk = 0; chunk < 10; chunk++) {
      const sent: string[][] = [[], []];
      for (let i = 0; i < 15; i++)
        for (const [s, sender] of senders.entries()) {
          const text = `chunk ${chunk} s${s} ${i}`;
          sent[s]!.push(text);
          sender.send({ type: "message", message: text, clientId: text });
        }
      texts.push(...sent.flat());
      if (chunk % 2 === 0) {
        // Each kill must hit a subscribed connection: the nodes hold one each (their rooms' channels).
        await eventually(subscribers, (n) => n >= 2, `both nodes subscribed again before kill ${chunk / 2 + 1}`, 10_000);
        killed += await killSubscribers(); // while this chunk is in flight
      }
      for (const [s, sender] of senders.entries()) await waitForTexts(sender, sent[s]!, `the acks of chunk ${chunk} on node ${"ab"[s]}`);
    }
    expect(killed).toBeGreaterThanOrEqual(5);

    for (const [i, member] of everyone.entries()) await waitForTexts(member, texts, names[i]!, 20_000);
    const marker = await say(senders[1]!, "marker");
    for (const [i, member] of everyone.entries()) await waitForMessage(member, (m) => m.id === marker.id, `${names[i]} getting the marker`);
    const history = await restHistory(a, room);
    expect(history).toHaveLength(texts.length + 1);
    for (const [i, member] of everyone.entries()) expectLogEquals(messagesOf(member), history, names[i]!);
    // What the kills cost, for the reader (timing decides how many frames fell into a reconnect).
    for (const node of nodes)
      console.log(`node ${node.label}: ${await metric(node, "chat_redis_reconnects_total")} Redis reconnects, ${await metric(node, "chat_cluster_gap_filled_total")} messages filled from the database, ${await metric(node, "chat_cluster_remote_messages_total")} heard from the other node`);
  }, 60_000);

  test("Redis stopped, then back: each node serves its own members meanwhile, /health says so, then every member catches up: nothing lost or doubled, in id order", async () => {
    const { nodes, redis } = await cluster.start(2);
    const [a, b] = nodes as [any, any];
    const room = "outage";
    const la = await join(a, room, "la");
    const lb = await join(b, room, "lb");
    const sa = await join(a, room, "sa");
    const sb = await join(b, room, "sb");
    const everyone = [la, lb, sa, sb];
    const names = ["la (node a)", "lb (node b)", "sa (node a)", "sb (node b)"];

    const before = await say(sa, "before the outage");
    await waitForMessage(lb, (m) => m.id === before.id, "lb (node b) getting a message from node a before the outage");
    for (const node of nodes) expect(await node.health(), `node ${node.label}`).toMatchObject({ ok: true, store: "postgres", redis: "up" });

    await redis.stop();
    for (const node of nodes) await eventually(() => node.health(), (h) => h.ok === true && h.redis === "down", `/health of node ${node.label} with Redis stopped`, 5_000);
    // Each node keeps serving its own members: acks, and delivery within the node.
    const outage: string[][] = [[], []];
    for (let i = 0; i < 10; i++)
      for (const [s, sender] of [sa, sb].entries()) {
        const text = `during the outage s${s} ${i}`;
        outage[s]!.push(text);
        sender.send({ type: "message", message: text, clientId: text });
      }
    await waitForTexts(sa, outage[0]!, "sa's acks on node a with Redis down");
    await waitForTexts(sb, outage[1]!, "sb's acks on node b with Redis down");
    await waitForTexts(la, outage[0]!, "la getting node a's messages with Redis down");
    await waitForTexts(lb, outage[1]!, "lb getting node b's messages with Redis down");
    // The last word of the outage on node a: nothing on node b can reveal it, so only the
    // catch-up after Redis is back brings it to lb.
    outage[0]!.push((await say(sa, "the last during the outage")).message);

    await redis.start();
    for (const node of nodes) await eventually(() => node.health(), (h) => h.redis === "up", `/health of node ${node.label} once Redis is back`, 20_000);
    // Caught up from the database, without waiting for anyone to speak again.
    await waitForTexts(lb, outage[0]!, "lb (node b) catching up on node a's messages sent while Redis was down", 20_000);
    await waitForTexts(la, outage[1]!, "la (node a) catching up on node b's messages sent while Redis was down", 20_000);

    const after = await say(sb, "after the outage");
    for (const [i, member] of everyone.entries()) await waitForMessage(member, (m) => m.id === after.id, `${names[i]} getting a message after the outage`);
    const history = await restHistory(a, room);
    expect(history).toHaveLength(2 + outage.flat().length);
    for (const node of nodes) expect(await metric(node, "chat_cluster_gap_filled_total"), `node ${node.label}: messages filled from the database`).toBeGreaterThanOrEqual(10);
    // Nothing lost, nothing doubled, and still in id order: a node that stores a message whose
    // predecessor it never heard reads the gap from the database before it delivers it, Redis
    // or not.
    for (const [i, member] of everyone.entries()) expectLogEquals(messagesOf(member), history, names[i]!);
  }, 90_000);
});
