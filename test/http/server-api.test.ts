// The server API (PROTOCOL.md, "Server API") over real HTTP and real sockets against the compiled
// binary: the key (header only, constant-time, 404 with none configured), each route's answer
// and refusals, and moderation landing on live sockets (kick, ban, a room turning private).
import { describe, expect, test } from "bun:test";
import { SECRET, sign } from "../auth/keys";
import { Client, startBinary, type RunningBinary } from "../helpers";

const KEY = "api-key-of-the-app-backend-0123456789";
const OLD_KEY = "the-previous-key-still-valid-during-rotation";

const start = (env: Record<string, string> = {}) =>
  startBinary({ env: { CHAT_AUTH_SECRET: SECRET, CHAT_API_KEY: `${KEY},${OLD_KEY}`, CHAT_JOIN_RATE: "0", CHAT_MAX_CONNECTIONS_PER_IP: "0", ...env } });

/** An API call with the key (or the headers given); JSON in, the status and the parsed answer out. */
async function call(server: RunningBinary, method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${KEY}` }) {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: { ...headers, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, text, json };
}

const token = (sub: string, claims: Record<string, unknown> = {}) => sign(SECRET, { sub, ...claims });

async function joinedAs(server: RunningBinary, room: string, name: string, tokenFor?: string, claims?: Record<string, unknown>) {
  return Client.joined(server.wsUrl(room), name, tokenFor === undefined ? {} : { token: await token(tokenFor, claims) });
}

describe("the key", () => {
  test("no CHAT_API_KEY: every /api route is 404, with or without a key", async () => {
    const server = await startBinary({ env: { CHAT_AUTH_SECRET: SECRET } });
    for (const [method, path] of [
      ["GET", "/api/rooms/lobby"],
      ["POST", "/api/rooms/lobby/messages"],
      ["GET", "/api/rooms/lobby/bans"],
      ["POST", "/api/tokens"],
    ]) {
      expect((await call(server, method!, path!, method === "POST" ? { name: "a", message: "b" } : undefined)).status).toBe(404);
      expect((await call(server, method!, path!, undefined, {})).status).toBe(404);
    }
  });

  test("no key, a wrong one, another scheme, or the key in the query string: 401; either configured key: 200", async () => {
    const server = await start();
    const path = "/api/rooms/lobby";
    expect((await call(server, "GET", path, undefined, {})).status).toBe(401);
    expect((await call(server, "GET", path, undefined, { authorization: `Bearer ${KEY}x` })).status).toBe(401);
    expect((await call(server, "GET", path, undefined, { authorization: `Basic ${KEY}` })).status).toBe(401);
    expect((await call(server, "GET", path, undefined, { authorization: `Bearer ${KEY.slice(0, -1)}` })).status).toBe(401);
    for (const name of ["key", "api_key", "apiKey", "token", "access_token"]) {
      expect((await call(server, "GET", `${path}?${name}=${KEY}`, undefined, {})).status).toBe(401);
    }
    // A body is not read before the key is checked: a bad one is still a 401.
    expect((await call(server, "POST", "/api/rooms/lobby/messages", "{not json", {})).status).toBe(401);
    expect((await call(server, "GET", path)).status).toBe(200);
    expect((await call(server, "GET", path, undefined, { authorization: `bearer ${OLD_KEY}` })).status).toBe(200);
    // Never logged: neither key, whatever was sent.
    const logs = server.lines.join("\n");
    expect(logs).not.toContain(KEY.slice(0, 20));
    expect(logs).not.toContain(OLD_KEY);
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    expect(metrics).toMatch(/chat_api_requests_total\{route="GET \/api\/rooms\/:room",status="401"\} 9/);
    expect(metrics).toMatch(/chat_api_requests_total\{route="GET \/api\/rooms\/:room",status="200"\} 2/);
  });
});

describe("messages", () => {
  test("a posted message is stored, delivered to a joined member with its userId, and in history; a retry with its clientId is 200 and the same message", async () => {
    const server = await start();
    const ada = await joinedAs(server, "lobby", "ada");
    const posted = await call(server, "POST", "/api/rooms/lobby/messages", { name: "  Bot ", message: "deploy done", userId: "bot-1", clientId: "c1" });
    expect(posted.status).toBe(201);
    expect(posted.json.message).toMatchObject({ room: "lobby", name: "Bot", message: "deploy done", userId: "bot-1" });
    const heard = await ada.next("message");
    expect(heard).toMatchObject({ id: posted.json.message.id, name: "Bot", message: "deploy done", userId: "bot-1" });
    const retry = await call(server, "POST", "/api/rooms/lobby/messages", { name: "Bot", message: "deploy done", userId: "bot-1", clientId: "c1" });
    expect(retry.status).toBe(200);
    expect(retry.json.message).toEqual(posted.json.message);
    const page = await (await fetch(`${server.base}/rooms/lobby/messages`)).json();
    expect(page.messages).toEqual([posted.json.message]);
    // Without a clientId each call is a new message; member order and API order share one log.
    ada.send({ type: "message", message: "thanks", clientId: "a1" });
    await ada.next("message", (f) => f.clientId === "a1");
    const second = await call(server, "POST", "/api/rooms/lobby/messages", { name: "Bot", message: "again" });
    expect(second.status).toBe(201);
    expect((await ada.next("message")).id).toBe(second.json.message.id);
    expect(ada.unread).toEqual([]); // the retry was delivered to no one
    // The text never reaches the logs.
    expect(server.lines.join("\n")).not.toContain("deploy done");
  });

  test("400 for a bad room, body, name, message, userId or clientId; nothing stored", async () => {
    const server = await start();
    const post = (body: unknown, room = "lobby") => call(server, "POST", `/api/rooms/${room}/messages`, body);
    const bad = [
      [await post({ name: "a", message: "b" }, "bad%20room"), "room"],
      [await post("{not json"), "JSON"],
      [await post({ name: "a" }), "name, message"],
      [await post({ name: 5, message: "b" }), "name, message"],
      [await post({ name: "", message: "b" }), "name"],
      [await post({ name: "a\u200bb", message: "b" }), "name"],
      [await post({ name: "a", message: "" }), "message"],
      [await post({ name: "a", message: "x".repeat(2001) }), "message"],
      [await post({ name: "a", message: "bell\u0007" }), "message"],
      [await post({ name: "a", message: "b", userId: "" }), "userId"],
      [await post({ name: "a", message: "b", clientId: "x".repeat(65) }), "clientId"],
    ] as const;
    for (const [answer, says] of bad) {
      expect(answer.status).toBe(400);
      expect(answer.text).toContain(says);
    }
    const page = await (await fetch(`${server.base}/rooms/lobby/messages`)).json();
    expect(page.messages).toEqual([]);
  });
});

describe("room settings", () => {
  test("GET is public until PUT; PUT private closes members whose token does not cover the room, and keeps the others", async () => {
    const server = await start();
    expect((await call(server, "GET", "/api/rooms/team")).json).toEqual({ room: "team", private: false });
    const anon = await joinedAs(server, "team", "anon");
    const outsider = await joinedAs(server, "team", "out", "u-out", { rooms: ["lobby"] }).catch(() => undefined);
    expect(outsider).toBeUndefined(); // its token never covered the room: refused at join already
    const general = await joinedAs(server, "team", "gen", "u-gen"); // no rooms claim: public rooms only
    const member = await joinedAs(server, "team", "mem", "u-mem", { rooms: ["team"] });
    const put = await call(server, "PUT", "/api/rooms/team", { private: true, title: "The team" });
    expect(put.status).toBe(200);
    expect(put.json).toEqual({ room: "team", private: true, title: "The team" });
    for (const client of [anon, general]) {
      expect((await client.next("error")).code).toBe("forbidden");
      expect(await client.waitClose(1000)).toMatchObject({ code: 4403 });
    }
    expect(member.closed).toBeUndefined();
    await member.next("left", (f) => f.name === "gen" || f.name === "anon");
    expect((await call(server, "GET", "/api/rooms/team")).json).toEqual({ room: "team", private: true, title: "The team" });
    // Out of the public list, and the next anonymous join is refused at once.
    const rooms = await (await fetch(`${server.base}/rooms`)).json();
    expect(rooms.rooms.map((r: any) => r.room)).not.toContain("team");
    const again = await Client.open(server.wsUrl("team"));
    again.send({ type: "join", name: "anon" });
    expect((await again.waitClose()).code).toBe(4401);
    // Public again (title removed): anonymous joins are back at once.
    expect((await call(server, "PUT", "/api/rooms/team", { private: false, title: null })).json).toEqual({ room: "team", private: false });
    await joinedAs(server, "team", "anon");
    // 400s.
    expect((await call(server, "PUT", "/api/rooms/team", { private: "yes" })).status).toBe(400);
    expect((await call(server, "PUT", "/api/rooms/team", { title: "two\nlines" })).text).toContain("title");
    expect((await call(server, "GET", "/api/rooms/no%2Fslash")).status).toBe(400);
  });
});

describe("members and kicks", () => {
  test("members: each identity once with its sockets; kick by userId and by name: forbidden, 4403 kicked, the room gets left", async () => {
    const server = await start();
    const watcher = await joinedAs(server, "lobby", "watcher");
    const ada1 = await joinedAs(server, "lobby", "Ada", "u-ada");
    const ada2 = await joinedAs(server, "lobby", "Ada", "u-ada");
    const spam = await joinedAs(server, "lobby", "spammer");
    const { json } = await call(server, "GET", "/api/rooms/lobby/members");
    expect(json.members).toEqual([
      { name: "watcher", connections: 1 },
      { name: "Ada", userId: "u-ada", connections: 2 },
      { name: "spammer", connections: 1 },
    ]);
    const byId = await call(server, "POST", "/api/rooms/lobby/kick", { userId: "u-ada" });
    expect(byId).toMatchObject({ status: 200, json: { closed: 2 } });
    for (const ada of [ada1, ada2]) {
      expect((await ada.next("error")).code).toBe("forbidden");
      expect(await ada.waitClose(1000)).toEqual({ code: 4403, reason: "kicked" });
    }
    expect(await watcher.next("left")).toMatchObject({ name: "Ada", userId: "u-ada" });
    const byName = await call(server, "POST", "/api/rooms/lobby/kick", { name: "spammer" });
    expect(byName.json).toEqual({ closed: 1 });
    expect(await spam.waitClose(1000)).toEqual({ code: 4403, reason: "kicked" });
    expect(await watcher.next("left", (f) => f.name === "spammer")).toMatchObject({ count: 1, online: ["watcher"] });
    expect(watcher.closed).toBeUndefined();
    expect((await call(server, "POST", "/api/rooms/lobby/kick", { name: "nobody" })).json).toEqual({ closed: 0 });
    expect((await call(server, "POST", "/api/rooms/lobby/kick", {})).status).toBe(400);
    expect((await call(server, "POST", "/api/rooms/lobby/kick", { userId: "a", name: "b" })).status).toBe(400);
    expect((await call(server, "GET", "/api/rooms/lobby/members")).json).toEqual({ members: [{ name: "watcher", connections: 1 }] });
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    expect(metrics).toMatch(/chat_kicks_total 3/);
  });
});

describe("bans", () => {
  test("a ban closes the live socket within a second, refuses the next join, is listed; unban lets the user in at once", async () => {
    const server = await start();
    const bystander = await joinedAs(server, "lobby", "bystander", "u-ok");
    const mallory = await joinedAs(server, "lobby", "mallory", "u-mal");
    const started = Date.now();
    const until = Date.now() + 3_600_000;
    expect((await call(server, "PUT", "/api/rooms/lobby/bans/u-mal", { reason: "spam", until })).status).toBe(204);
    expect((await mallory.next("error")).code).toBe("forbidden");
    expect(await mallory.waitClose(1000)).toEqual({ code: 4403, reason: "banned" });
    expect(Date.now() - started).toBeLessThan(1000);
    await bystander.next("left", (f) => f.userId === "u-mal");
    // The next join is refused at once (no cache to wait out).
    const again = await Client.open(server.wsUrl("lobby"));
    again.send({ type: "join", name: "mallory", token: await token("u-mal") });
    expect((await again.next("error")).code).toBe("forbidden");
    expect((await again.waitClose()).code).toBe(4403);
    const { json } = await call(server, "GET", "/api/rooms/lobby/bans");
    expect(json.bans).toHaveLength(1);
    expect(json.bans[0]).toMatchObject({ userId: "u-mal", reason: "spam", until });
    expect(typeof json.bans[0].createdAt).toBe("number");
    // A ban without a body lasts until lifted.
    expect((await call(server, "PUT", "/api/rooms/lobby/bans/u-other")).status).toBe(204);
    expect((await call(server, "GET", "/api/rooms/lobby/bans")).json.bans.find((b: any) => b.userId === "u-other")).toEqual({ userId: "u-other", createdAt: expect.any(Number) });
    expect((await call(server, "DELETE", "/api/rooms/lobby/bans/u-mal")).status).toBe(204);
    await joinedAs(server, "lobby", "mallory", "u-mal");
    expect((await call(server, "GET", "/api/rooms/lobby/bans")).json.bans.map((b: any) => b.userId)).toEqual(["u-other"]);
    expect(bystander.closed).toBeUndefined();
    // 400s: an until in the past or not a number, a reason too long, a bad room.
    expect((await call(server, "PUT", "/api/rooms/lobby/bans/u-x", { until: Date.now() - 1 })).text).toContain("until");
    expect((await call(server, "PUT", "/api/rooms/lobby/bans/u-x", { until: "soon" })).status).toBe(400);
    expect((await call(server, "PUT", "/api/rooms/lobby/bans/u-x", { reason: "x".repeat(501) })).text).toContain("reason");
    expect((await call(server, "GET", "/api/rooms/bad%20room/bans")).status).toBe(400);
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    expect(metrics).toMatch(/chat_bans_total 2/);
  });
});

describe("tokens", () => {
  test("POST /api/tokens gives a token that joins (its name, its rooms); bad requests 400; no secret: 404", async () => {
    const server = await start();
    expect((await call(server, "PUT", "/api/rooms/staff", { private: true })).status).toBe(200);
    const issued = await call(server, "POST", "/api/tokens", { sub: "u-42", name: "Grace", rooms: ["staff"], ttlSeconds: 600 });
    expect(issued.status).toBe(200);
    expect(issued.json.expiresAt).toBeGreaterThan(Date.now() + 590_000);
    expect(issued.json.expiresAt).toBeLessThanOrEqual(Date.now() + 601_000);
    const grace = await Client.open(server.wsUrl("staff"));
    grace.send({ type: "join", name: "whoever", token: issued.json.token });
    expect((await grace.next("history")).members).toEqual([{ name: "Grace", userId: "u-42" }]);
    expect(server.lines.join("\n")).not.toContain(issued.json.token);
    for (const [body, field] of [
      [{}, "sub"],
      [{ sub: "" }, "sub"],
      [{ sub: "u", ttlSeconds: 0 }, "ttlSeconds"],
      [{ sub: "u", ttlSeconds: 86_401 }, "ttlSeconds"],
      [{ sub: "u", rooms: ["bad room"] }, "rooms"],
      [{ sub: "u", name: "\u200b" }, "name"],
    ] as const) {
      const answer = await call(server, "POST", "/api/tokens", body);
      expect(answer.status).toBe(400);
      expect(answer.text).toContain(field);
    }
    const noSecret = await startBinary({ env: { CHAT_API_KEY: KEY } });
    expect((await call(noSecret, "POST", "/api/tokens", { sub: "u" })).status).toBe(404);
  });
});
