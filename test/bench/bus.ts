// Frames/s through the Redis bus alone: one node publishes into a room that the other nodes
// hold, each receiver counts. Not a test; run by hand against a running redis-server:
//   redis-server --port 6399 --save "" --appendonly no &
//   bun test/bench/bus.ts --url redis://127.0.0.1:6399 [--frames 100000 --nodes 2 --bytes 200]
import { openRedisBus } from "../../src/bus/redis";
import type { RoomBus } from "../../src/rooms/ports";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback;
};
const url = arg("url", "redis://127.0.0.1:6379");
const frames = Number(arg("frames", "100000"));
const nodes = Number(arg("nodes", "2"));
const frame = JSON.stringify({ type: "message", text: "x".repeat(Math.max(0, Number(arg("bytes", "200")) - 30)) });

const up = async (bus: RoomBus) => {
  while (!bus.status().up) await Bun.sleep(5); // a bench, not a test: polling start-up is fine
};
const sender = openRedisBus({ url, server: () => null });
const receivers = Array.from({ length: nodes - 1 }, () => openRedisBus({ url, server: () => null }));
for (const bus of [sender, ...receivers]) await up(bus);
const done = receivers.map(
  (bus) =>
    new Promise<void>((resolve) => {
      let got = 0;
      bus.onRemote(() => ++got === frames && resolve());
    }),
);
for (const bus of receivers) await bus.join("bench");
const started = performance.now();
for (let i = 0; i < frames; i++) {
  sender.publish("bench", frame);
  if (i % 1000 === 999) await Bun.sleep(0); // let replies in, as a server's event loop would
}
await Promise.all(done);
const seconds = (performance.now() - started) / 1000;
const status = sender.status();
console.log(
  JSON.stringify({ frames, nodes, bytes: frame.length, seconds: +seconds.toFixed(2), sentPerSecond: Math.round(frames / seconds), deliveriesPerSecond: Math.round((frames * (nodes - 1)) / seconds), dropped: status.dropped }),
);
for (const bus of [sender, ...receivers]) await bus.close();
