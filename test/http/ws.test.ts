// PROTOCOL.md, WebSocket frames: join, history, joined, message, left, since, clientId, ids and
// timestamps, two tabs, room isolation. Against the real app over real sockets and a real file.
import { describe, expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { cid, say, storedRows } from "./lib";

describe("join", () => {
  test("history (with online) goes to the joiner first, then joined (with count and online) to everyone, the joiner included", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    const first = await say(ada, "hello");

    const bob = await Client.open(server.wsUrl("lobby"));
    bob.send({ type: "join", name: "bob" });
    const frames = [await bob.next(), await bob.next()];
    expect(frames[0]).toEqual({
      type: "history",
      messages: [{ id: first.id, room: "lobby", name: "ada", message: "hello", timestamp: first.timestamp }],
      online: ["ada", "bob"],
      members: [{ name: "ada" }, { name: "bob" }],
    });
    expect(frames[1]).toMatchObject({ type: "joined", name: "bob", count: 2, online: ["ada", "bob"] });
    expect(typeof frames[1].timestamp).toBe("number");

    const seenByAda = await ada.next("joined");
    expect(seenByAda).toMatchObject({ type: "joined", name: "bob", count: 2, online: ["ada", "bob"] });
    // history went to bob only
    expect(ada.unread.filter((f) => f.type === "history")).toEqual([]);
  });

  test("messages sent right behind the join are handled after it, in order", async () => {
    const server = await startServer();
    const ada = await Client.open(server.wsUrl("lobby"));
    ada.send({ type: "join", name: "ada" });
    for (let i = 0; i < 5; i++) ada.send({ type: "message", message: `m${i}`, clientId: `k${i}` });
    expect((await ada.next()).type).toBe("history");
    expect((await ada.next()).type).toBe("joined");
    const acks = [];
    for (let i = 0; i < 5; i++) acks.push(await ada.next());
    expect(acks.map((f) => [f.type, f.message, f.clientId])).toEqual([0, 1, 2, 3, 4].map((i) => ["message", `m${i}`, `k${i}`]));
    for (let i = 1; i < 5; i++) expect(acks[i].id).toBeGreaterThan(acks[i - 1].id);
  });

  test("the joiner's name is trimmed", async () => {
    const server = await startServer();
    const ada = await Client.open(server.wsUrl("lobby"));
    ada.send({ type: "join", name: "  ada  " });
    await ada.next("history");
    expect(await ada.next("joined")).toMatchObject({ name: "ada", online: ["ada"] });
    expect((await say(ada, "x")).name).toBe("ada");
  });

  test("nothing of the room reaches a socket before it joins; history is its first frame", async () => {
    const server = await startServer();
    const watcher = await Client.open(server.wsUrl("lobby"));
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    const m1 = await say(ada, "one");
    const m2 = await say(ada, "two");

    watcher.send({ type: "join", name: "late" });
    const history = await watcher.next();
    expect(history.type).toBe("history");
    expect(history.messages.map((m: any) => m.id)).toEqual([m1.id, m2.id]);
    expect(watcher.frames[0]).toBe(history);
  });

  test("history comes before anything else of the room even while the room is busy, and history + live is gap-free", async () => {
    const server = await startServer();
    const url = server.wsUrl("busy");
    const ada = await Client.joined(url, "ada");
    const acks: Promise<any>[] = [];
    const send = (n: number) => {
      for (let i = 0; i < n; i++) acks.push(say(ada, `m${acks.length}`));
    };
    send(20);
    const bob = await Client.open(url);
    bob.send({ type: "join", name: "bob" });
    send(20);
    const all = (await Promise.all(acks)).map((m) => m.id);
    const marker = await say(ada, "marker");

    const history = await bob.next();
    expect(history.type).toBe("history");
    await bob.next("message", (f) => f.id === marker.id);
    const live = bob.frames.filter((f) => f.type === "message").map((f) => f.id);
    const seen = [...history.messages.map((m: any) => m.id), ...live];
    expect(seen).toEqual([...all, marker.id]);
    // bob's own joined comes after his history, and no message precedes the history
    expect(bob.frames.findIndex((f) => f.type === "joined")).toBeGreaterThan(0);
  });

  test("history is the last 100 messages by default, oldest first, from memory and after the room was freed", async () => {
    const server = await startServer();
    const url = server.wsUrl("long");
    const ada = await Client.joined(url, "ada");
    const acks = await Promise.all(Array.from({ length: 105 }, (_, i) => say(ada, `m${i}`)));
    const ids = acks.map((m) => m.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));

    const bob = await Client.joined(url, "bob"); // the room is live: its cache answers
    expect(bob.history.map((m) => m.id)).toEqual(ids.slice(-100));
    expect(bob.history[0]).toMatchObject({ message: "m5", name: "ada", room: "long" });

    ada.close();
    bob.close();
    await Promise.all([ada.waitClose(), bob.waitClose()]);
    const carol = await Client.joined(url, "carol"); // read from the store again
    expect(carol.history.map((m) => m.id)).toEqual(ids.slice(-100));
  });

  test("history is as long as historyLimit (CHAT_HISTORY)", async () => {
    const server = await startServer({ historyLimit: 3 });
    const url = server.wsUrl("short");
    const ada = await Client.joined(url, "ada");
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) ids.push((await say(ada, `m${i}`)).id);
    const bob = await Client.joined(url, "bob");
    expect(bob.history.map((m) => m.id)).toEqual(ids.slice(-3));
  });

  test("historyLimit 0 sends an empty history", async () => {
    const server = await startServer({ historyLimit: 0 });
    const url = server.wsUrl("none");
    const ada = await Client.joined(url, "ada");
    await say(ada, "m");
    const bob = await Client.joined(url, "bob");
    expect(bob.history).toEqual([]);
  });
});

