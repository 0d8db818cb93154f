// A client that stops reading: once its outgoing buffer passes the limit it is closed (never a
// silent drop: what it did get has no gaps), the room goes on, and memory stays bounded.
import { expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { RawClient, rssMiB, until } from "./raw";

/** A sender that counts its acks without keeping frames (so its own memory stays flat). */
async function talker(url: string) {
  const ws = new WebSocket(url);
  let acks = 0;
  let wake = () => {};
  ws.onmessage = (e) => {
    if (String(e.data).includes('"clientId"')) acks++, wake();
  };
  await new Promise((resolve) => (ws.onopen = resolve));
  ws.send(JSON.stringify({ type: "join", name: "talker" }));
  return {
    ws,
    /** Sends n messages, then waits for their acks. */
    async burst(from: number, n: number, text: string) {
      for (let i = from; i < from + n; i++) ws.send(JSON.stringify({ type: "message", message: text, clientId: `m${i}` }));
      const target = from + n;
      const deadline = Date.now() + 10_000;
      while (acks < target) {
        if (Date.now() > deadline) throw new Error(`acks: ${acks} of ${target}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

test("a reader that stops reading is closed past the buffer limit; no gaps, room unharmed, memory bounded", async () => {
  const server = await startServer({ rateLimit: 0 }); // default maxBufferedBytes: 1 MiB
  const url = server.wsUrl("lobby");
  const connections = server.app.decorator.chat.connections;
  const sloth = await RawClient.connect(url);
  sloth.send({ type: "join", name: "sloth" });
  await sloth.waitText((f) => f.type === "joined" && f.name === "sloth");
  sloth.socket.pause(); // stop reading: the kernel buffers fill, then Bun's own
  // A bystander that reads everything and checks for gaps without keeping the frames.
  const bystander = await Client.joined(url, "bystander");
  let seen = 0;
  let gaps = 0;
  bystander.ws.addEventListener("message", (e) => {
    const frame = JSON.parse(String(e.data));
    if (frame.type !== "message") return;
    if (frame.id !== seen + 1) gaps++;
    seen = frame.id;
  });
  const sender = await talker(url);
  await bystander.next("joined", (f) => f.name === "talker");
  (bystander.frames as unknown[]).push = () => 0; // stop keeping frames from here on

  const text = "x".repeat(1900);
  Bun.gc(true);
  const before = rssMiB();
  // 8000 messages of ~2 KB: ~16 MB toward the sloth, far over kernel buffers + 1 MiB.
  let sent = 0;
  let closedAfter = -1;
  while (sent < 8000) {
    await sender.burst(sent, 200, text);
    sent += 200;
    if (closedAfter < 0 && connections.size === 2) closedAfter = sent;
  }
  Bun.gc(true);
  const after = rssMiB();
  console.log(`slow consumer: closed after ${closedAfter} messages (~${((closedAfter * 1950) / 2 ** 20).toFixed(1)} MiB); RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB over ${sent} messages (${((sent * 1950) / 2 ** 20).toFixed(0)} MiB sent)`);
  expect(closedAfter).toBeGreaterThan(0);
  expect(closedAfter).toBeLessThan(8000);
  expect(after - before).toBeLessThan(100);

  // The sloth, reading again, finds a gap-free prefix of the room and then the end of the socket.
  sloth.socket.resume();
  await sloth.waitEnd(5000);
  const ids = sloth.texts.map((t) => JSON.parse(t)).filter((f) => f.type === "message").map((f) => f.id);
  expect(ids.length).toBeGreaterThan(100);
  expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => ids[0] + i));
  expect(ids.length).toBeLessThan(closedAfter);

  // The bystander got all 8000, in order, and is still in the room; every message stored.
  await until(() => seen === 8000, 5000, "the bystander to catch up");
  expect(gaps).toBe(0);
  expect(bystander.closed).toBeUndefined();
  const page = (await (await fetch(`${server.base}/rooms/lobby/messages?limit=1`)).json()) as { messages: { id: number }[] };
  expect(page.messages[0]!.id).toBe(8000);
  expect(connections.size).toBe(2);
  // Counted in /metrics (Bun reports it like a lost connection: see metrics.ts).
  const metrics = await (await fetch(`${server.base}/metrics`)).text();
  expect(metrics).toContain('chat_sockets_closed_total{reason="slow_or_lost"} 1\n');
});
