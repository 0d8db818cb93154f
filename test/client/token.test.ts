// The client's `token` option and how it takes a refusal (PROTOCOL.md "Identity and access"),
// against a small real Bun WebSocket server that plays the server's part: it records each join
// and answers it as the test says (history + joined, or an error frame and close 4401/4403), and
// tells everyone of joins and leaves with the member's userId (a token makes one verified).
import type { ServerWebSocket } from "bun";
import { expect, test } from "bun:test";
import { ChatError, connect, type ChatClientOptions, type ChatErrorEvent } from "../../src/client/index";
import { defer } from "../helpers";
import { watch, within } from "./scenario";

type JoinSeen = { type: "join"; name: string; token?: string; since?: number };
type Verdict = "accept" | { code: "unauthorized" | "forbidden"; close: 4401 | 4403; reason: string };

const refuseToken: Verdict = { code: "unauthorized", close: 4401, reason: "token refused" };

function standIn(decide: (join: JoinSeen, n: number) => Verdict) {
  const joins: JoinSeen[] = [];
  const sockets = new Set<ServerWebSocket<unknown>>();
  const members = new Map<ServerWebSocket<unknown>, { name: string; userId?: string }>();
  const refuse = (ws: ServerWebSocket<unknown>, code: string, close: number, reason: string) => {
    ws.send(JSON.stringify({ type: "error", code, message: code === "unauthorized" ? "a valid token is needed" : "not allowed in this room" }));
    ws.close(close, reason);
  };
  const server = Bun.serve({
    port: 0,
    fetch: (req, srv) => (srv.upgrade(req) ? undefined : new Response("not found", { status: 404 })),
    websocket: {
      open: (ws) => void sockets.add(ws),
      close(ws) {
        sockets.delete(ws);
        const member = members.get(ws);
        if (!members.delete(ws) || !member) return;
        const online = [...new Set([...members.values()].map((m) => m.name))];
        for (const peer of members.keys()) peer.send(JSON.stringify({ type: "left", ...member, timestamp: Date.now(), count: online.length, online }));
      },
      message(ws, data) {
        const frame = JSON.parse(String(data));
        if (frame.type !== "join") return; // sends stay unacknowledged: pending until the test ends them
        joins.push(frame);
        const verdict = decide(frame, joins.length);
        if (verdict !== "accept") return refuse(ws, verdict.code, verdict.close, verdict.reason);
        // As a verifying server would: a token makes the member verified (here its id is "u-" + name).
        const member = { name: frame.name, ...(frame.token ? { userId: `u-${frame.name}` } : {}) };
        members.set(ws, member);
        const all = [...members.values()];
        const online = [...new Set(all.map((m) => m.name))];
        ws.send(JSON.stringify({ type: "history", messages: [], online, members: all }));
        const presence = JSON.stringify({ type: "joined", ...member, timestamp: Date.now(), count: online.length, online });
        for (const peer of members.keys()) peer.send(presence);
      },
    },
  });
  defer(() => server.stop(true));
  return {
    url: `http://localhost:${server.port}`,
    joins,
    /** Closes every live socket as the server's moderation does. */
    kick: (reason: "kicked" | "banned") => sockets.forEach((ws) => refuse(ws, "forbidden", 4403, reason)),
    /** Drops every live socket like a restart would: the client reconnects. */
    drop: () => sockets.forEach((ws) => ws.close(1001, "going away")),
  };
}

const MAX_BACKOFF_MS = 200;

function open(options: Pick<ChatClientOptions, "url"> & Partial<ChatClientOptions>) {
  const w = watch(connect({ room: "lobby", name: "ann", backoff: { initialMs: 20, maxMs: MAX_BACKOFF_MS }, ...options }));
  const errors: ChatErrorEvent[] = [];
  w.client.on("error", (e) => errors.push(e));
  defer(() => w.client.close());
  return { ...w, errors, online: () => w.until(() => w.client.state === "online", "online"), closed: () => w.until(() => w.client.state === "closed", "closed") };
}

/** No join comes after the client closed: given every reconnect delay's worth of time to show one. */
async function noMoreJoins(joins: JoinSeen[]) {
  const count = joins.length;
  await Bun.sleep(3 * MAX_BACKOFF_MS);
  expect(joins).toHaveLength(count);
}

test("a token function is called before every connect, and each join carries its token", async () => {
  const server = standIn(() => "accept");
  let calls = 0;
  // Async, as an app fetching a fresh token from its backend would be.
  const ann = open({ url: server.url, token: async () => `token-${++calls}` });
  await ann.online();
  server.drop();
  await ann.until(() => ann.states.filter((s) => s === "online").length === 2, "online again");
  expect(calls).toBe(2);
  expect(server.joins.map((j) => j.token)).toEqual(["token-1", "token-2"]);
  expect(ann.errors).toEqual([]);
});

test("a string token goes in every join; without the option, or when the function gives none, the join has no token", async () => {
  const server = standIn(() => "accept");
  const fixed = open({ url: server.url, token: "the-token" });
  await fixed.online();
  server.drop();
  await fixed.until(() => fixed.states.filter((s) => s === "online").length === 2, "online again");
  fixed.client.close();
  const anonymous = open({ url: server.url, name: "ben" });
  await anonymous.online();
  const none = open({ url: server.url, name: "cid", token: () => undefined });
  await none.online();
  expect(server.joins.map((j) => [j.name, j.token])).toEqual([
    ["ann", "the-token"],
    ["ann", "the-token"],
    ["ben", undefined],
    ["cid", undefined],
  ]);
  expect(server.joins.slice(2).every((j) => !("token" in j))).toBe(true);
});

