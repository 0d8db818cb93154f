// PROTOCOL.md, HTTP: the ws route without an upgrade, room names, REST history paging, /rooms,
// /health and the page.
import { describe, expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { rawRequest, say, upgradeHeaders } from "./lib";

// Empty, with a slash, too long, non-ASCII, other punctuation, a traversal: all 400, none an unknown route.
const BAD_ROOMS = ["", "a/b", "a%20b", "a%2Fb", "x".repeat(65), "caf%C3%A9", "a%3Bb", "%2E%2E%2Fx"];

describe("GET /rooms/:room/ws", () => {
  test("without Upgrade: 426 and a short text", async () => {
    const server = await startServer();
    const res = await fetch(`${server.base}/rooms/lobby/ws`);
    expect(res.status).toBe(426);
    const text = await res.text();
    expect(text.length).toBeGreaterThan(0);
    expect(text.length).toBeLessThan(200);
  });

  test("with Upgrade: 101 Switching Protocols (the raw request used below is a real upgrade)", async () => {
    const server = await startServer();
    const res = await rawRequest(server.app.server!.port!, upgradeHeaders("/rooms/lobby/ws", server.app.server!.port!));
    expect(res.status).toBe(101);
  });

  for (const room of BAD_ROOMS) {
    test(`a bad room name (${room.slice(0, 20)}) is 400, without and with Upgrade`, async () => {
      const server = await startServer();
      const port = server.app.server!.port!;
      expect((await fetch(`${server.base}/rooms/${room}/ws`)).status).toBe(400);
      const res = await rawRequest(port, upgradeHeaders(`/rooms/${room}/ws`, port));
      expect(res.status).toBe(400);
      // and Bun's WebSocket client cannot get through either
      const ws = new WebSocket(`${server.wsUrl(room)}`);
      const outcome = await new Promise<string>((resolve) => {
        ws.addEventListener("open", () => resolve("open"));
        ws.addEventListener("error", () => resolve("error"));
      });
      ws.close();
      expect(outcome).toBe("error");
    });
  }

  test("a 64-character room name is fine", async () => {
    const server = await startServer();
    const room = "x".repeat(64);
    const ada = await Client.joined(server.wsUrl(room), "ada");
    expect((await say(ada, "hi")).room).toBe(room);
  });
});

describe("GET /rooms/:room/messages", () => {
  async function withMessages(count: number, room = "hist") {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl(room), "ada");
    const acks = await Promise.all(Array.from({ length: count }, (_, i) => say(ada, `m${i}`)));
    const messages = acks.map(({ type, clientId, ...m }) => m);
    return { server, messages, get: (query = "", r = room) => fetch(`${server.base}/rooms/${r}/messages${query}`) };
  }

  test("the latest 50 by default, oldest first, as { messages: [Message] }", async () => {
    const { messages, get } = await withMessages(60);
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await res.json()).toEqual({ messages: messages.slice(-50) });
  });

  test("limit and before page backwards through the whole history without gaps", async () => {
    const { messages, get } = await withMessages(23);
    expect((await (await get("?limit=5")).json()).messages).toEqual(messages.slice(-5));
    const seen: any[] = [];
    let before: number | undefined;
    for (;;) {
      const page = (await (await get(`?limit=7${before === undefined ? "" : `&before=${before}`}`)).json()).messages as any[];
      if (!page.length) break;
      seen.unshift(...page);
      before = page[0].id;
    }
    expect(seen).toEqual(messages);
    expect((await (await get(`?before=${messages[3]!.id}`)).json()).messages).toEqual(messages.slice(0, 3));
  });

  test("at most 200 per page", async () => {
    const { messages, get } = await withMessages(205);
    expect((await (await get("?limit=200")).json()).messages).toEqual(messages.slice(-200));
    // over the maximum: refused or capped, never more than 200
    const res = await get("?limit=201");
    if (res.status === 200) expect((await res.json()).messages).toEqual(messages.slice(-200));
    else expect(res.status).toBe(400);
  });

  test("a room without messages is an empty page; rooms do not mix", async () => {
    const { get, messages } = await withMessages(3, "full");
    expect(await (await get("", "empty")).json()).toEqual({ messages: [] });
    expect((await (await get("", "full")).json()).messages).toEqual(messages);
  });

  for (const query of ["?limit=0", "?limit=-1", "?limit=abc", "?limit=1.5", "?limit=", "?before=abc", "?before=0", "?before=-5", "?before=2.5", "?before="]) {
    test(`a bad value (${query}) is 400`, async () => {
      const { get } = await withMessages(1);
      const res = await get(query);
      expect(res.status).toBe(400);
    });
  }

  for (const room of BAD_ROOMS) {
    test(`a bad room name (${room.slice(0, 20)}) is 400`, async () => {
      const server = await startServer();
      expect((await fetch(`${server.base}/rooms/${room}/messages`)).status).toBe(400);
    });
  }
});

