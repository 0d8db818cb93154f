// The Redis bus: several nodes (buses) on one real redis-server of the test's own.
import { openRedisBus } from "../../src/bus/redis";
import { startRedis } from "../redis";
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