test("a 4401 asks for a token once more and retries; the fresh one gets in", async () => {
  const server = standIn((join) => (join.token === "expired" ? refuseToken : "accept"));
  const tokens = ["expired", "fresh"];
  let calls = 0;
  const ann = open({ url: server.url, token: () => tokens[calls++] });
  const sent = ann.client.send("queued before the join");
  await ann.online();
  expect(server.joins.map((j) => j.token)).toEqual(["expired", "fresh"]);
  expect(ann.states).toEqual(["reconnecting", "online"]);
  expect(ann.errors).toEqual([]); // the refusal that a retry fixed is not the app's business
  ann.client.close();
  await expect(sent).rejects.toMatchObject({ code: "closed" }); // the stand-in never acks
});

test("a second 4401 in a row stops the client: closed, unauthorized reported, pending sends rejected, no more joins", async () => {
  const server = standIn(() => refuseToken);
  let calls = 0;
  const ann = open({ url: server.url, token: () => `token-${++calls}` });
  const sent = ann.client.send("never delivered");
  const rejected = within(sent.then(() => undefined, (e) => e), "the send's rejection");
  await ann.closed();
  const error = await rejected;
  expect(error).toBeInstanceOf(ChatError);
  expect(error).toMatchObject({ code: "unauthorized" });
  expect(calls).toBe(2);
  expect(server.joins.map((j) => j.token)).toEqual(["token-1", "token-2"]);
  expect(ann.errors).toEqual([{ type: "error", code: "unauthorized", message: "a valid token is needed", reason: "token refused" }]);
  await noMoreJoins(server.joins);
  expect(ann.client.state).toBe("closed");
});

test("a 4401 with a string token, or with none, stops at once: the same join would be refused again", async () => {
  const server = standIn(() => refuseToken);
  const fixed = open({ url: server.url, token: "the-token" });
  const anonymous = open({ url: server.url, name: "ben" });
  await Promise.all([fixed.closed(), anonymous.closed()]);
  for (const w of [fixed, anonymous]) {
    expect(w.errors).toEqual([{ type: "error", code: "unauthorized", message: "a valid token is needed", reason: "token refused" }]);
    expect(w.states).toEqual(["closed"]);
  }
  await noMoreJoins(server.joins);
  expect(server.joins).toHaveLength(2);
});

test("a 4401 after a join that got in is given its one retry again", async () => {
  // ok, refused, ok (the retry), refused, ok (the retry again): the count starts over once in.
  const server = standIn((_, n) => (n === 2 || n === 4 ? refuseToken : "accept"));
  const ann = open({ url: server.url, token: () => "t" });
  await ann.online();
  server.drop();
  await ann.until(() => ann.states.filter((s) => s === "online").length === 2, "online a second time");
  server.drop();
  await ann.until(() => ann.states.filter((s) => s === "online").length === 3, "online a third time");
  expect(server.joins).toHaveLength(5);
  expect(ann.errors).toEqual([]);
});

test("a 4403 on the join stops at once with the code and the reason", async () => {
  const server = standIn(() => ({ code: "forbidden", close: 4403, reason: "banned" }));
  let calls = 0;
  const ann = open({ url: server.url, token: () => `token-${++calls}` });
  const sent = ann.client.send("never delivered");
  const rejected = within(sent.then(() => undefined, (e) => e), "the send's rejection");
  await ann.closed();
  expect(await rejected).toMatchObject({ code: "forbidden" });
  expect(ann.errors).toEqual([{ type: "error", code: "forbidden", message: "not allowed in this room", reason: "banned" }]);
  expect(ann.states).toEqual(["closed"]);
  await noMoreJoins(server.joins);
  expect(calls).toBe(1);
});

test("kicked while online: closed with forbidden and reason kicked, the unacked send rejected, no reconnect", async () => {
  const server = standIn(() => "accept");
  const ann = open({ url: server.url, token: "t" });
  await ann.online();
  const sent = ann.client.send("in flight when kicked");
  const rejected = within(sent.then(() => undefined, (e) => e), "the send's rejection");
  server.kick("kicked");
  await ann.closed();
  expect(await rejected).toMatchObject({ code: "forbidden" });
  expect(ann.errors).toEqual([{ type: "error", code: "forbidden", message: "not allowed in this room", reason: "kicked" }]);
  expect(ann.client.online).toEqual([]);
  await noMoreJoins(server.joins);
  expect(server.joins).toHaveLength(1);
});

test("a token function that fails counts as a failed connect: retried with backoff, not a refusal", async () => {
  const server = standIn(() => "accept");
  let calls = 0;
  const ann = open({
    url: server.url,
    token: async () => {
      if (++calls === 1) throw new Error("the app's token endpoint is down");
      return "t";
    },
  });
  await ann.online();
  expect(calls).toBe(2);
  expect(server.joins.map((j) => j.token)).toEqual(["t"]);
});

test("members: a verified member by its id, an anonymous one by name, both under one name", async () => {
  const server = standIn(() => "accept");
  const ada = open({ url: server.url, name: "ada", token: "t" });
  await ada.online();
  expect(ada.client.members).toEqual([{ name: "ada", userId: "u-ada" }]);
  const fake = open({ url: server.url, name: "ada" }); // no token: anonymous, same name
  await fake.online();
  expect(fake.client.members).toEqual([{ name: "ada", userId: "u-ada" }, { name: "ada" }]);
  await ada.until(() => ada.client.members.length === 2, "ada sees the anonymous ada");
  expect(ada.client.members).toEqual([{ name: "ada", userId: "u-ada" }, { name: "ada" }]);
  expect(ada.client.online).toEqual(["ada"]);
  fake.client.close();
  await ada.until(() => ada.client.members.length === 1, "the anonymous ada left");
  expect(ada.client.members).toEqual([{ name: "ada", userId: "u-ada" }]);
});
