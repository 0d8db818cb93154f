// The roster merge across nodes, without I/O: the merged view must always equal the union of
// what each node holds, whatever order deltas, whole rosters and node deaths come in.
import { expect, test } from "bun:test";
import { ClusterRoster } from "../../src/rooms/cluster-roster";
import { seededRandom as random } from "../random";

const roster = (entries: [string, number][]) => new Map(entries);

test("a name is online while any node holds a socket of it; add and remove say when it came and went", () => {
  const cluster = new ClusterRoster("me");
  const room = cluster.room("r");
  expect(room.add("me", "ann")).toBe(true);
  expect(room.add("me", "ann")).toBe(false); // a second tab
  expect(room.add("b", "ann")).toBe(false); // and on another node
  expect(room.add("b", "bob")).toBe(true);
  expect(room.online()).toEqual(["ann", "bob"]);
  expect(room.onlineCount).toBe(2);
  expect(room.remove("me", "ann")).toBe(false);
  expect(room.remove("me", "ann")).toBe(false); // still on b
  expect(room.remove("b", "ann")).toBe(true);
  expect(room.has("ann")).toBe(false);
  expect(cluster.own("r")).toEqual(new Map());
  expect(room.of("b")).toEqual(roster([["bob", 1]]));
});

test("a leave the roster never saw the join of changes nothing (a lost delta, or a roster read whole)", () => {
  const room = new ClusterRoster("me").room("r");
  room.add("b", "ann");
  expect(room.remove("b", "zed")).toBe(false);
  expect(room.remove("c", "ann")).toBe(false);
  expect(room.online()).toEqual(["ann"]);
  expect(room.remove("b", "ann")).toBe(true);
  expect(room.remove("b", "ann")).toBe(false);
  expect(room.onlineCount).toBe(0);
  expect(room.holders()).toEqual([]);
});

test("own() is this node's roster alone, to publish", () => {
  const cluster = new ClusterRoster("me");
  cluster.room("r").add("me", "ann");
  cluster.room("r").add("me", "ann");
  cluster.room("r").add("b", "bob");
  expect(cluster.own("r")).toEqual(roster([["ann", 2]]));
  expect(cluster.own("unknown")).toEqual(new Map());
});

test("reset replaces every other node's roster, keeps this node's, and reports the names that came and went", () => {
  const cluster = new ClusterRoster("me");
  const room = cluster.room("r");
  room.add("me", "ann");
  room.add("b", "bob");
  room.add("b", "cat");
  room.add("c", "dan");
  const changes = cluster.reset(
    "r",
    new Map([
      ["b", roster([["bob", 1]])], // cat left b
      ["d", roster([["dan", 1], ["eve", 2]])], // c is gone; dan moved to d; eve is new
      ["me", roster([["mallory", 1]])], // never this node's: its own sockets say
    ]),
  );
  expect(changes).toEqual({ joined: ["eve"], left: ["cat"] });
  expect(room.online().sort()).toEqual(["ann", "bob", "dan", "eve"]);
  expect(room.of("c")).toEqual(new Map());
  expect(room.of("d")).toEqual(roster([["dan", 1], ["eve", 2]]));
  expect(cluster.own("r")).toEqual(roster([["ann", 1]]));
});

test("a dead node's names leave every room, except those still held elsewhere", () => {
  const cluster = new ClusterRoster("me");
  cluster.room("r").add("dead", "ann");
  cluster.room("r").add("dead", "bob", 3);
  cluster.room("r").add("me", "bob");
  cluster.room("s").add("dead", "cat");
  cluster.room("t").add("alive", "dan");
  expect(cluster.dropNode("dead")).toEqual(new Map([["r", ["ann"]], ["s", ["cat"]]]));
  expect(cluster.room("r").online()).toEqual(["bob"]);
  expect(cluster.room("s").onlineCount).toBe(0);
  expect(cluster.dropNode("dead")).toEqual(new Map()); // reported twice: nothing more goes
  expect(cluster.dropNode("me")).toEqual(new Map()); // this node never dies to itself
  expect(cluster.room("r").online()).toEqual(["bob"]);
});

test("a dropped room starts empty when it is live again", () => {
  const cluster = new ClusterRoster("me");
  cluster.room("r").add("b", "ann");
  cluster.drop("r");
  expect(cluster.room("r").onlineCount).toBe(0);
});


test("random runs: after every step the merged view equals the union of the nodes' rosters, and the reported changes are exactly the difference", () => {
  const nodes = ["me", "b", "c", "d"];
  const names = ["ann", "bob", "cat", "dan", "eve"];
  for (let seed = 1; seed <= 200; seed++) {
    const next = random(seed);
    const pick = <T>(list: T[]) => list[Math.floor(next() * list.length)]!;
    const cluster = new ClusterRoster("me");
    const room = cluster.room("r");
    // The truth: node -> name -> sockets.
    const truth = new Map(nodes.map((node) => [node, new Map<string, number>()]));
    const union = () => new Set(nodes.flatMap((node) => [...truth.get(node)!.keys()]));
    for (let step = 0; step < 200; step++) {
      const before = union();
      const kind = next();
      const node = pick(nodes);
      if (kind < 0.35) {
        const name = pick(names);
        const held = truth.get(node)!;
        held.set(name, (held.get(name) ?? 0) + 1);
        expect(room.add(node, name)).toBe(!before.has(name));
      } else if (kind < 0.5) {
        const name = pick(names);
        const held = truth.get(node)!;
        const sockets = held.get(name) ?? 0;
        if (sockets > 1) held.set(name, sockets - 1);
        else held.delete(name);
        expect(room.remove(node, name)).toBe(before.has(name) && !union().has(name));
      } else if (kind < 0.6) {
        // An absolute count from a node (a frame that says how many sockets it now holds).
        const name = pick(names);
        const sockets = Math.floor(next() * 3);
        if (sockets) truth.get(node)!.set(name, sockets);
        else truth.get(node)!.delete(name);
        const after = union();
        expect(room.set(node, name, sockets)).toBe(!before.has(name) && after.has(name) ? "joined" : before.has(name) && !after.has(name) ? "left" : undefined);
        expect(room.set(node, name, sockets)).toBeUndefined(); // twice: nothing more
      } else if (kind < 0.95) {
        // Every other node's roster read whole, some of them changed meanwhile (deltas lost).
        for (const other of nodes.slice(1)) {
          if (next() < 0.5) continue;
          const held = new Map<string, number>();
          for (const name of names) if (next() < 0.3) held.set(name, 1 + Math.floor(next() * 3));
          truth.set(other, held);
        }
        const { joined, left } = cluster.reset("r", new Map(nodes.slice(1).map((other) => [other, new Map(truth.get(other)!)])));
        const after = union();
        expect(new Set(joined)).toEqual(new Set([...after].filter((name) => !before.has(name))));
        expect(new Set(left)).toEqual(new Set([...before].filter((name) => !after.has(name))));
      } else if (node !== "me") {
        truth.set(node, new Map());
        const after = union();
        const gone = cluster.dropNode(node).get("r") ?? [];
        expect(new Set(gone)).toEqual(new Set([...before].filter((name) => !after.has(name))));
      }
      const after = union();
      expect(new Set(room.online())).toEqual(after);
      expect(room.onlineCount).toBe(after.size);
      for (const name of names) expect(room.has(name)).toBe(after.has(name));
      for (const each of nodes) expect(room.of(each)).toEqual(truth.get(each)!);
    }
  }
});