describe("since", () => {
  test("history is every message with id > since", async () => {
    const server = await startServer();
    const url = server.wsUrl("resume");
    const ada = await Client.joined(url, "ada");
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push((await say(ada, `m${i}`)).id);
    for (const [since, expected] of [
      [ids[2]!, ids.slice(3)],
      [ids[9]!, []],
      [0, ids],
      [ids[9]! + 1000, []],
    ] as const) {
      const bob = await Client.joined(url, "bob", { since });
      expect(bob.history.map((m) => m.id)).toEqual([...expected]);
      bob.close();
    }
  });

  test("a since older than what the room keeps in memory is answered from the store, gap-free", async () => {
    const server = await startServer({ historyLimit: 5 });
    const url = server.wsUrl("resume");
    const ada = await Client.joined(url, "ada");
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push((await say(ada, `m${i}`)).id);
    // 3 after since: all of them
    let bob = await Client.joined(url, "bob", { since: ids[8] });
    expect(bob.history.map((m) => m.id)).toEqual(ids.slice(9));
    // 7 after since with a limit of 5: 5 of them, a contiguous run of the room's messages after since
    bob = await Client.joined(url, "bob", { since: ids[4] });
    const got = bob.history.map((m) => m.id);
    expect(got.length).toBe(5);
    const at = ids.indexOf(got[0]!);
    expect(at).toBeGreaterThan(4);
    expect(got).toEqual(ids.slice(at, at + 5));
  });

  test("a resume after the room was freed reads the gap from the store", async () => {
    const server = await startServer({ historyLimit: 100 });
    const url = server.wsUrl("resume");
    const ada = await Client.joined(url, "ada");
    const ids: number[] = [];
    for (let i = 0; i < 6; i++) ids.push((await say(ada, `m${i}`)).id);
    ada.close();
    await ada.waitClose();
    const bob = await Client.joined(url, "bob", { since: ids[1] });
    expect(bob.history.map((m) => m.id)).toEqual(ids.slice(2));
  });

  test("history and live messages of a resume neither overlap nor leave a gap while the room is busy", async () => {
    const server = await startServer({ historyLimit: 5 });
    const url = server.wsUrl("resume");
    const ada = await Client.joined(url, "ada");
    const first = await say(ada, "first");
    const acks: Promise<any>[] = [];
    for (let i = 0; i < 3; i++) acks.push(say(ada, `before${i}`));
    const bob = await Client.open(url);
    bob.send({ type: "join", name: "bob", since: first.id });
    for (let i = 0; i < 3; i++) acks.push(say(ada, `during${i}`));
    const all = (await Promise.all(acks)).map((m) => m.id);
    const marker = await say(ada, "marker");
    const history = await bob.next();
    expect(history.type).toBe("history");
    await bob.next("message", (f) => f.id === marker.id);
    const seen = [...history.messages.map((m: any) => m.id), ...bob.frames.filter((f) => f.type === "message").map((f) => f.id)];
    expect(seen).toEqual([...all, marker.id]);
  });
});

