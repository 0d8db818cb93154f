// Presence over real sockets (PROTOCOL.md, presence): the roster once, in history.online;
// joined/left with the count, and online only while the room has <= 50 names; a busy room's
// held changes go out before its next message, and a socket that came and went meanwhile is
// never announced.
import { describe, expect, test } from "bun:test";
import { LIMITS } from "../../src/protocol/limits";
import { Client, startServer } from "../helpers";
import { say } from "./lib";

describe("presence", () => {
  test("history carries online: every name in the room, the joiner's included, each once", async () => {
    const server = await startServer();
    const url = server.wsUrl("lobby");
    await Client.joined(url, "ada");
    await Client.joined(url, "ada"); // a second tab: still one name
    await Client.joined(url, "bob");
    const carol = await Client.open(url);
    carol.send({ type: "join", name: "carol" });
    const history = await carol.next();
    expect(history).toEqual({ type: "history", messages: [], online: ["ada", "bob", "carol"], members: [{ name: "ada" }, { name: "bob" }, { name: "carol" }] });
    expect(await carol.next()).toMatchObject({ type: "joined", name: "carol", count: 3, online: ["ada", "bob", "carol"] });
  });

  test(`joined and left carry count, and online only while count <= ${LIMITS.onlineListed}`, async () => {
    const server = await startServer();
    const url = server.wsUrl("big");
    const watcher = await Client.joined(url, "n0");
    const members = [watcher];
    for (let i = 1; i < LIMITS.onlineListed; i++) members.push(await Client.joined(url, `n${i}`));
    const fiftieth = await watcher.next("joined", (f) => f.name === `n${LIMITS.onlineListed - 1}`);
    expect(fiftieth.count).toBe(50);
    expect(fiftieth.online).toHaveLength(50);

    const big = await Client.open(url);
    big.send({ type: "join", name: "big" });
    expect((await big.next("history")).online).toHaveLength(51);
    const own = await big.next("joined");
    expect(own).toEqual({ type: "joined", name: "big", timestamp: expect.any(Number), count: 51 });
    expect(await watcher.next("joined", (f) => f.name === "big")).toEqual(own);

    members[7]!.close();
    const left = await watcher.next("left");
    expect(left).toMatchObject({ type: "left", name: "n7", count: 50 });
    expect(left.online).toHaveLength(50);
    expect(left.online).not.toContain("n7");
    big.close();
    expect(await watcher.next("left")).toMatchObject({ name: "big", count: 49 });
  });

  test("held changes go out before the room's next message; a socket that came and went meanwhile is never announced", async () => {
    // One change a room announces at once, then it holds them for a minute: only a message flushes.
    const server = await startServer({ presence: { burst: 1, rate: 0, holdMs: 60_000 } });
    const url = server.wsUrl("held");
    const watcher = await Client.joined(url, "watcher");
    const churner = await Client.joined(url, "mallory"); // held
    churner.close();
    await churner.waitClose();
    const late = await Client.joined(url, "late"); // held, and not subscribed to the room yet
    expect(late.history).toEqual([]);
    expect(late.frames[0].online).toEqual(["watcher", "late"]);

    const hello = await say(watcher, "hello");
    // The watcher hears of `late` before the message, and never of mallory.
    const seen = watcher.frames.slice(2).map((f) => `${f.type} ${f.name}`);
    expect(seen).toEqual(["joined late", "message watcher"]);
    expect(watcher.frames[2]).toMatchObject({ count: 2, online: ["watcher", "late"] });
    // The held joiner got the message that followed its history: no gap.
    expect((await late.next("message")).id).toBe(hello.id);
    expect(late.frames.filter((f) => f.name === "mallory")).toEqual([]);
    // And it is a member like any other: its own messages reach the room.
    const back = await say(late, "back");
    expect((await watcher.next("message", (f) => f.id === back.id)).message).toBe("back");
  });
});
