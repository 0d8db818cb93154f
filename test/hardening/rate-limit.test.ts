// The token bucket per client IP: a burst, then a rate; excess refused with retryAfter; a client
// that keeps flooding is closed 1008; everyone else gets every stored message.
import { expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { until } from "./raw";

const from = (ip: string) => ({ headers: { "X-Forwarded-For": ip } });

/** The answer (ack or error) to the frame with this clientId; refusals arrive before earlier acks. */
async function answer(client: Client, clientId: string) {
  let found: any;
  await until(() => (found = client.frames.find((f) => f.clientId === clientId)) !== undefined, 5000, `an answer to ${clientId}`);
  return found;
}

async function joinedFrom(url: string, name: string, ip: string) {
  const client = await Client.open(url, from(ip));
  client.send({ type: "join", name });
  await client.next("joined", (f) => f.name === name);
  return client;
}

test("a flood is rate_limited with retryAfter, then closed 1008; a bystander gets every stored message", async () => {
  const server = await startServer({ rateLimit: 2, rateBurst: 10, trustProxy: true });
  const url = server.wsUrl("lobby");
  const bystander = await joinedFrom(url, "ada", "10.0.0.1");
  const flooder = await joinedFrom(url, "mallory", "10.0.0.66");

  const sent = 60;
  for (let i = 0; i < sent; i++) flooder.send({ type: "message", message: `spam ${i}`, clientId: `f${i}` });
  const closed = await flooder.waitClose();
  expect(closed.code).toBe(1008);

  // Refusals are answered at once, acks only after the commit: the flooder was closed before its
  // acks came. What was stored is what the room and the REST history show.
  const limited = flooder.frames.filter((f) => f.type === "error" && f.code === "rate_limited");
  expect(limited.length).toBeGreaterThanOrEqual(20); // exactly 20 unless a token refilled mid-flood
  for (const error of limited) {
    expect(error.retryAfter).toBeGreaterThan(0);
    expect(error.retryAfter).toBeLessThanOrEqual(500); // one token at 2/s
    expect(error.clientId).toMatch(/^f\d+$/);
  }
  // The bystander's own address has its own bucket. Its message is committed after everything
  // the flooder had accepted (batches commit in order), so once it is acked all of that is stored.
  bystander.send({ type: "message", message: "hello", clientId: "b1" });
  const hello = await bystander.next("message", (f) => f.clientId === "b1");
  expect(hello.message).toBe("hello");

  const all = ((await (await fetch(`${server.base}/rooms/lobby/messages?limit=200`)).json()) as { messages: any[] }).messages;
  const stored = all.filter((m) => m.id !== hello.id);
  // The burst (10, maybe one or two more refilled meanwhile) was stored, nothing refused was.
  expect(stored.length).toBeGreaterThanOrEqual(10);
  expect(stored.length).toBeLessThanOrEqual(12);
  const refusedTexts = new Set(limited.map((e) => `spam ${e.clientId.slice(1)}`));
  expect(stored.filter((m) => refusedTexts.has(m.message))).toEqual([]);
  // Nothing after the close was processed: 60 sent, ~30 handled.
  expect(stored.length + limited.length).toBeLessThan(sent);

  // The bystander got exactly the stored messages, in order.
  const seen = bystander.frames.filter((f) => f.type === "message" && f.id !== hello.id);
  expect(seen.map(({ type, ...m }) => m)).toEqual(stored);

  // retryAfter means what it says: after it, the flooder's address may send one again.
  const again = await joinedFrom(url, "mallory", "10.0.0.66");
  again.send({ type: "message", message: "too soon", clientId: "r0" });
  const early = await again.next("error");
  expect(early.code).toBe("rate_limited");
  await Bun.sleep(early.retryAfter); // the contract is a duration: waiting it out is the test
  again.send({ type: "message", message: "later", clientId: "r1" });
  expect((await again.next("message", (f) => f.clientId === "r1")).message).toBe("later");
});

test("the bucket is per IP across sockets and rooms, not per socket", async () => {
  const server = await startServer({ rateLimit: 1, rateBurst: 6, trustProxy: true });
  const a1 = await joinedFrom(server.wsUrl("one"), "a", "10.0.0.7");
  const a2 = await joinedFrom(server.wsUrl("two"), "a", "10.0.0.7");
  const b = await joinedFrom(server.wsUrl("two"), "b", "10.0.0.8");
  for (let i = 0; i < 4; i++) a1.send({ type: "message", message: `one ${i}`, clientId: `a1-${i}` });
  for (let i = 0; i < 4; i++) expect((await answer(a1, `a1-${i}`)).type).toBe("message");
  for (let i = 0; i < 4; i++) a2.send({ type: "message", message: `two ${i}`, clientId: `a2-${i}` });
  const answers = [];
  for (let i = 0; i < 4; i++) answers.push(await answer(a2, `a2-${i}`));
  // 6 tokens for the address: a1 used 4, so a2 gets 2 (maybe 3 if a second passed) and is refused the rest.
  const ok = answers.filter((f) => f.type === "message").length;
  expect(ok).toBeGreaterThanOrEqual(2);
  expect(ok).toBeLessThanOrEqual(3);
  expect(answers.slice(ok).every((f) => f.type === "error" && f.code === "rate_limited")).toBe(true);
  // Another address in the same room is not limited by it.
  for (let i = 0; i < 6; i++) b.send({ type: "message", message: `b ${i}`, clientId: `b-${i}` });
  for (let i = 0; i < 6; i++) expect((await answer(b, `b-${i}`)).type).toBe("message");
  // A refused frame does not close the socket until the abuse goes on.
  expect(a2.closed).toBeUndefined();
});

test("rateLimit 0 turns the limiter off", async () => {
  const server = await startServer({ rateLimit: 0 });
  const client = await Client.joined(server.wsUrl("lobby"), "ada");
  for (let i = 0; i < 200; i++) client.send({ type: "message", message: `m${i}`, clientId: `c${i}` });
  await client.next("message", (f) => f.clientId === "c199");
  expect(client.frames.filter((f) => f.type === "error")).toEqual([]);
});

test("refused frames take from the address's bucket: malformed ones cannot be the free way past the limit", async () => {
  const server = await startServer({ rateLimit: 1, rateBurst: 3, trustProxy: true });
  const url = server.wsUrl("lobby");
  const mallory = await joinedFrom(url, "mallory", "10.0.0.66");
  const other = await joinedFrom(url, "other", "10.0.0.66"); // same address, another socket
  // Three refusals of their own kinds use the three tokens of the burst...
  mallory.send("not json");
  mallory.send({ type: "message", message: "", clientId: "e1" });
  mallory.send({ type: "join", name: "again" });
  expect([(await mallory.next("error")).code, (await mallory.next("error")).code, (await mallory.next("error")).code]).toEqual(["bad_json", "bad_frame", "already_joined"]);
  // ...so the address's next message, from any of its sockets, is over the rate.
  other.send({ type: "message", message: "hi", clientId: "o1" });
  const limited = await other.next("error");
  expect(limited).toMatchObject({ code: "rate_limited", clientId: "o1" });
  expect(limited.retryAfter).toBeGreaterThan(0);

  // Over the rate, a refusal is a strike: small frames are still read (their clientId comes
  // back), a big one is refused unread; 20 strikes close the socket 1008 like any flooder.
  mallory.send({ type: "message", message: "", clientId: "small" });
  expect(await mallory.next("error")).toMatchObject({ code: "rate_limited", clientId: "small" });
  mallory.send({ type: "message", message: "x".repeat(1990), clientId: "big".padEnd(3000, "!") });
  const unread = await mallory.next("error");
  expect(unread.code).toBe("rate_limited");
  expect(unread.clientId).toBeUndefined();
  for (let i = 0; i < 30 && !mallory.closed; i++) mallory.send("[[[[[[[[");
  expect((await mallory.waitClose()).code).toBe(1008);
  expect(mallory.frames.filter((f) => f.code === "rate_limited").length).toBe(20);
  expect(other.closed).toBeUndefined();
});

test("with the rate limit off, 20 refused frames in a row close the socket 1008; an accepted message starts the count again", async () => {
  const server = await startServer({ rateLimit: 0 });
  const url = server.wsUrl("lobby");
  const ada = await Client.joined(url, "ada");
  for (let i = 0; i < 19; i++) ada.send({ type: "message", message: "" });
  ada.send({ type: "message", message: "fine", clientId: "ok" });
  await ada.next("message", (f) => f.clientId === "ok");
  for (let i = 0; i < 19; i++) ada.send("nope");
  await until(() => ada.frames.filter((f) => f.type === "error").length === 38, 5000, "38 refusals");
  expect(ada.closed).toBeUndefined();
  ada.send("nope");
  expect((await ada.waitClose()).code).toBe(1008);
});
