// Frame size limit and name rules.
import { expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { RawClient } from "./raw";

test("a frame over maxFrameBytes is closed 1009 before parsing; the room goes on", async () => {
  const server = await startServer({ maxFrameBytes: 4096 });
  const url = server.wsUrl("lobby");
  const bystander = await Client.joined(url, "ada");
  const big = await Client.joined(url, "mallory");
  // Just under the limit: a frame like any other (refused as too_long by the schema, not closed).
  const under = JSON.stringify({ type: "message", message: "x".repeat(4000) });
  expect(under.length).toBeLessThanOrEqual(4096);
  big.send(under);
  expect((await big.next("error")).code).toBe("too_long");
  // Over it: the socket is closed 1009.
  big.send({ type: "message", message: "y".repeat(5000) });
  expect((await big.waitClose()).code).toBe(1009);
  expect((await bystander.next("left")).name).toBe("mallory");
  // A frame that claims 1 GiB in its header (raw client): closed without reading it.
  const raw = await RawClient.connect(url);
  const head = Buffer.alloc(14);
  head[0] = 0x81;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(1n << 30n, 2);
  raw.socket.write(head);
  await raw.waitEnd();
  expect(raw.closeCode).toBe(1009);
  // The room still works for everyone else.
  bystander.send({ type: "message", message: "still here", clientId: "a1" });
  const ack = await bystander.next("message", (f) => f.clientId === "a1");
  expect(ack.message).toBe("still here");
  const late = await Client.joined(url, "bob");
  expect(late.history.map((m) => m.message)).toEqual(["still here"]);
  expect(server.app.decorator.chat.connections.size).toBe(2);
});

test("names: trimmed, NFC-normalized; control, zero-width and bidi characters refused", async () => {
  const server = await startServer();
  const url = server.wsUrl("lobby");
  const watcher = await Client.joined(url, "watcher");
  const refused = [
    "", "   ", "a".repeat(33), "ad\u0000a", "ad\na", "ad\u007fa", "ad\u0085a",
    "ad\u200ba", "ad\u200da", "\u200e", "ad\u202ea", "ad\u202da", "ad\u2066a", "ad\u2069a", "ad\u2060a", "a\ufeffda",
  ];
  for (const name of refused) {
    const client = await Client.open(url);
    client.send({ type: "join", name });
    const error = await client.next("error");
    expect(error.code).toBe("bad_frame");
    // Refused means not joined: a message is still not_joined.
    client.send({ type: "message", message: "hi" });
    expect((await client.next("error")).code).toBe("not_joined");
    client.close();
  }
  // NFC: "e" + combining acute becomes the single code point; surrounding spaces go.
  const decomposed = "  Zoe\u0301  ";
  const zoe = await Client.open(url);
  zoe.send({ type: "join", name: decomposed });
  const joined = await zoe.next("joined");
  expect(joined.name).toBe("Zo\u00e9");
  expect(joined.name.length).toBe(3);
  zoe.send({ type: "message", message: "bonjour", clientId: "z1" });
  expect((await zoe.next("message", (f) => f.clientId === "z1")).name).toBe("Zo\u00e9");
  // The watcher saw only the valid join: no refused name ever reached the room.
  const seen = watcher.frames.filter((f) => f.type === "joined").map((f) => f.name);
  expect(seen).toEqual(["watcher", "Zo\u00e9"]);
  expect(watcher.frames.filter((f) => f.type === "left").map((f) => f.name)).toEqual([]);
  // Leading/trailing whitespace is trimmed, and JavaScript counts U+FEFF as whitespace.
  const bom = await Client.open(url);
  bom.send({ type: "join", name: "\ufeffbom\u00a0" });
  expect((await bom.next("joined")).name).toBe("bom");
  // 32 characters after NFC is fine even if longer before it.
  const long = await Client.open(url);
  long.send({ type: "join", name: "e\u0301".repeat(32) });
  expect((await long.next("joined")).name).toBe("\u00e9".repeat(32));
});