describe("message", () => {
  test("reaches everyone in the room, the sender included, only once it is in the database", async () => {
    const server = await startServer();
    const url = server.wsUrl("lobby");
    const ada = await Client.joined(url, "ada");
    const bob = await Client.joined(url, "bob");
    const clientId = cid();
    ada.send({ type: "message", message: "hi all", clientId, timestamp: 12 });
    const own = await ada.next("message");
    // The acknowledgement: in the file, read through another connection, when it arrives.
    const row = storedRows(server.db, "lobby").find((r) => r.id === own.id);
    expect(row).toMatchObject({ room: "lobby", name: "ada", message: "hi all", timestamp: own.timestamp, client_id: clientId });
    expect(own).toEqual({ type: "message", id: own.id, room: "lobby", name: "ada", message: "hi all", timestamp: own.timestamp, clientId });
    expect(Number.isInteger(own.id)).toBe(true);

    const other = await bob.next("message");
    expect(storedRows(server.db, "lobby").some((r) => r.id === other.id)).toBe(true);
    expect(other).toMatchObject({ type: "message", id: own.id, room: "lobby", name: "ada", message: "hi all", timestamp: own.timestamp });
  });

  test("the server's clock stamps messages, not the client's timestamp", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    const before = Date.now();
    ada.send({ type: "message", message: "old", timestamp: 1, clientId: "t" });
    const own = await ada.next("message");
    expect(own.timestamp).toBeGreaterThanOrEqual(before);
    expect(own.timestamp).toBeLessThanOrEqual(Date.now());
  });

  test("a message without clientId is acknowledged by the sender's own copy", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    ada.send({ type: "message", message: "plain" });
    const own = await ada.next("message");
    expect(own).toMatchObject({ name: "ada", message: "plain" });
    expect(own.clientId).toBeUndefined();
    expect(storedRows(server.db, "lobby").map((r) => r.message)).toEqual(["plain"]);
  });

  test("null optional fields read as absent: since, timestamp and clientId", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    const first = await say(ada, "first");
    ada.send({ type: "message", message: "no id", clientId: null, timestamp: null });
    const own = await ada.next("message", (f) => f.message === "no id");
    expect(own.clientId).toBeUndefined();
    const bob = await Client.open(server.wsUrl("lobby"));
    bob.send({ type: "join", name: "bob", since: null, timestamp: null });
    expect((await bob.next("history")).messages.map((m: any) => m.id)).toEqual([first.id, own.id]);
  });

  test("a 2000-character message is accepted", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("lobby"), "ada");
    const text = "é".repeat(2000);
    expect((await say(ada, text)).message).toBe(text);
  });

  test("ids strictly increase and timestamps never go backwards, across senders", async () => {
    const server = await startServer();
    const url = server.wsUrl("order");
    const senders = await Promise.all(["a", "b", "c"].map((n) => Client.joined(url, n)));
    const watcher = await Client.joined(url, "w");
    const acks: Promise<any>[] = [];
    for (let i = 0; i < 30; i++) acks.push(say(senders[i % 3]!, `m${i}`));
    await Promise.all(acks);
    const marker = await say(senders[0]!, "marker");
    await watcher.next("message", (f) => f.id === marker.id);
    const seen = watcher.frames.filter((f) => f.type === "message");
    expect(seen.length).toBe(31);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i].id).toBeGreaterThan(seen[i - 1].id);
      expect(seen[i].timestamp).toBeGreaterThanOrEqual(seen[i - 1].timestamp);
    }
  });

  test("timestamps never go backwards when the system clock does, even after the room was freed", async () => {
    let clock = 1_000_000;
    const server = await startServer({ now: () => clock });
    const url = server.wsUrl("clock");
    const ada = await Client.joined(url, "ada");
    const a = await say(ada, "a");
    expect(a.timestamp).toBe(1_000_000);
    clock = 500_000; // the clock jumps back
    const b = await say(ada, "b");
    expect(b.timestamp).toBeGreaterThanOrEqual(a.timestamp);
    ada.close();
    await ada.waitClose();
    const bob = await Client.joined(url, "bob"); // a new live room, seeded from the store
    const c = await say(bob, "c");
    expect(c.timestamp).toBeGreaterThanOrEqual(b.timestamp);
    clock = 2_000_000;
    expect((await say(bob, "d")).timestamp).toBe(2_000_000);
  });

  test("timestamps never go backwards after the room was freed, with CHAT_HISTORY 0", async () => {
    let clock = 1_000_000;
    const server = await startServer({ now: () => clock, historyLimit: 0 });
    const url = server.wsUrl("clock");
    const ada = await Client.joined(url, "ada");
    const a = await say(ada, "a");
    ada.close();
    await ada.waitClose();
    clock = 500_000;
    const bob = await Client.joined(url, "bob");
    expect((await say(bob, "b")).timestamp).toBeGreaterThanOrEqual(a.timestamp);
  });

  test("ids increase within each room although rooms share one database", async () => {
    const server = await startServer();
    const a = await Client.joined(server.wsUrl("one"), "ada");
    const b = await Client.joined(server.wsUrl("two"), "bob");
    const ids = { one: [] as number[], two: [] as number[] };
    const acks = [];
    for (let i = 0; i < 10; i++) acks.push(say(a, `a${i}`).then((m) => ids.one.push(m.id)), say(b, `b${i}`).then((m) => ids.two.push(m.id)));
    await Promise.all(acks);
    for (const list of [ids.one, ids.two]) for (let i = 1; i < list.length; i++) expect(list[i]!).toBeGreaterThan(list[i - 1]!);
  });
});

