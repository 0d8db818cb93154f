// The join's reads of room settings and bans, cached: a moderation change is seen within the TTL,
// and not before (so a flood of joins costs one read per room and user per TTL).
import { expect, test } from "bun:test";
import { ACCESS_TTL_MS, AccessCache } from "../../src/rooms/access-cache";
import { openMemoryStore } from "../../src/store/memory";

test("a ban and a room turning private are seen once the TTL has passed, not before", async () => {
  const store = openMemoryStore();
  let now = 1_000_000;
  const cache = new AccessCache(store, () => now);
  expect(await cache.isBanned("lobby", "u1")).toBe(false);
  expect(await cache.isPrivate("lobby")).toBe(false);
  await store.ban("lobby", "u1", {}, now);
  await store.setRoomSettings("lobby", { private: true });
  now += ACCESS_TTL_MS - 1;
  expect(await cache.isBanned("lobby", "u1")).toBe(false);
  expect(await cache.isPrivate("lobby")).toBe(false);
  now += 1;
  expect(await cache.isBanned("lobby", "u1")).toBe(true);
  expect(await cache.isPrivate("lobby")).toBe(true);
  // Keys are the room and the user together: the same user elsewhere, another user here.
  expect(await cache.isBanned("other", "u1")).toBe(false);
  expect(await cache.isBanned("lobby", "u2")).toBe(false);
});

test("a ban that ends is over for the cache within the TTL too", async () => {
  const store = openMemoryStore();
  let now = 1_000_000;
  const cache = new AccessCache(store, () => now);
  await store.ban("lobby", "u1", { until: now + 100 }, now);
  expect(await cache.isBanned("lobby", "u1")).toBe(true);
  now += ACCESS_TTL_MS;
  expect(await cache.isBanned("lobby", "u1")).toBe(false);
});
