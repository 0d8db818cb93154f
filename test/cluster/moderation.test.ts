// Moderation across nodes: a kick, a ban or a room turning private, called on node A's server
// API, closes the member on node B (relayed on the cluster's control channel), and a lifted ban
// lets the user in on node B at once. Compiled nodes on one PostgreSQL and one Redis.
import { describe, expect, test } from "bun:test";
import { SECRET, sign } from "../auth/keys";
import { Client } from "../helpers";
import { join, useCluster, waitForFrame, type Node } from "./harness";

const KEY = "cluster-api-key-0123456789abcdef";
const cluster = useCluster();

const api = async (node: Node, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${node.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${KEY}`, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
};
const token = (sub: string, claims: Record<string, unknown> = {}) => sign(SECRET, { sub, ...claims });

describe("moderation on two nodes", () => {
  test("a kick and a ban on node a close members on node b (4403 kicked / banned); the banned user's next join on b is refused, the lifted ban lets it in", async () => {
    const { nodes } = await cluster.start(2, { CHAT_API_KEY: KEY, CHAT_AUTH_SECRET: SECRET });
    const [a, b] = nodes as [Node, Node];
    const watcher = await join(a, "plaza", "watcher");
    const spammer = await join(b, "plaza", "spammer");
    const mallory = await join(b, "plaza", "mallory", { token: await token("u-mal") });
    await waitForFrame(watcher, "joined", (f) => f.name === "mallory", "watcher (a) hearing mallory join on b");
    // Node a lists node b's members by name, as its roster knows them.
    const listed = await api(a, "GET", "/api/rooms/plaza/members");
    expect(listed.json.members.map((m: any) => m.name).toSorted()).toEqual(["mallory", "spammer", "watcher"]);

    const kick = await api(a, "POST", "/api/rooms/plaza/kick", { name: "spammer" });
    expect(kick.status).toBe(200);
    expect((await spammer.next("error")).code).toBe("forbidden");
    expect(await spammer.waitClose(2000)).toEqual({ code: 4403, reason: "kicked" });
    await waitForFrame(watcher, "left", (f) => f.name === "spammer", "watcher (a) hearing the kicked spammer (b) leave");

    const started = Date.now();
    expect((await api(a, "PUT", "/api/rooms/plaza/bans/u-mal", { reason: "spam" })).status).toBe(204);
    expect(await mallory.waitClose(2000)).toEqual({ code: 4403, reason: "banned" });
    expect(Date.now() - started).toBeLessThan(1500);
    await waitForFrame(watcher, "left", (f) => f.name === "mallory", "watcher (a) hearing the banned mallory (b) leave");

    const again = await Client.open(b.wsUrl("plaza"));
    again.send({ type: "join", name: "mallory", token: await token("u-mal") });
    expect((await again.next("error")).code).toBe("forbidden");
    expect((await again.waitClose()).code).toBe(4403);
    // Lifted on node a: node b forgets its cached answer at once (no TTL to wait out).
    expect((await api(a, "DELETE", "/api/rooms/plaza/bans/u-mal")).status).toBe(204);
    const back = await Client.open(b.wsUrl("plaza"));
    back.send({ type: "join", name: "mallory", token: await token("u-mal") });
    await back.next("history");
    expect(watcher.closed).toBeUndefined();
  });

  test("a room made private on node a closes node b's members whose token does not cover it; a covered member stays", async () => {
    const { nodes } = await cluster.start(2, { CHAT_API_KEY: KEY, CHAT_AUTH_SECRET: SECRET });
    const [a, b] = nodes as [Node, Node];
    const anon = await join(b, "team", "anon");
    const member = await join(b, "team", "mem", { token: await token("u-mem", { rooms: ["team"] }) });
    expect((await api(a, "PUT", "/api/rooms/team", { private: true })).json).toEqual({ room: "team", private: true });
    expect((await anon.waitClose(2000)).code).toBe(4403);
    await waitForFrame(member, "left", (f) => f.name === "anon", "the covered member hearing anon leave");
    expect(member.closed).toBeUndefined();
  });
});
