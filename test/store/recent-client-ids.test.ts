// The embedded store's memory of recent clientIds (its idempotency): a window by message time
// and by count, per (room, name, clientId).
import { describe, expect, test } from "bun:test";
import { RecentClientIds } from "../../src/store/recent-client-ids";

describe("RecentClientIds", () => {
  const at = 100;
  test("a clientId is found only for the same room and name", () => {
    const ids = new RecentClientIds({ windowMs: 1000, max: 10 });
    ids.add("lobby", "ada", "k", 1, 100);
    ids.add("lobby", "bob", "k", 2, 100); // the same clientId from someone else
    ids.add("other", "ada", "k", 3, 100); // and in another room
    expect(ids.get("lobby", "ada", "k", at)).toBe(1);
    expect(ids.get("lobby", "bob", "k", at)).toBe(2);
    expect(ids.get("other", "ada", "k", at)).toBe(3);
    expect(ids.get("lobby", "ada", "j", at)).toBeUndefined();
    expect(ids.get("lobb", "yada", "k", at)).toBeUndefined(); // "lobb"+"yada" is not "lobby"+"ada"
  });

  test("a retry is matched only within the window of its original", () => {
    const ids = new RecentClientIds({ windowMs: 1000, max: 10 });
    ids.add("r", "ada", "k", 1, 5_000);
    expect(ids.get("r", "ada", "k", 5_000)).toBe(1);
    expect(ids.get("r", "ada", "k", 6_000)).toBe(1); // exactly the window later
    expect(ids.get("r", "ada", "k", 6_001)).toBeUndefined();
  });

  test("forgets what falls out of the window of the newest message", () => {
    const ids = new RecentClientIds({ windowMs: 1000, max: 10 });
    ids.add("r", "ada", "old", 1, 5_000);
    ids.add("r", "ada", "edge", 2, 6_000);
    ids.add("r", "ada", "new", 3, 6_001);
    expect(ids.size).toBe(2);
    expect(ids.get("r", "ada", "edge", 6_001)).toBe(2);
  });

  test("keeps at most `max`, forgetting the oldest first, including those under a shared clientId", () => {
    const ids = new RecentClientIds({ windowMs: 60_000, max: 3 });
    const at = 1;
    ids.add("r", "ada", "a", 1, 1);
    ids.add("r", "bob", "a", 2, 1);
    ids.add("r", "ada", "b", 3, 1);
    ids.add("r", "ada", "c", 4, 1);
    expect(ids.get("r", "ada", "a", at)).toBeUndefined();
    expect([ids.get("r", "bob", "a", at), ids.get("r", "ada", "b", at), ids.get("r", "ada", "c", at)]).toEqual([2, 3, 4]);
    ids.add("r", "ada", "d", 5, 1);
    expect(ids.get("r", "bob", "a", at)).toBeUndefined();
    expect(ids.size).toBe(3);
  });

  test("a clientId added again (its message was deleted, the retry stored anew) outlives its first entry", () => {
    const ids = new RecentClientIds({ windowMs: 60_000, max: 2 });
    const at = 3;
    ids.add("r", "ada", "k", 1, 1);
    ids.add("r", "ada", "k", 7, 2);
    ids.add("r", "ada", "x", 8, 3); // pushes the first "k" entry out of the count
    expect(ids.get("r", "ada", "k", at)).toBe(7);
  });
});
