// Issue 13 over real sockets: compiled nodes sharing one PostgreSQL and one Redis deliver a
// room's messages to its members on every node, exactly once and in id order; every node's join
// sees the same history; a `since` resume on another node is gap-free; two nodes writing into one
// room at once give every member, on every node, the room's history as REST has it.
import { describe, expect, test } from "bun:test";
import { expectLogEquals, join, messagesOf, restHistory, say, useCluster, waitForMessage, waitForTexts } from "./harness";

const cluster = useCluster();

describe("a room across nodes", () => {
  test("a message sent on one node reaches the members of the other, both ways, each once", async () => {
    const { nodes } = await cluster.start(2);
    const [a, b] = nodes as [any, any];
    const ada = await join(a, "lobby", "ada");
    const bob = await join(b, "lobby", "bob");

    const fromA = await say(ada, "from node a");
    const seenByBob = await waitForMessage(bob, (m) => m.message === "from node a", "bob (node b) getting ada's message sent on node a");
    expect(seenByBob).toMatchObject({ id: fromA.id, room: "lobby", name: "ada", timestamp: fromA.timestamp });
    expect(seenByBob.clientId).toBeUndefined(); // the sender's clientId is for the sender's copy only

    const fromB = await say(bob, "from node b");
    expect(fromB.id).toBeGreaterThan(fromA.id);
    await waitForMessage(ada, (m) => m.message === "from node b", "ada (node a) getting bob's message sent on node b");

    // Nothing more comes (no echo of a node's own frame through Redis): a later marker arrives
    // after everything before it, so by then each log is whole.
    const marker = await say(ada, "marker");
    await waitForMessage(bob, (m) => m.id === marker.id, "bob getting the marker");
    for (const [who, client] of [["ada", ada], ["bob", bob]] as const) expect(messagesOf(client).map((m) => m.id), who).toEqual([fromA.id, fromB.id, marker.id]);
  });

  test("a join on every node gets the same history, the one REST has, while the room is live on all of them", async () => {
    const { nodes } = await cluster.start(3);
    // A member on each node keeps the room live (in memory) there: its history must hold the
    // other nodes' messages too, not only its own node's.
    const members = await Promise.all(nodes.map((node, i) => join(node, "hall", `m${i}`)));
    const sent: any[] = [];
    for (let round = 0; round < 4; round++) for (const [i, member] of members.entries()) sent.push(await say(member, `round ${round} from node ${nodes[i]!.label}`));
    // The shared database first (it holds today without Redis), then the live rooms.
    const rest = await restHistory(nodes[0]!, "hall");
    expect(rest.map((m) => m.id)).toEqual(sent.map((m) => m.id));
    for (const node of nodes) expect(await restHistory(node, "hall"), `REST on node ${node.label}`).toEqual(rest);
    for (const [i, member] of members.entries()) await waitForTexts(member, sent.map((m) => m.message), `m${i} on node ${nodes[i]!.label}`);
    for (const node of nodes) {
      const late = await join(node, "hall", `late-${node.label}`);
      expect(late.history, `history of a join on node ${node.label}`).toEqual(rest);
    }
  });

  test("a resume with `since` on another node is gap-free, then live from there", async () => {
    const { nodes } = await cluster.start(3);
    const [a, b, c] = nodes as [any, any, any];
    const ada = await join(a, "resume", "ada");
    const carol = await join(c, "resume", "carol"); // the room is live on node c before bob comes back there
    const bob = await join(b, "resume", "bob");

    const before = [];
    for (let i = 0; i < 5; i++) before.push(await say(ada, `before ${i}`));
    await waitForTexts(bob, before.map((m) => m.message), "bob on node b");
    const lastSeen = messagesOf(bob).at(-1)!.id;
    expect(lastSeen).toBe(before.at(-1).id);
    bob.close();
    await bob.waitClose();

    const missed = [];
    for (let i = 0; i < 7; i++) missed.push(await say(i % 2 ? carol : ada, `missed ${i}`));
    await waitForTexts(carol, missed.map((m) => m.message), "carol on node c");

    const back = await join(c, "resume", "bob", { since: lastSeen });
    expect(back.history.map((m: any) => m.id), "bob's resume on node c: every message after `since`, in order").toEqual(missed.map((m) => m.id));
    const after = await say(ada, "after the resume");
    await waitForMessage(back, (m) => m.id === after.id, "bob (now on node c) getting ada's next message from node a");
    expect(messagesOf(back).map((m) => m.id)).toEqual([after.id]);
  });

  test("two nodes sending into one room at once: every member on every node gets the room's history, in id order, each once", async () => {
    const { nodes } = await cluster.start(3);
    const [a, b, c] = nodes as [any, any, any];
    const room = "busy";
    // Members first, then the senders: everyone is in the room before the first message.
    const listeners = [await join(a, room, "la"), await join(b, room, "lb"), await join(c, room, "lc")];
    const senders = [await join(a, room, "sa"), await join(b, room, "sb")];
    const perSender = 150;
    const texts: string[] = [];
    // Both senders write as fast as the sockets take it, without waiting for acks, so that the
    // two nodes' batches overlap (ids taken on one node while the other commits).
    for (let i = 0; i < perSender; i++)
      for (const [s, sender] of senders.entries()) {
        const text = `s${s} ${i}`;
        texts.push(text);
        sender.send({ type: "message", message: text, clientId: text });
      }
    // Each sender's acks come from its own node, and the database holds each message once:
    // both hold on PostgreSQL alone. Then every member's log, which needs Redis.
    for (const [s, sender] of senders.entries()) await waitForTexts(sender, texts.filter((t) => t.startsWith(`s${s} `)), `the acks of sender ${s}`, 30_000);
    const history = await restHistory(a, room);
    expect(history).toHaveLength(texts.length);
    expect(new Set(history.map((m) => m.message)).size).toBe(texts.length);
    const everyone = [...listeners, ...senders];
    for (const [i, member] of everyone.entries()) await waitForTexts(member, texts, `member ${["la", "lb", "lc", "sa", "sb"][i]} on node ${["a", "b", "c", "a", "b"][i]}`, 30_000);
    for (const [i, member] of everyone.entries()) expectLogEquals(messagesOf(member), history, `member ${["la", "lb", "lc", "sa", "sb"][i]}`);
    // The acks carry each sender's clientId, the others' copies none.
    for (const [s, sender] of senders.entries()) {
      const own = messagesOf(sender).filter((m) => m.name === `s${["a", "b"][s]}`);
      expect(own.every((m) => m.clientId === m.message)).toBe(true);
      expect(messagesOf(sender).filter((m) => m.name !== `s${["a", "b"][s]}`).every((m) => m.clientId === undefined)).toBe(true);
    }
  }, 60_000);

  test("a retry with the same clientId on another node is stored once: answered with the stored message, delivered to no one again", async () => {
    const { nodes } = await cluster.start(2);
    const [a, b] = nodes as [any, any];
    const bob = await join(b, "retry", "bob");
    const ada = await join(a, "retry", "ada");
    const first = await say(ada, "only once", "same-id");
    // Her connection to node a is lost before she saw the ack, say; she comes back on node b.
    ada.close();
    const again = await join(b, "retry", "ada", { since: first.id - 1 });
    const answer = await say(again, "only once", "same-id");
    expect(answer).toMatchObject({ id: first.id, timestamp: first.timestamp, clientId: "same-id" });
    const marker = await say(again, "marker");
    await waitForMessage(bob, (m) => m.id === marker.id, "bob getting the marker");
    expect(messagesOf(bob).map((m) => m.id), "bob's log: the message once, then the marker").toEqual([first.id, marker.id]);
    expect((await restHistory(a, "retry")).map((m) => m.message)).toEqual(["only once", "marker"]);
  });

  test("/health names the store and says Redis is up", async () => {
    const { nodes } = await cluster.start(2);
    for (const node of nodes) expect(await node.health(), `node ${node.label}`).toMatchObject({ ok: true, store: "postgres", redis: "up" });
  });
});
