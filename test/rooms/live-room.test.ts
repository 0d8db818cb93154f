// The pure state of a live room: its cache of recent messages, what `since` it can answer from
// memory, its clock, and who is online.
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/protocol/frames";
import { LiveRoom } from "../../src/rooms/live-room";

const msg = (id: number, timestamp = 1000 + id): Message => ({ id, room: "r", name: "n", message: `m${id}`, timestamp });
const ids = (messages: Message[] | undefined) => messages?.map((m) => m.id);

describe("LiveRoom cache", () => {
  test("keeps the last `keep` messages, ascending by id", () => {
    const room = new LiveRoom("r", 3);
    room.seed([]);
    for (const id of [1, 2, 5, 9, 12]) room.remember(msg(id));
    expect(ids(room.recent)).toEqual([5, 9, 12]);
    expect(ids(room.latest(2))).toEqual([9, 12]);
    expect(ids(room.latest(3))).toEqual([5, 9, 12]);
  });

  test("latest(0) is empty", () => {
    const room = new LiveRoom("r", 3);
    room.seed([msg(1), msg(2)]);
    expect(room.latest(0)).toEqual([]);
  });

  test("a seed arriving after newer messages were remembered merges without duplicates", () => {
    const room = new LiveRoom("r", 5);
    room.remember(msg(7));
    room.remember(msg(8));
    room.seed([msg(3), msg(5), msg(7)]);
    expect(ids(room.recent)).toEqual([3, 5, 7, 8]);
  });
});

describe("LiveRoom.after (since)", () => {
  test("a room with fewer messages than the cache answers every since from memory", () => {
    const room = new LiveRoom("r", 10);
    room.seed([msg(4), msg(6), msg(9)]);
    expect(ids(room.after(0, 10))).toEqual([4, 6, 9]);
    expect(ids(room.after(5, 10))).toEqual([6, 9]);
    expect(ids(room.after(9, 10))).toEqual([]);
    expect(ids(room.after(100, 10))).toEqual([]);
    expect(ids(room.after(0, 2))).toEqual([4, 6]);
  });

  test("a full cache answers only a since at or after the message before its first one", () => {
    const room = new LiveRoom("r", 3);
    room.seed([msg(10), msg(11), msg(12)]); // as many as kept: older ones may exist
    expect(room.after(5, 10)).toBeUndefined();
    expect(room.after(8, 10)).toBeUndefined();
    expect(ids(room.after(9, 10))).toEqual([10, 11, 12]);
    expect(ids(room.after(10, 10))).toEqual([11, 12]);
    expect(ids(room.after(12, 10))).toEqual([]);
  });

  test("a cache that was complete stops being so once it drops a message", () => {
    const room = new LiveRoom("r", 2);
    room.seed([msg(1)]);
    expect(ids(room.after(0, 10))).toEqual([1]);
    room.remember(msg(2));
    room.remember(msg(3)); // drops 1
    expect(room.after(0, 10)).toBeUndefined();
    expect(ids(room.after(1, 10))).toEqual([2, 3]);
  });
});

describe("LiveRoom clock", () => {
  test("never goes backwards, even when the system clock does", () => {
    const room = new LiveRoom("r", 10);
    expect(room.stamp(5000)).toBe(5000);
    expect(room.stamp(4000)).toBe(5000);
    expect(room.stamp(6000)).toBe(6000);
  });

  test("starts from the newest message it was seeded with", () => {
    const room = new LiveRoom("r", 10);
    room.seed([msg(1, 9000), msg(2, 9500)]);
    expect(room.stamp(1000)).toBe(9500);
  });

  test("forget drops messages older than the cutoff and keeps the clock", () => {
    const room = new LiveRoom("r", 10);
    room.seed([msg(1, 100), msg(2, 200), msg(3, 300)]);
    room.forget(200);
    expect(ids(room.recent)).toEqual([2, 3]);
    expect(room.stamp(0)).toBe(300);
  });
});

describe("LiveRoom presence", () => {
  test("a name is online until its last socket leaves; each name listed once, in order of arrival", () => {
    const room = new LiveRoom("r", 10);
    room.add("ada");
    room.add("bob");
    room.add("ada");
    expect(room.online()).toEqual(["ada", "bob"]);
    expect(room.onlineCount).toBe(2);
    room.remove("ada");
    expect(room.online()).toEqual(["ada", "bob"]);
    room.remove("ada");
    expect(room.online()).toEqual(["bob"]);
    room.remove("bob");
    expect(room.online()).toEqual([]);
  });
});
