// The members of a node that dies without a word (kill -9) leave the roster of the nodes still
// up within 30 s, with a `left` to the room (issue 13). With the default node TTL this test
// waits up to those 30 s: the one slow test of the cluster suite.
import { describe, expect, test } from "bun:test";
import { eventually, join, listedOnline, say, useCluster, waitForFrame } from "./harness";

const cluster = useCluster();

describe("a node killed -9", () => {
  test("its members leave every other node's roster within 30 s, each with a left; GET /rooms follows", async () => {
    const { nodes } = await cluster.start(2);
    const [a, b] = nodes as [any, any];
    const ghost = await join(a, "vigil", "ghost-1");
    await join(a, "vigil", "ghost-2");
    await say(ghost, "still here"); // a stored room, listed by every node
    await eventually(() => listedOnline(b, "vigil"), (n) => n === 2, "GET /rooms on node b counting node a's two members", 5_000);
    const watcher = await join(b, "vigil", "watcher");
    expect(watcher.historyFrame.online.toSorted()).toEqual(["ghost-1", "ghost-2", "watcher"]);

    await a.kill9();
    const killedAt = Date.now();
    const alone = await waitForFrame(watcher, "left", (f) => f.count === 1, "the watcher (node b) seeing node a's members leave", 30_000);
    const took = Date.now() - killedAt;
    console.log(`a dead node's members left within ${took} ms`);
    expect(alone.online).toEqual(["watcher"]);
    await say(watcher, "marker"); // held presence goes out before the room's next message
    const lefts = watcher.frames.filter((f) => f.type === "left");
    // One per name: past 50 names `left` carries no `online`, and a client drops only the names
    // it is told of (src/client/roster.ts), so a dead node's member without its own `left`
    // would stay on every screen.
    expect(lefts.map((f) => f.name).toSorted(), "a left for each of the dead node's members").toEqual(["ghost-1", "ghost-2"]);
    expect(took).toBeLessThan(30_000);
    await eventually(() => listedOnline(b, "vigil"), (n) => n === 1, "GET /rooms on node b once node a's members left", 5_000);
  }, 45_000);
});
