// The Redis bus: several nodes (buses) on one real redis-server of the test's own.
import { expect, test } from "bun:test";
import { channelOf, openRedisBus } from "../../src/bus/redis";
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
