// Verified joins and private rooms over real sockets and real HTTP against the compiled binary,
// with real jose tokens: each bad token is refused with an `unauthorized` error and close 4401,
// a token or a ban that does not let the user in with `forbidden` and 4403, and the server goes
// on serving everyone else. Bans and private rooms are written through the store before start
// (test/http/server-api.test.ts sets them through /api on a live server).
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite";
import { hmacToken, keyFolder, keyPair, SECRET, sign, unsigned } from "../auth/keys";
import { mutations } from "../auth/mutations";
import { Client, startBinary, tempDir, type RunningBinary } from "../helpers";

const ISSUER = "https://app.example";
const AUDIENCE = "chat";
const now = () => Math.floor(Date.now() / 1000);
/** A token the server configured below accepts: its issuer and audience, unless the claims say otherwise. */
const token = (claims: Record<string, unknown> = {}) => sign(SECRET, { iss: ISSUER, aud: AUDIENCE, ...claims });

/** Sends a join and expects the refusal: the error frame with its code, then the close. */
async function refused(server: RunningBinary, room: string, join: Record<string, unknown>, code: "unauthorized" | "forbidden") {
  const client = await Client.open(server.wsUrl(room));
  client.send({ type: "join", name: "eve", ...join });
  const error = await client.next("error");
  expect(error.code).toBe(code);
  const closed = await client.waitClose();
  expect(closed.code).toBe(code === "unauthorized" ? 4401 : 4403);
  expect(client.frames.filter((f) => f.type !== "error")).toEqual([]); // no history, no presence
  return { error, closed };
}

async function say(client: Client, message: string, clientId: string) {
  client.send({ type: "message", message, clientId });
  return client.next("message", (f) => f.clientId === clientId);
}

/** A SQLite file with settings and bans written through the store, as the server API does. */
async function seededDatabase(): Promise<string> {
  const path = join(tempDir(), "chat.db");
  const store = openSqliteStore(path);
  await store.setRoomSettings("staff", { private: true });
  await store.ban("lobby", "mallory", { reason: "spam" }, Date.now());
  await store.ban("lobby", "bygone", { until: Date.now() - 1000 }, Date.now() - 5000); // ended
  await store.close();
  return path;
}

/** A binary per test (cleanups run after each; it starts in well under a second). */
const startHs256 = async () =>
  startBinary({
    env: {
      CHAT_DB: await seededDatabase(),
      CHAT_AUTH_SECRET: SECRET,
      CHAT_AUTH_ISSUER: ISSUER,
      CHAT_AUTH_AUDIENCE: AUDIENCE,
      // The fuzz joins a few thousand times from one address.
      CHAT_MAX_CONNECTIONS_PER_IP: "0",
      CHAT_JOIN_RATE: "0",
    },
  });

