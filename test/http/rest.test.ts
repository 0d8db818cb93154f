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
    expect(await health()).toEqual({ ok: true, connections: 0, rooms: 0 });
    await Client.joined(server.wsUrl("one"), "ada");
    await Client.joined(server.wsUrl("one"), "bob");
    await Client.joined(server.wsUrl("two"), "cy");
    expect(await health()).toEqual({ ok: true, connections: 3, rooms: 2 });
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