describe("clientId", () => {
  test("a repeated clientId is stored once and answered with the stored message; nobody else gets it twice", async () => {
    const server = await startServer();
    const url = server.wsUrl("idem");
    const ada = await Client.joined(url, "ada");
    const bob = await Client.joined(url, "bob");
    const first = await say(ada, "hello", "abc");
    const again = await say(ada, "hello (retry, edited)", "abc");
    expect(again).toEqual(first);
    expect(again.message).toBe("hello");
    const marker = await say(ada, "marker");
    await bob.next("message", (f) => f.id === marker.id);
    expect(bob.frames.filter((f) => f.type === "message").map((f) => f.id)).toEqual([first.id, marker.id]);
    expect(storedRows(server.db, "idem").map((r) => r.message)).toEqual(["hello", "marker"]);
  });

  test("a retry from a new socket (a reconnect) under the same name is deduplicated", async () => {
    const server = await startServer();
    const url = server.wsUrl("idem");
    const ada = await Client.joined(url, "ada");
    const first = await say(ada, "hello", "k1");
    ada.close();
    const again = await Client.joined(url, "ada");
    expect(await say(again, "hello", "k1")).toEqual(first);
    expect(storedRows(server.db, "idem").length).toBe(1);
  });

  test("two copies sent back to back (one commit) are stored once and both answered with it", async () => {
    const server = await startServer();
    const url = server.wsUrl("idem");
    const ada = await Client.joined(url, "ada");
    const bob = await Client.joined(url, "bob");
    ada.send({ type: "message", message: "twice", clientId: "dup" });
    ada.send({ type: "message", message: "twice", clientId: "dup" });
    const one = await ada.next("message", (f) => f.clientId === "dup");
    const two = await ada.next("message", (f) => f.clientId === "dup");
    expect(two).toEqual(one);
    const marker = await say(ada, "marker");
    await bob.next("message", (f) => f.id === marker.id);
    expect(bob.frames.filter((f) => f.type === "message").map((f) => f.id)).toEqual([one.id, marker.id]);
    expect(storedRows(server.db, "idem").length).toBe(2);
  });

  test("the same clientId from another name or in another room is another message", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("r1"), "ada");
    const bob = await Client.joined(server.wsUrl("r1"), "bob");
    const ada2 = await Client.joined(server.wsUrl("r2"), "ada");
    const ids = new Set([(await say(ada, "x", "same")).id, (await say(bob, "x", "same")).id, (await say(ada2, "x", "same")).id]);
    expect(ids.size).toBe(3);
    expect(storedRows(server.db).length).toBe(3);
  });
});

describe("presence", () => {
  test("left goes to everyone still in the room when a joined socket closes, with count and online", async () => {
    const server = await startServer();
    const url = server.wsUrl("lobby");
    const ada = await Client.joined(url, "ada");
    const bob = await Client.joined(url, "bob");
    const carol = await Client.joined(url, "carol");
    await ada.next("joined", (f) => f.name === "carol");
    bob.close();
    const left = await ada.next("left");
    expect(left).toMatchObject({ type: "left", name: "bob", count: 2, online: ["ada", "carol"] });
    expect(typeof left.timestamp).toBe("number");
    expect(await carol.next("left")).toMatchObject({ name: "bob", online: ["ada", "carol"] });
  });

  test("a socket that never joined leaves without a left frame", async () => {
    const server = await startServer();
    const url = server.wsUrl("lobby");
    const ada = await Client.joined(url, "ada");
    const lurker = await Client.open(url);
    lurker.close();
    await lurker.waitClose();
    const bob = await Client.joined(url, "bob");
    bob.close();
    const left = await ada.next("left");
    expect(left.name).toBe("bob");
    expect(ada.frames.filter((f) => f.type === "left").length).toBe(1);
  });

  test("names are not unique: the same name from two tabs", async () => {
    const server = await startServer();
    const url = server.wsUrl("tabs");
    const tab1 = await Client.joined(url, "ada");
    const tab2 = await Client.joined(url, "ada");
    expect(tab2.frames[0].online).toEqual(["ada"]); // each name once
    const bob = await Client.joined(url, "bob");
    expect(await tab1.next("joined", (f) => f.name === "bob")).toMatchObject({ online: ["ada", "bob"] });
    const m1 = await say(tab1, "from tab 1");
    const m2 = await say(tab2, "from tab 2");
    // each tab gets the other's message (the copy that is not its own ack)
    expect(tab2.frames.find((f) => f.id === m1.id && f.clientId === undefined)?.name).toBe("ada");
    expect((await tab1.next("message", (f) => f.id === m2.id)).name).toBe("ada");
    tab1.close();
    // ada is still there through her other tab
    expect(await bob.next("left")).toMatchObject({ name: "ada", count: 2, online: ["ada", "bob"] });
    expect((await say(tab2, "still here")).name).toBe("ada");
  });
});

