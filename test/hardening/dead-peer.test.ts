// The heartbeat: a peer that stops answering pings is terminated even while the room is busy
// (Bun's idleTimeout is not enough there), and the room hears its `left`.
import { expect, test } from "bun:test";
import { Client, startServer } from "../helpers";
import { RawClient } from "./raw";

test("a joined peer that ignores pings is closed by the heartbeat in a busy room; its left reaches the room", async () => {
  const heartbeatMs = 150;
  const server = await startServer({ heartbeatMs, rateLimit: 0 });
  const url = server.wsUrl("lobby");
  const talker = await Client.joined(url, "talker");
  const dead = await RawClient.connect(url, { pong: false });
  dead.send({ type: "join", name: "ghost" });
  await dead.waitText((f) => f.type === "joined" && f.name === "ghost");
  // A raw peer that answers pings but never sends a frame is alive: the pong is what counts.
  const quiet = await RawClient.connect(url, { pong: true });
  quiet.send({ type: "join", name: "quiet" });
  await quiet.waitText((f) => f.type === "joined" && f.name === "quiet");
  const since = Date.now();

  // Keep the room busy: the dead peer is being sent to the whole time.
  let n = 0;
  const busy = setInterval(() => talker.send({ type: "message", message: `tick ${n}`, clientId: `t${n++}` }), 10);
  try {
    const left = await talker.next("left", (f) => f.name === "ghost", 3000);
    const after = Date.now() - since;
    expect(left.online).toEqual(["talker", "quiet"]);
    // Two heartbeat rounds: one ping, then terminated when the next finds no pong.
    expect(after).toBeLessThan(heartbeatMs * 2 + 1000);
    await dead.waitEnd(2000);
    expect(dead.pings).toBeGreaterThanOrEqual(1);
    expect(dead.texts.filter((t) => t.includes("tick")).length).toBeGreaterThan(0);
    // Several more rounds: the quiet one, answering pings, stays.
    const pings = quiet.pings;
    await quiet.waitText(() => quiet.pings >= pings + 3, 3000);
    expect(quiet.ended).toBe(false);
    expect(talker.closed).toBeUndefined();
  } finally {
    clearInterval(busy);
  }
  expect(talker.frames.filter((f) => f.type === "left").map((f) => f.name)).toEqual(["ghost"]);
  expect(server.app.decorator.chat.connections.size).toBe(2);
});
