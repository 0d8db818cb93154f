// send(text, { clientId }): the caller's own id makes a send idempotent beyond one client's life
// (the web page re-sends its stored outbox after a reload); a message's length is counted in
// code points, as the server's schema counts it.
import { expect, test } from "bun:test";
import { api, ChatError, connect } from "../../src/client/index";
import { defer, startBinary } from "../helpers";

const open = (base: string) => {
  const client = connect({ url: base, room: "lobby", name: "ada", backoff: { initialMs: 50, maxMs: 400 } });
  defer(() => client.close());
  return client;
};

test("the same clientId from two clients (a page before and after a reload) is stored once", async () => {
  const server = await startBinary({ env: { CHAT_RATE_LIMIT: "0" } });
  const first = await open(server.base).send("kept once", { clientId: "outbox-1" });
  // A new client, as after a reload: the same id is answered with the stored message.
  const again = await open(server.base).send("kept once", { clientId: "outbox-1" });
  expect(again).toEqual(first);
  const { data } = await api(server.base).rooms({ room: "lobby" }).messages.get({ query: {} });
  expect(data!.messages.map((m) => m.message)).toEqual(["kept once"]);
}, 30_000);

test("a message's length is counted as the server counts it: 1,500 emoji go, 2,001 letters do not", async () => {
  const server = await startBinary({ env: { CHAT_RATE_LIMIT: "0" } });
  const client = open(server.base);
  const emoji = "😀".repeat(1500); // 3,000 UTF-16 units, 1,500 code points
  expect((await client.send(emoji)).message).toBe(emoji);
  const refused = await client.send("x".repeat(2001)).catch((error) => error);
  expect(refused).toBeInstanceOf(ChatError);
  expect(refused.code).toBe("too_long");
}, 30_000);
