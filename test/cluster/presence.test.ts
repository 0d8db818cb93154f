// Presence across nodes (issue 13): `online` in `history`, and `count`/`online` in `joined` and
// `left`, count the room's members on every node, and so does `online` in GET /rooms on every node.
import { describe, expect, test } from "bun:test";
import { eventually, join, listedOnline, say, useCluster, waitForFrame } from "./harness";

const cluster = useCluster();

describe("presence across nodes", () => {
  test("history.online, joined and left count the members of every node; GET /rooms too, on every node", async () => {
    const { nodes } = await cluster.start(3);
    const [a, b, c] = nodes as [any, any, any];
    const ada = await join(a, "plaza", "ada");
    await say(ada, "hello"); // a stored room: every node lists it (rooms without messages: next test)
    // A node writes its roster to Redis after the join it serves: wait until the next node can
    // see it (REST), so that what follows is about delivery, not a race with that write.
    await eventually(() => listedOnline(b, "plaza"), (n) => n === 1, "GET /rooms online on node b once ada joined on node a", 5_000);
    const bob = await join(b, "plaza", "bob");
    expect(bob.historyFrame.online.toSorted(), "bob's history on node b lists ada, on node a").toEqual(["ada", "bob"]);
    expect(bob.frames.find((f) => f.type === "joined" && f.name === "bob")).toMatchObject({ count: 2 });
    expect(await waitForFrame(ada, "joined", (f) => f.name === "bob", "ada (node a) hearing bob join on node b")).toMatchObject({ count: 2 });

    await eventually(() => listedOnline(c, "plaza"), (n) => n === 2, "GET /rooms online on node c once bob joined on node b", 5_000);
    const carol = await join(c, "plaza", "carol");
    expect(carol.historyFrame.online.toSorted()).toEqual(["ada", "bob", "carol"]);
    for (const [who, member] of [["ada", ada], ["bob", bob]] as const) {
      const joined = await waitForFrame(member, "joined", (f) => f.name === "carol", `${who} hearing carol join on node c`);
      expect(joined.count, who).toBe(3);
      expect(joined.online.toSorted(), who).toEqual(["ada", "bob", "carol"]);
    }
    for (const node of nodes) await eventually(() => listedOnline(node, "plaza"), (n) => n === 3, `GET /rooms online on node ${node.label}`, 5_000);

    // The same name on two nodes is one name: two tabs of one person.
    const ada2 = await join(c, "plaza", "ada");
    expect(ada2.historyFrame.online.toSorted()).toEqual(["ada", "bob", "carol"]);
    expect(ada2.frames.find((f) => f.type === "joined" && f.name === "ada")).toMatchObject({ count: 3 });
    ada2.close();
    await ada2.waitClose();

    bob.close();
    for (const [who, member] of [["ada", ada], ["carol", carol]] as const) {
      const left = await waitForFrame(member, "left", (f) => f.name === "bob", `${who} hearing bob leave node b`);
      expect(left.count, who).toBe(2);
      expect(left.online.toSorted(), who).toEqual(["ada", "carol"]);
    }
    for (const node of nodes) await eventually(() => listedOnline(node, "plaza"), (n) => n === 2, `GET /rooms online on node ${node.label} after bob left`, 5_000);
  });

  test("a room whose members are all on one node and that has no message yet: GET /rooms on every node lists it, with its online count", async () => {
    const { nodes } = await cluster.start(2);
    const [a, b] = nodes as [any, any];
    await join(a, "quiet", "ada");
    await join(a, "quiet", "amy");
    // "Rooms with people online and no message yet" come first in GET /rooms: on every node,
    // since `online` counts the members of every node.
    for (const node of [a, b]) await eventually(() => listedOnline(node, "quiet"), (n) => n === 2, `GET /rooms on node ${node.label} listing "quiet" (2 online on node a, no message)`, 5_000);
  });
});
