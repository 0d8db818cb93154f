// The join limit per client address (CHAT_JOIN_RATE / CHAT_JOIN_BURST): a join over it is
// refused with rate_limited + retryAfter before anything of the room is read or sent, the socket
// stays open and may join after retryAfter, refusals in a row close it 1008; the defaults let a
// whole office behind one address (as many sockets as the connection cap) join at once.
import { expect, test } from "bun:test";
import { parseConfig } from "../../src/config";
import { Client, startServer } from "../helpers";

const from = (ip: string) => ({ headers: { "X-Forwarded-For": ip } });

async function joinedFrom(url: string, name: string, ip: string) {
  const client = await Client.open(url, from(ip));
  client.send({ type: "join", name });
  await client.next("joined", (f) => f.name === name);
  return client;
}

test("a join over the limit is rate_limited with retryAfter; the room hears nothing of it; the socket joins later", async () => {
  const server = await startServer({ joinRate: 2, joinBurst: 2, trustProxy: true });
  const url = server.wsUrl("lobby");
  const watcher = await joinedFrom(url, "watcher", "10.0.0.1");
  await joinedFrom(url, "m1", "10.0.0.66");
  await joinedFrom(url, "m2", "10.0.0.66");
  const third = await Client.open(url, from("10.0.0.66"));
  third.send({ type: "join", name: "m3" });
  const refused = await third.next();
  expect(refused).toMatchObject({ type: "error", code: "rate_limited" });
  expect(refused.retryAfter).toBeGreaterThan(0);
  expect(refused.retryAfter).toBeLessThanOrEqual(500); // one join at 2/s
  expect(third.closed).toBeUndefined();
  // Nothing of the room reached it, and the room heard nothing: the next presence the watcher
  // gets is a join from another address.
  await joinedFrom(url, "marker", "10.0.0.2");
  await watcher.next("joined", (f) => f.name === "marker");
  expect(watcher.frames.filter((f) => f.name === "m3")).toEqual([]);
  expect(third.frames).toEqual([refused]);
  // A message before the join is still not_joined: the refused join left it outside the room.
  third.send({ type: "message", message: "x", clientId: "early" });
  expect((await third.next("error")).code).toBe("not_joined");

  await Bun.sleep(refused.retryAfter); // the contract is a duration: waiting it out is the test
  third.send({ type: "join", name: "m3" });
  expect((await third.next()).type).toBe("history");
  await watcher.next("joined", (f) => f.name === "m3");
});

test("refused joins in a row count as strikes: the socket is closed 1008", async () => {
  const server = await startServer({ joinRate: 0.01, joinBurst: 1, trustProxy: true });
  const url = server.wsUrl("lobby");
  await joinedFrom(url, "first", "10.0.0.9"); // the address's only join for 100 s
  const flooder = await Client.open(url, from("10.0.0.9"));
  for (let i = 0; i < 25; i++) flooder.send({ type: "join", name: "again" });
  expect((await flooder.waitClose()).code).toBe(1008);
  const refusals = flooder.frames.filter((f) => f.code === "rate_limited");
  expect(refusals.length).toBe(20);
  expect(flooder.frames.some((f) => f.type === "history")).toBe(false);
  // Another address is not limited by it.
  await joinedFrom(url, "bystander", "10.0.0.10");
});

test("the default limits let as many sockets as the connection cap join at once from one address, then hold a churner to the rate", async () => {
  const defaults = parseConfig([], {});
  const server = await startServer({ joinRate: defaults.joinRate, joinBurst: defaults.joinBurst, maxConnectionsPerIp: defaults.maxConnectionsPerIp });
  const url = server.wsUrl("office");
  const started = performance.now();
  // An office behind one NAT address, every tab reconnecting at once (a server restart, say).
  const office = await Promise.all(Array.from({ length: defaults.maxConnectionsPerIp }, () => Client.open(url)));
  office.forEach((c, i) => c.send({ type: "join", name: `person${i}` }));
  const first = await Promise.all(office.map((c) => c.next()));
  expect(first.filter((f) => f.type !== "history")).toEqual([]);
  // The bucket is empty now: ten more joins from that address get what refilled meanwhile only.
  const leaving = office.slice(0, 10);
  leaving.forEach((c) => c.close());
  await Promise.all(leaving.map((c) => c.waitClose()));
  const churners = await Promise.all(leaving.map(() => Client.open(url)));
  churners.forEach((c) => c.send({ type: "join", name: "churner" }));
  const answers = await Promise.all(churners.map((c) => c.next()));
  const elapsed = (performance.now() - started) / 1000;
  const admitted = answers.filter((f) => f.type === "history").length;
  expect(admitted).toBeLessThanOrEqual(Math.ceil(elapsed * defaults.joinRate));
  for (const refused of answers.filter((f) => f.type !== "history")) {
    expect(refused).toMatchObject({ type: "error", code: "rate_limited" });
    expect(refused.retryAfter).toBeLessThanOrEqual(1000 / defaults.joinRate);
  }
  expect(admitted).toBeLessThan(10);
});