describe("HS256, with an issuer and an audience", () => {

  test("a verified join goes by the token's name; userId on presence, messages and history.members", async () => {
    const server = await startHs256();
    const anon = await Client.joined(server.wsUrl("verified"), "anon");
    const ada = await Client.open(server.wsUrl("verified"));
    ada.send({ type: "join", name: "whoever", token: await token({ sub: "u-ada", name: "Ada" }) });
    const history = await ada.next("history");
    expect(history.members).toEqual([{ name: "anon" }, { name: "Ada", userId: "u-ada" }]);
    expect(history.online).toEqual(["anon", "Ada"]);
    expect(await anon.next("joined")).toMatchObject({ name: "Ada", userId: "u-ada", count: 2 });
    const sent = await say(ada, "hello", "m1");
    expect(sent).toMatchObject({ name: "Ada", userId: "u-ada", message: "hello" });
    expect(await anon.next("message")).toMatchObject({ name: "Ada", userId: "u-ada" });
    const fromAnon = await say(anon, "hi", "m2");
    expect(fromAnon.userId).toBeUndefined();
    // Stored with it: REST and the next joiner's history have it.
    const page = await (await fetch(`${server.base}/rooms/verified/messages`)).json();
    expect(page.messages.map((m: any) => m.userId)).toEqual(["u-ada", undefined]);
    // The same user from a second tab is one member; a second anonymous "anon" is the same name.
    const tab = await Client.open(server.wsUrl("verified"));
    tab.send({ type: "join", name: "x", token: await token({ sub: "u-ada", name: "Ada" }) });
    expect((await tab.next("history")).members).toEqual([{ name: "anon" }, { name: "Ada", userId: "u-ada" }]);
    ada.close();
    tab.close();
    const left = await anon.next("left", (f) => f.count === 1);
    expect(left).toMatchObject({ name: "Ada", userId: "u-ada" });
  });

  test("frames right behind a join wait for its token to be verified: stored with the userId, or not at all when the join is refused", async () => {
    const server = await startHs256();
    const ada = await Client.open(server.wsUrl("behind"));
    ada.send({ type: "join", name: "ada", token: await token({ sub: "u-ada" }) });
    ada.send({ type: "message", message: "right behind", clientId: "r1" });
    expect((await ada.next("history")).members).toEqual([{ name: "ada", userId: "u-ada" }]);
    expect(await ada.next("message")).toMatchObject({ message: "right behind", userId: "u-ada", clientId: "r1" });
    const eve = await Client.open(server.wsUrl("behind"));
    eve.send({ type: "join", name: "eve", token: await token({ exp: now() - 60 }) });
    eve.send({ type: "message", message: "sneaked in", clientId: "e1" });
    expect((await eve.next("error")).code).toBe("unauthorized");
    expect((await eve.waitClose()).code).toBe(4401);
    const { messages } = await (await fetch(`${server.base}/rooms/behind/messages`)).json();
    expect(messages.map((m: any) => m.message)).toEqual(["right behind"]);
  });

  const cases: [string, () => Promise<string> | string][] = [
    ["a forged signature", () => sign("another-secret-of-well-over-32-bytes!!", { iss: ISSUER, aud: AUDIENCE })],
    ["alg: none", () => unsigned({ sub: "u", iss: ISSUER, aud: AUDIENCE, exp: now() + 3600 })],
    ["an expired token", () => token({ exp: now() - 60 })],
    ["nbf in the future", () => token({ nbf: now() + 3600 })],
    ["a wrong issuer", () => token({ iss: "https://evil.example" })],
    ["a wrong audience", () => token({ aud: "other" })],
    ["no sub", () => hmacToken({ alg: "HS256" }, { iss: ISSUER, aud: AUDIENCE, exp: now() + 3600 })],
    ["no exp", () => hmacToken({ alg: "HS256" }, { sub: "u", iss: ISSUER, aud: AUDIENCE })],
    ["over 4096 characters", () => token({ pad: "x".repeat(4000) })],
    ["not a JWT", () => "hello"],
  ];
  for (const [what, make] of cases) {
    test(`${what}: unauthorized, 4401`, async () => {
    const server = await startHs256();
      const bad = await make();
      if (what === "over 4096 characters") expect(bad.length).toBeGreaterThan(4096);
      await refused(server, "lobby", { token: bad }, "unauthorized");
    });
  }

  test("a token for another room: forbidden, 4403; a prefix that covers the room lets it in", async () => {
    const server = await startHs256();
    await refused(server, "lobby", { token: await token({ rooms: ["team-a", "team-b*"] }) }, "forbidden");
    const bee = await Client.open(server.wsUrl("team-b2"));
    bee.send({ type: "join", name: "x", token: await token({ rooms: ["team-a", "team-b*"] }) });
    expect((await bee.next("history")).type).toBe("history");
  });

  test("a banned user: forbidden, 4403; an ended ban and other users are let in", async () => {
    const server = await startHs256();
    await refused(server, "lobby", { token: await token({ sub: "mallory" }) }, "forbidden");
    const bygone = await Client.open(server.wsUrl("lobby"));
    bygone.send({ type: "join", name: "b", token: await token({ sub: "bygone" }) });
    await bygone.next("history");
    // The ban is the room's: elsewhere mallory joins.
    const elsewhere = await Client.open(server.wsUrl("other"));
    elsewhere.send({ type: "join", name: "m", token: await token({ sub: "mallory" }) });
    await elsewhere.next("history");
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    expect(metrics).toContain('chat_joins_refused_total{code="forbidden"} 1');
    expect(server.lines.join("\n")).toMatch(/"join refused".*"reason":"banned"/);
  });

  test("a private room: not in GET /rooms, its history 401/403/200, its join refused without a covering token", async () => {
    const server = await startHs256();
    const insider = await token({ sub: "u-staff", rooms: ["staff"] });
    const outsider = await token({ sub: "u-out", rooms: ["lobby"] });
    const member = await Client.open(server.wsUrl("staff"));
    member.send({ type: "join", name: "s", token: insider });
    await member.next("history");
    await say(member, "secret plans", "p1");
    const { rooms } = await (await fetch(`${server.base}/rooms`)).json();
    expect(rooms.map((r: any) => r.room)).not.toContain("staff");
    const read = (authorization?: string) => fetch(`${server.base}/rooms/staff/messages`, { headers: authorization ? { authorization } : {} });
    const anonymous = await read();
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain("secret plans");
    expect((await read(`Bearer ${outsider}`)).status).toBe(403);
    expect((await read("Bearer not-a-token")).status).toBe(401);
    expect((await read(`Basic ${btoa("a:b")}`)).status).toBe(401);
    const allowed = await read(`Bearer ${insider}`);
    expect(allowed.status).toBe(200);
    expect((await allowed.json()).messages.map((m: any) => m.message)).toEqual(["secret plans"]);
    // Joins: no token, and a token without `rooms` (public rooms only), are refused.
    await refused(server, "staff", {}, "unauthorized");
    await refused(server, "staff", { token: await token({ sub: "u-any" }) }, "forbidden");
    await refused(server, "staff", { token: outsider }, "forbidden");
  });

  test("2,000 malformed tokens: each unauthorized and closed 4401; a bystander is served throughout", async () => {
    const server = await startHs256();
    const bystander = await Client.joined(server.wsUrl("bystander"), "bob");
    const tokens = mutations(await token({ sub: "user-1", rooms: ["fuzz"] }), 2000, 1414);
    let next = 0;
    const worker = async () => {
      while (next < tokens.length) {
        const i = next++;
        const client = await Client.open(server.wsUrl("fuzz"));
        client.send({ type: "join", name: "fuzz", token: tokens[i] });
        const error = await client.next("error");
        const closed = await client.waitClose();
        if (error.code !== "unauthorized" || closed.code !== 4401) throw new Error(`token #${i} ${JSON.stringify(tokens[i])}: ${error.code} ${closed.code}`);
        if (client.frames.length !== 1) throw new Error(`token #${i}: frames beyond the error: ${JSON.stringify(client.frames)}`);
        if (i % 250 === 0) await say(bystander, `still here ${i}`, `b${i}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    expect((await say(bystander, "after", "end")).message).toBe("after");
    const metrics = await (await fetch(`${server.base}/metrics`)).text();
    const unauthorized = Number(/chat_joins_refused_total\{code="unauthorized"\} (\d+)/.exec(metrics)?.[1]);
    expect(unauthorized).toBeGreaterThanOrEqual(2000);
    expect(metrics).toContain('chat_joins_refused_total{code="forbidden"} 0');
    // Refusals are logged by reason, never with the token.
    const logs = server.lines.join("\n");
    expect(logs).toContain('"join refused"');
    for (const t of tokens.slice(0, 200)) if (t.length > 20) expect(logs).not.toContain(t);
  }, 60_000);
});

test("HS256 signed with the server's public key (key confusion) is refused; the key's own algorithm joins", async () => {
  const folder = keyFolder();
  const pair = await keyPair("RS256", folder.dir);
  const server = await startBinary({ env: { CHAT_AUTH_PUBLIC_KEY: pair.path } });
  const exp = now() + 3600;
  await refused(server, "lobby", { token: hmacToken({ alg: "HS256", typ: "JWT" }, { sub: "u", exp }, pair.pem) }, "unauthorized");
  const good = await Client.open(server.wsUrl("lobby"));
  good.send({ type: "join", name: "rsa", token: await sign(pair.privateKey, { sub: "u-rsa" }, { alg: "RS256" }) });
  expect((await good.next("history")).members).toEqual([{ name: "rsa", userId: "u-rsa" }]);
  folder.remove();
});

test("without a key: a join with a token is unauthorized, one without joins", async () => {
  const server = await startBinary();
  await refused(server, "lobby", { token: await sign(SECRET) }, "unauthorized");
  await Client.joined(server.wsUrl("lobby"), "ada");
});

test("CHAT_ANONYMOUS=false: every join and every history read needs a token", async () => {
  const server = await startBinary({ env: { CHAT_AUTH_SECRET: SECRET, CHAT_ANONYMOUS: "false" } });
  await refused(server, "lobby", {}, "unauthorized");
  expect((await fetch(`${server.base}/rooms/lobby/messages`)).status).toBe(401);
  const user = await sign(SECRET, { sub: "u1" });
  expect((await fetch(`${server.base}/rooms/lobby/messages`, { headers: { authorization: `Bearer ${user}` } })).status).toBe(200);
  const client = await Client.open(server.wsUrl("lobby"));
  client.send({ type: "join", name: "u", token: user });
  await client.next("history");
});

test("the message rate limit counts a verified user by its id: two users behind one address each get their own bucket", async () => {
  const server = await startBinary({ env: { CHAT_AUTH_SECRET: SECRET, CHAT_RATE_LIMIT: "0.1", CHAT_RATE_BURST: "3" } });
  const open = async (sub: string) => {
    const client = await Client.open(server.wsUrl("office"));
    client.send({ type: "join", name: sub, token: await sign(SECRET, { sub }) });
    await client.next("history");
    return client;
  };
  const [ann, ben] = [await open("ann"), await open("ben")];
  for (let i = 0; i < 3; i++) await say(ann, `a${i}`, `a${i}`);
  ann.send({ type: "message", message: "too many", clientId: "a3" });
  expect((await ann.next("error", (f) => f.clientId === "a3")).code).toBe("rate_limited");
  // Ben, from the same address, still has his whole burst.
  for (let i = 0; i < 3; i++) expect((await say(ben, `b${i}`, `b${i}`)).userId).toBe("ben");
});
