// A malformed-frame flood in its own process (so that its sending does not slow the test's own
// event loop, where the bystanders' latencies are measured): `sockets` WebSockets from one
// address send ~64 KB frames that are not frames of the contract, as fast as they can, and come
// back on a new socket whenever the server closes one. Prints one JSON line of what it saw.
// Usage: bun flood-attacker.ts <ws url> <seconds> <sockets> <X-Forwarded-For address> <frame bytes>
export {};

const [url, seconds, sockets, address, bytes] = process.argv.slice(2) as [string, string, string, string, string];
const size = Number(bytes);
const pad = (head: string, filler: string, tail = "") => head + filler.repeat(Math.floor((size - head.length - tail.length) / filler.length)) + tail;

/** The shapes issue 11 measured, and others that cost JSON.parse or zod the most, each ~`size` bytes. */
const FRAMES = [
  pad("", "["),
  pad('{"type":"message","message":', "["),
  pad("{", '"k0000":1,', '"k":1}').replace(/k0000/g, () => `k${Math.random().toString(36).slice(2, 6)}`),
  pad('{"type":"message","message":"', '\\"', '"}'), // valid shape, too long: parsed, then too_long
  pad('{"type":"message","message":', "1", "}"),
  pad("", "not json "),
];

const stopAt = Date.now() + Number(seconds) * 1000;
const stats = { sockets: 0, sent: 0, closes: {} as Record<string, number>, failedUpgrades: 0 };

async function attacker(index: number) {
  while (Date.now() < stopAt) {
    const ws = new WebSocket(url, { headers: { "X-Forwarded-For": address } } as any);
    const opened = await new Promise<boolean>((resolve) => {
      ws.onopen = () => resolve(true);
      ws.onerror = () => resolve(false);
    });
    if (!opened) {
      stats.failedUpgrades++;
      await Bun.sleep(10);
      continue;
    }
    stats.sockets++;
    const closed = new Promise<number>((resolve) => (ws.onclose = (e) => resolve(e.code)));
    if (index % 2 === 0) ws.send(JSON.stringify({ type: "join", name: `attacker${index}` }));
    // As fast as the connection takes them; waiting (not spinning) while the send buffer is full,
    // since this process shares the machine's cores with the server it attacks.
    for (let i = index; ws.readyState === WebSocket.OPEN && Date.now() < stopAt; ) {
      while (ws.bufferedAmount < 256 * 1024 && ws.readyState === WebSocket.OPEN) {
        ws.send(FRAMES[i++ % FRAMES.length]!);
        stats.sent++;
      }
      await Bun.sleep(1);
    }
    ws.close();
    const code = await closed;
    stats.closes[code] = (stats.closes[code] ?? 0) + 1;
  }
}

await Promise.all(Array.from({ length: Number(sockets) }, (_, i) => attacker(i)));
console.log(JSON.stringify(stats));
