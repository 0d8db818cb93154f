// A seeded random fuzz of malformed frames from many sockets: the server stays up, its memory
// stays bounded, and a bystander loses nothing that was stored.
import { expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { generator, prng, SEED } from "./fuzz-frames";
import { RawClient, rssMiB, until } from "./raw";

/** Every stored message of a room, oldest first, paging back with `before`. */
async function allMessages(base: string, room: string) {
  const all: any[] = [];
  let before = "";
  for (;;) {
    const { messages } = (await (await fetch(`${base}/rooms/${room}/messages?limit=200${before}`)).json()) as { messages: any[] };
    all.unshift(...messages);
    if (messages.length < 200) return all;
    before = `&before=${messages[0].id}`;
  }
}

test(`fuzz: thousands of malformed frames from many sockets (seed ${SEED})`, async () => {
  const server = await startServer({ rateLimit: 0, maxConnectionsPerIp: 0 });
  const rooms = ["lobby", "other"];
  const bystander = await Client.joined(server.wsUrl("lobby"), "bystander");
  const next = generator(prng(SEED));

  Bun.gc(true);
  const before = rssMiB();
  const started = performance.now();
  const closes = new Map<number, number>();
  let frames = 0;
  let answered = 0;
  const SOCKETS = 40;
  const FRAMES = 150; // per socket: 6000 frames in all
  let joins = 0;
  await Promise.all(
    Array.from({ length: SOCKETS }, async (_, s) => {
      // Refused frames are strikes: a socket that keeps sending them is closed 1008, and the
      // fuzzer comes back on a new one, as an attacker would.
      for (let i = 0; i < FRAMES; ) {
        const ws = new WebSocket(server.wsUrl(rooms[s % 2]!));
        await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
        ws.onmessage = () => void answered++;
        const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
        if (s % 2 === 0) {
          ws.send(JSON.stringify({ type: "join", name: `fz${s}` }));
          joins++;
        }
        for (; i < FRAMES && ws.readyState === WebSocket.OPEN; i++) {
          ws.send(next());
          frames++;
          if (i % 25 === 0) await Bun.sleep(0); // let the server read as we go
        }
        ws.close();
        const code = await closed;
        closes.set(code, (closes.get(code) ?? 0) + 1);
      }
    }),
  );
  // A few raw sockets break the WebSocket protocol itself: bad UTF-8, reserved opcodes, unmasked.
  for (const bytes of [[0x81, 0x82], [0x83, 0x80], [0x81, 0x02, 0x68, 0x69], [0x8f, 0x80], [0x01, 0x80], [0x89, 0xfe]]) {
    const raw = await RawClient.connect(server.wsUrl("lobby"));
    raw.socket.write(new Uint8Array([...bytes.slice(0, 2), ...(bytes[1]! & 0x80 ? [1, 2, 3, 4] : []), ...bytes.slice(2)]));
    raw.writeFrame(0x1, Buffer.from([0xc3, 0x28])); // invalid UTF-8 in a text frame
    await raw.waitEnd(5000);
  }
  const elapsed = performance.now() - started;

  // The server is up and still does its job for everyone else.
  expect((await fetch(`${server.base}/health`)).status).toBe(200);
  bystander.send({ type: "message", message: "after the storm", clientId: "b1" });
  await bystander.next("message", (f) => f.clientId === "b1");
  expect(bystander.closed).toBeUndefined();
  expect(({} as any).polluted).toBeUndefined();

  // The bystander got every message stored in its room, in order, each once.
  const stored = await allMessages(server.base, "lobby");
  const seen = bystander.frames.filter((f) => f.type === "message").map(({ type, clientId, ...m }) => m);
  expect(seen.length).toBe(stored.length);
  expect(seen).toEqual(stored);
  // Only valid frames from joined sockets were stored.
  const odd = stored.filter((m) => !(/^(fz\d+|fuzzer\d+|a|bystander)$/.test(m.name) && m.message.length >= 1 && m.message.length <= 2000));
  expect(odd).toEqual([]);
  expect(stored.filter((m) => /^fuzz \d+$/.test(m.message)).length).toBeGreaterThan(10);

  // Every socket is gone, and the room state with them.
  await until(() => server.app.decorator.chat.connections.size === 1, 5000, "the fuzz sockets to be gone");
  expect(server.app.decorator.chat.hub.liveRooms).toBe(1);
  Bun.gc(true);
  const after = rssMiB();
  console.log(
    `fuzz seed ${SEED}: ${frames} frames from ${SOCKETS} sockets in ${elapsed.toFixed(0)} ms, ${answered} answers, ${stored.length - 1} stored in lobby, closes ${JSON.stringify(Object.fromEntries(closes))}; RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB`,
  );
  expect(frames).toBeGreaterThanOrEqual(SOCKETS * FRAMES * 0.9);
  const metrics = await (await fetch(`${server.base}/metrics`)).text();
  const metric = (key: string) => Number(new RegExp(`^${key.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(metrics)?.[1]);
  // Every frame but those that were still in flight when their socket was closed for abuse
  // (+ the joins, the bystander's join and message).
  expect(metric("chat_frames_in_total")).toBeLessThanOrEqual(frames + joins + 2);
  expect(metric("chat_frames_in_total")).toBeGreaterThan(frames / 2);
  expect(metric('chat_sockets_closed_total{reason="flooding"}')).toBe(closes.get(1008) ?? 0);
  expect(closes.get(1008)).toBeGreaterThan(0);
  expect(metric('chat_sockets_closed_total{reason="protocol_error"}')).toBe(6);
  expect(after - before).toBeLessThan(150);
}, 30_000);