describe("rooms", () => {
  test("rooms are isolated: messages, presence and history stay in their room", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("one"), "ada");
    const bob = await Client.joined(server.wsUrl("two"), "bob");
    const a = await say(ada, "in one");
    const carol = await Client.joined(server.wsUrl("one"), "carol");
    await ada.next("joined", (f) => f.name === "carol");
    const b = await say(bob, "in two");
    expect(bob.frames.some((f) => f.id === a.id || f.name === "carol" || f.name === "ada")).toBe(false);
    expect(carol.history.map((m) => m.id)).toEqual([a.id]);
    const dave = await Client.joined(server.wsUrl("two"), "dave");
    expect(dave.history.map((m) => m.id)).toEqual([b.id]);
    const marker = await say(ada, "marker");
    await carol.next("message", (f) => f.id === marker.id);
    expect(carol.frames.some((f) => f.id === b.id || f.name === "dave")).toBe(false);
  });

  test("room names are case-sensitive and may use _ - .", async () => {
    const server = await startServer();
    const upper = await Client.joined(server.wsUrl("Room_1-a.b"), "ada");
    const lower = await Client.joined(server.wsUrl("room_1-a.b"), "bob");
    const m = await say(upper, "x");
    expect(m.room).toBe("Room_1-a.b");
    const n = await say(lower, "y");
    expect(lower.frames.some((f) => f.id === m.id)).toBe(false);
    expect(n.room).toBe("room_1-a.b");
  });
});

describe("frame size", () => {
  test("a frame over the size limit is closed with 1009", async () => {
    const server = await startServer({ maxFrameBytes: 4096 });
    const ada = await Client.joined(server.wsUrl("big"), "ada");
    ada.send({ type: "message", message: "x".repeat(5000) });
    expect((await ada.waitClose()).code).toBe(1009);
    expect(storedRows(server.db)).toEqual([]);
  });
});

describe("live rooms", () => {
  test("a room is freed when its last member leaves, also after joins cut short by a close", async () => {
    const server = await startServer();
    const url = server.wsUrl("brief");
    for (let i = 0; i < 5; i++) {
      const c = await Client.open(url);
      c.send({ type: "join", name: `n${i}` });
      c.close(); // maybe before the join completes
      await c.waitClose();
    }
    const ada = await Client.joined(url, "ada");
    ada.close();
    await ada.waitClose();
    // the close is handled by the time the client saw it completed; nothing is left of the room
    expect(await (await fetch(`${server.base}/rooms`)).json()).toEqual({ rooms: [] });
    const bob = await Client.joined(url, "bob");
    const carol = await Client.joined(url, "carol");
    expect(await bob.next("joined", (f) => f.name === "carol")).toMatchObject({ online: ["bob", "carol"] });
    void carol;
  });
});

describe("retention", () => {
  test("pruning removes old messages from history on join and from REST, live rooms included", async () => {
    let clock = 1_000_000;
    const server = await startServer({ now: () => clock, retentionMs: 60_000, pruneEveryMs: 3_600_000 });
    const url = server.wsUrl("ret");
    const ada = await Client.joined(url, "ada");
    const old = await say(ada, "old");
    clock += 50_000;
    const recent = await say(ada, "recent");
    clock += 20_000; // old is now 70 s old, recent 20 s
    const deleted = await (server.app.decorator as any).chat.prune();
    expect(deleted).toBe(1);
    const bob = await Client.joined(url, "bob");
    expect(bob.history.map((m) => m.id)).toEqual([recent.id]);
    const page = await (await fetch(`${server.base}/rooms/ret/messages`)).json();
    expect(page.messages.map((m: any) => m.id)).toEqual([recent.id]);
    const resumed = await Client.joined(url, "carol", { since: 0 });
    expect(resumed.history.map((m) => m.id)).toEqual([recent.id]);
    void old;
  });
});