describe("GET /rooms", () => {
  test("every room with who is online and when its last message was", async () => {
    const server = await startServer();
    const ada = await Client.joined(server.wsUrl("busy"), "ada");
    const ada2 = await Client.joined(server.wsUrl("busy"), "ada");
    const bob = await Client.joined(server.wsUrl("busy"), "bob");
    await say(ada, "one");
    const last = await say(bob, "two");
    const quiet = await Client.joined(server.wsUrl("quiet"), "carol");
    const old = await say(quiet, "old news");
    quiet.close();
    await quiet.waitClose();
    await Client.joined(server.wsUrl("silent"), "dave");

    const res = await fetch(`${server.base}/rooms`);
    expect(res.status).toBe(200);
    const { rooms } = (await res.json()) as { rooms: any[] };
    const byName = Object.fromEntries(rooms.map((r) => [r.room, r]));
    expect(Object.keys(byName).sort()).toEqual(["busy", "quiet", "silent"]);
    expect(byName.busy.lastMessageAt).toBe(last.timestamp);
    expect(byName.quiet).toEqual({ room: "quiet", online: 0, lastMessageAt: old.timestamp });
    expect(byName.silent.lastMessageAt).toBeNull();
    // online as a number (names counted once: ada has two tabs)
    expect(byName.busy.online).toBe(2);
    expect(byName.silent.online).toBe(1);
    void ada2;
  });

  test("no rooms: an empty list", async () => {
    const server = await startServer();
    expect(await (await fetch(`${server.base}/rooms`)).json()).toEqual({ rooms: [] });
  });

  /** Every page from the first, following `next`; each page's size checked against `limit`. */
  async function walk(base: string, limit: number) {
    const pages: { rooms: any[]; next?: string }[] = [];
    let after: string | undefined;
    do {
      const res = await fetch(`${base}/rooms?limit=${limit}${after ? `&after=${after}` : ""}`);
      expect(res.status).toBe(200);
      const page = (await res.json()) as { rooms: any[]; next?: string };
      expect(page.rooms.length).toBeLessThanOrEqual(limit);
      pages.push(page);
      after = page.next;
      expect(pages.length).toBeLessThan(1000);
    } while (after);
    return pages;
  }

  test("paged: 100 by default, most recent first; `next` leads through every room once, and the last page has none", async () => {
    const server = await startServer();
    // 250 rooms, one message each, room i's at time i (one batch of distinct rooms)
    await server.store.append(Array.from({ length: 250 }, (_, i) => ({ room: `r${i}`, name: "ada", message: "x", timestamp: 1000 + i })));
    const byRecency = Array.from({ length: 250 }, (_, i) => `r${249 - i}`);
    const first = (await (await fetch(`${server.base}/rooms`)).json()) as { rooms: any[]; next?: string };
    expect(first.rooms.map((r) => r.room)).toEqual(byRecency.slice(0, 100));
    expect(first.rooms[0]).toEqual({ room: "r249", online: 0, lastMessageAt: 1249 });
    expect(typeof first.next).toBe("string");
    for (const limit of [1, 7, 100, 250, 1000]) {
      const pages = await walk(server.base, limit);
      expect(pages.flatMap((p) => p.rooms.map((r) => r.room))).toEqual(byRecency);
      expect(pages.at(-1)!.next).toBeUndefined();
    }
  });

  test("a room that gets a message moves to the front; a walk in progress lists none twice", async () => {
    const server = await startServer();
    await server.store.append(Array.from({ length: 10 }, (_, i) => ({ room: `r${i}`, name: "ada", message: "x", timestamp: 1000 + i })));
    const first = (await (await fetch(`${server.base}/rooms?limit=4`)).json()) as { rooms: any[]; next: string };
    expect(first.rooms.map((r) => r.room)).toEqual(["r9", "r8", "r7", "r6"]);
    const ada = await Client.joined(server.wsUrl("r8"), "ada");
    await say(ada, "back again");
    const rest = (await (await fetch(`${server.base}/rooms?limit=100&after=${first.next}`)).json()) as { rooms: any[] };
    expect(rest.rooms.map((r) => r.room)).toEqual(["r5", "r4", "r3", "r2", "r1", "r0"]);
    const again = (await (await fetch(`${server.base}/rooms?limit=2`)).json()) as { rooms: any[] };
    expect(again.rooms.map((r) => [r.room, r.online])).toEqual([
      ["r8", 1],
      ["r9", 0],
    ]);
  });

  test("at most 1000 a page: a larger limit is capped", async () => {
    const server = await startServer();
    await server.store.append(Array.from({ length: 1001 }, (_, i) => ({ room: `r${i}`, name: "ada", message: "x", timestamp: 1000 + i })));
    const page = (await (await fetch(`${server.base}/rooms?limit=5000`)).json()) as { rooms: any[]; next?: string };
    expect(page.rooms).toHaveLength(1000);
    expect(page.next).toBeDefined();
    const last = (await (await fetch(`${server.base}/rooms?limit=5000&after=${page.next}`)).json()) as { rooms: any[]; next?: string };
    expect(last).toEqual({ rooms: [{ room: "r0", online: 0, lastMessageAt: 1000 }] });
  });

  test("rooms with people online and no message yet come first (by name) and page like the rest", async () => {
    const server = await startServer();
    await server.store.append([
      { room: "old", name: "x", message: "x", timestamp: 1000 },
      { room: "newer", name: "x", message: "x", timestamp: 2000 },
    ]);
    for (const room of ["c", "a", "d", "b"]) await Client.joined(server.wsUrl(room), "ada");
    await Client.joined(server.wsUrl("a"), "bob");
    await Client.joined(server.wsUrl("old"), "carol");
    const pages = await walk(server.base, 3);
    expect(pages.map((p) => p.rooms.map((r) => [r.room, r.online, r.lastMessageAt]))).toEqual([
      [
        ["a", 2, null],
        ["b", 1, null],
        ["c", 1, null],
      ],
      [
        ["d", 1, null],
        ["newer", 0, 2000],
        ["old", 1, 1000],
      ],
    ]);
    // exactly a page of them: the next page goes on with the stored rooms
    const four = await walk(server.base, 4);
    expect(four.map((p) => p.rooms.map((r) => r.room))).toEqual([["a", "b", "c", "d"], ["newer", "old"]]);
  });

  test("a room's first message moves it from the rooms without messages to the front of the stored ones", async () => {
    const server = await startServer();
    await server.store.append([{ room: "old", name: "x", message: "x", timestamp: 1000 }]);
    const ada = await Client.joined(server.wsUrl("fresh"), "ada");
    expect((await (await fetch(`${server.base}/rooms`)).json()).rooms.map((r: any) => [r.room, r.lastMessageAt])).toEqual([
      ["fresh", null],
      ["old", 1000],
    ]);
    const m = await say(ada, "first!");
    expect((await (await fetch(`${server.base}/rooms`)).json()).rooms).toEqual([
      { room: "fresh", online: 1, lastMessageAt: m.timestamp },
      { room: "old", online: 0, lastMessageAt: 1000 },
    ]);
    ada.close();
    await ada.waitClose();
    await Client.joined(server.wsUrl("other"), "bob");
    const { rooms } = await (await fetch(`${server.base}/rooms`)).json();
    expect(rooms.map((r: any) => [r.room, r.online])).toEqual([
      ["other", 1],
      ["fresh", 0],
      ["old", 0],
    ]);
  });

  test("retention: a room whose every message expired drops from the stored list; with people in it, it stays listed", async () => {
    let clock = 1_000_000;
    const server = await startServer({ retentionMs: 60_000, pruneEveryMs: 3_600_000, now: () => clock });
    const ada = await Client.joined(server.wsUrl("occupied"), "ada");
    await say(ada, "soon gone");
    const bob = await Client.joined(server.wsUrl("empty"), "bob");
    await say(bob, "soon gone too");
    bob.close();
    await bob.waitClose();
    clock += 61_000;
    await Client.joined(server.wsUrl("later"), "carol").then((carol) => say(carol, "later"));
    expect(await server.app.decorator.chat.prune()).toBe(2);
    expect((await (await fetch(`${server.base}/rooms`)).json()).rooms.map((r: any) => [r.room, r.online, r.lastMessageAt])).toEqual([
      ["occupied", 1, null],
      ["later", 1, 1_061_000],
    ]);
  });

  for (const query of ["?limit=0", "?limit=-1", "?limit=abc", "?limit=1.5", "?after=abc", "?after=0", "?after=-5", "?after=~", "?after=~a%2Fb", "?after=1.5", "?after=12345678901234567"]) {
    test(`a bad value (${query}) is 400`, async () => {
      const server = await startServer();
      const res = await fetch(`${server.base}/rooms${query}`);
      expect(res.status).toBe(400);
    });
  }
});

describe("GET /health and GET /", () => {
  test("/health is 200 { ok: true }", async () => {
    const server = await startServer();
    const res = await fetch(`${server.base}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true });
  });

  test("/health counts the open sockets and the live rooms as they are now", async () => {
    const server = await startServer();
    const health = async () => (await fetch(`${server.base}/health`)).json();
    expect(await health()).toEqual({ ok: true, store: "sqlite", connections: 0, rooms: 0 });
    await Client.joined(server.wsUrl("one"), "ada");
    await Client.joined(server.wsUrl("one"), "bob");
    await Client.joined(server.wsUrl("two"), "cy");
    expect(await health()).toEqual({ ok: true, store: "sqlite", connections: 3, rooms: 2 });
  });

  test("/ serves the web page", async () => {
    const server = await startServer();
    const res = await fetch(`${server.base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    const html = await res.text();
    expect(html.toLowerCase()).toContain("<!doctype html>");
    expect(html).toContain("<title>");
  });
});
