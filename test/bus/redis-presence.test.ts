// The Redis directory: several nodes on one real redis-server of the test's own.
import { openRedisPresence } from "../../src/bus/redis-presence";
import { startRedis } from "../redis";
import { runPresenceContract } from "./presence-contract";

runPresenceContract({
  name: "redis",
  maxNodes: 3,
  async link() {
    const redis = await startRedis();
    return { open: (node) => openRedisPresence({ url: redis.url, node, ttl: 1_500, checkEvery: 250 }) };
  },
});
