// The Redis bus: several nodes (buses) on one real redis-server of the test's own.
import { expect, test } from "bun:test";
import { channelOf, openRedisBus, type RedisBusOptions } from "../../src/bus/redis";
import type { Publisher } from "../../src/bus/local";
import { startRedis } from "../redis";
import { defer } from "../setup";
import { runBusContract } from "./contract";

runBusContract({
  name: "redis",
  maxNodes: 3,
  async link() {
    const redis = await startRedis();
    return {
      open: (server, events) => openRedisBus({ url: redis.url, server, events, checkEvery: 50 }),
      outage: {
        killSubscribers: async () => void (await redis.command("CLIENT", ["KILL", "TYPE", "pubsub"])),
        stop: redis.stop,
        start: redis.start,
      },
    };
  },
});

test("redis: a message on a room's channel that is not a node's envelope is reported, never delivered", async () => {
  const redis = await startRedis();
  const delivered: string[] = [];
  const errors: unknown[] = [];
  let arrived = () => {};
  const server: Publisher = {
    publish: (_, data) => {
      delivered.push(data);
      arrived();
      return 1;
    },
  };
  const up = Promise.withResolvers<void>();
  const bus = openRedisBus({ url: redis.url, server: () => server, events: { error: (error) => errors.push(error), state: (now) => now && up.resolve() } });
  defer(() => bus.close());
  await up.promise; // else join resolves before there is a connection to subscribe on
  await bus.join("r");
  const otherUp = Promise.withResolvers<void>();
  const other = openRedisBus({ url: redis.url, server: () => null, events: { state: (now) => now && otherUp.resolve() } });
  defer(() => other.close());
  for (const garbage of ["plain text", '{"node":1}\n{}', "not json\n{}"]) await redis.command("PUBLISH", [channelOf("r"), garbage]);
  // From a real node after the garbage: once it is here, the garbage was read before it.
  const marker = new Promise<void>((resolve) => (arrived = resolve));
  await otherUp.promise;
  other.publish("r", "marker");
  await marker;
  expect(delivered).toEqual(["marker"]);
  expect(errors).toHaveLength(3);
});

test("redis: while Redis hangs, frames beyond the send buffer's cap are dropped and counted; the rest arrive once it reads again", async () => {
  const redis = await startRedis();
  const got: string[] = [];
  let arrived = () => {};
  const sink: Publisher = {
    publish: (_, data) => {
      got.push(data);
      arrived();
      return 1;
    },
  };
  const open = async (options: Partial<RedisBusOptions>) => {
    const up = Promise.withResolvers<void>();
    const bus = openRedisBus({ url: redis.url, server: () => null, ...options, events: { state: (now) => now && up.resolve() } });
    defer(() => bus.close());
    await up.promise;
    return bus;
  };
  const a = await open({ maxBuffered: 65_536 });
  const b = await open({ server: () => sink });
  await b.join("r");
  redis.pause();
  const frames = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ type: "message", text: `${i}`.padEnd(200, ".") }));
  for (const [i, frame] of frames.entries()) {
    a.publish("r", frame); // 4 MB in all: more than the kernel takes on top of the cap
    // Bun's client writes between turns of the event loop, as a server's messages come.
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
  }
  const { dropped } = a.status();
  expect(dropped).toBeGreaterThan(0);
  const sent = frames.length - dropped; // the buffer only grew while Redis slept: the first ones went
  redis.resume();
  const until = (done: () => boolean) => new Promise<void>((resolve) => (arrived = () => done() && resolve()));
  await until(() => got.length >= sent); // the buffer has drained
  a.publish("r", "marker");
  await until(() => got.at(-1) === "marker");
  expect(got).toEqual([...frames.slice(0, sent), "marker"]);
  expect(a.status().dropped).toBe(dropped);
});
