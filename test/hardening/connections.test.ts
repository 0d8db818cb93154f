// Per-IP connection cap and the join deadline.
import { expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { RawClient, until } from "./raw";

const upgradeStatus = async (url: string, headers: Record<string, string> = {}) => {
  try {
    (await RawClient.connect(url, { headers })).end();
    return 101;
  } catch (error) {
    return Number(/HTTP\/1\.1 (\d+)/.exec(String(error))?.[1] ?? NaN);
  }
};

test("the per-IP cap answers 429 before the upgrade and frees slots on close", async () => {
  const server = await startServer({ maxConnectionsPerIp: 3, trustProxy: true });
  const url = server.wsUrl("lobby");
  const ip = (n: number) => ({ headers: { "X-Forwarded-For": `10.0.0.${n}` } });
  const open = [await Client.open(url, ip(1)), await Client.open(url, ip(1)), await Client.open(url, ip(1))];
  expect(await upgradeStatus(url, { "X-Forwarded-For": "10.0.0.1" })).toBe(429);
  const refused = await fetch(url.replace("ws", "http"), {
    headers: { "X-Forwarded-For": "10.0.0.1", Upgrade: "websocket", Connection: "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" },
  });
  expect(refused.status).toBe(429);
  // Other addresses are not affected.
  await Client.open(url); // no header: counted as 127.0.0.1
  const other = await Client.open(url, ip(2));
  other.send({ type: "join", name: "eve" });
  await other.next("joined");

  // A closed socket frees its slot (no leak, even after many rounds).
  for (let round = 0; round < 5; round++) {
    const leaving = open.pop()!;
    leaving.close();
    await leaving.waitClose();
    // The server sees the close a moment after the client: wait for the count, not a sleep.
    await until(() => server.app.decorator.chat.connections.openFrom("10.0.0.1") === open.length, 2000, "the slot to be freed");
    open.push(await Client.open(url, ip(1)));
    expect(await upgradeStatus(url, { "X-Forwarded-For": "10.0.0.1" })).toBe(429);
  }
});

test("without trustProxy, X-Forwarded-For is ignored: forged addresses share the real one's cap", async () => {
  const server = await startServer({ maxConnectionsPerIp: 2 });
  const url = server.wsUrl("lobby");
  await Client.open(url, { headers: { "X-Forwarded-For": "1.1.1.1" } });
  await Client.open(url, { headers: { "X-Forwarded-For": "2.2.2.2" } });
  expect(await upgradeStatus(url, { "X-Forwarded-For": "3.3.3.3" })).toBe(429);
});

test("behind a proxy only the last X-Forwarded-For entry counts (earlier ones are forgeable)", async () => {
  const server = await startServer({ maxConnectionsPerIp: 1, trustProxy: true });
  const url = server.wsUrl("lobby");
  await Client.open(url, { headers: { "X-Forwarded-For": "6.6.6.6, 10.0.0.9" } });
  expect(await upgradeStatus(url, { "X-Forwarded-For": "7.7.7.7, 10.0.0.9" })).toBe(429);
  expect(await upgradeStatus(url, { "X-Forwarded-For": "6.6.6.6, 10.0.0.10" })).toBe(101);
});

test("a socket that never joins is closed 1008 and gets no room traffic meanwhile", async () => {
  const server = await startServer({ joinTimeoutMs: 400 });
  const url = server.wsUrl("lobby");
  const member = await Client.joined(url, "ada");
  const lurker = await Client.open(url);
  const opened = Date.now();
  member.send({ type: "message", message: "secret", clientId: "m1" });
  await member.next("message", (f) => f.clientId === "m1");
  const other = await Client.joined(url, "bob");
  other.close();
  const closed = await lurker.waitClose(5000);
  const after = Date.now() - opened;
  expect(closed.code).toBe(1008);
  expect(after).toBeGreaterThanOrEqual(350);
  expect(after).toBeLessThan(2000);
  expect(lurker.frames).toEqual([]);
  // Frames other than join are refused meanwhile, and do not count as joining.
  const chatty = await Client.open(url);
  chatty.send({ type: "message", message: "hi" });
  expect((await chatty.next("error")).code).toBe("not_joined");
  expect((await chatty.waitClose(5000)).code).toBe(1008);
  expect(chatty.frames.filter((f) => f.type !== "error")).toEqual([]);
  // A member that joined in time stays.
  expect(member.closed).toBeUndefined();
});

test("an upgrade that fails after the checks does not keep its slot", async () => {
  const server = await startServer({ maxConnectionsPerIp: 1, trustProxy: true, joinTimeoutMs: 300 });
  const url = server.wsUrl("lobby");
  const connections = server.app.decorator.chat.connections;
  // Upgrade: websocket but no Sec-WebSocket-Key: passes the route's checks, then Bun refuses it.
  const broken = await fetch(url.replace("ws", "http"), { headers: { "X-Forwarded-For": "10.1.1.1", Upgrade: "websocket", Connection: "Upgrade" } });
  expect(broken.status).toBe(400);
  expect(connections.openFrom("10.1.1.1")).toBe(1); // reserved by the checks, never opened
  await until(() => connections.openFrom("10.1.1.1") === 0, 3000, "the failed upgrade's reservation to expire");
  expect(await upgradeStatus(url, { "X-Forwarded-For": "10.1.1.1" })).toBe(101);
  expect(connections.clients).toBeLessThanOrEqual(1);
});
