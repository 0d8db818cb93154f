// A node that only holds presence, in a process of its own, so that a test can kill it with
// SIGKILL: it then says nothing to anyone, as a crashed server would not.
// Usage: bun presence-node.ts <redis url> <node id> <ttl ms> <room>...
// In each room it holds "<node id>-<room>" once and "shared" twice; prints "ready" once written.
import { openRedisPresence } from "../../src/bus/redis-presence";

const [url, node, ttl, ...rooms] = process.argv.slice(2);
const directory = openRedisPresence({ url: url!, node: node!, ttl: Number(ttl), checkEvery: 60_000 });
for (const room of rooms) await directory.publish(room, new Map([[`${node}-${room}`, 1], ["shared", 2]]));
console.log("ready");
setInterval(() => {}, 1 << 30); // alive until killed
