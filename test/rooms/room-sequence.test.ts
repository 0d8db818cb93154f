// The room's order across nodes (src/rooms/room-sequence.ts), without I/O: a store that is a
// list the test writes to, reads the test may hold back, and timers the test runs.
import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/protocol/frames";
import type { Timers } from "../../src/rooms/presence";
import { RoomSequence, type Sequenced } from "../../src/rooms/room-sequence";

function setup() {
  const stored: Message[] = [];
  const log: string[] = []; // what members got, in order: "id" or "id ack" for a local one's ack
  const reads: { after: number; release(): void }[] = [];
  let holdReads = false;
  let filled = 0;
  const timers: { fn: () => void; id: number }[] = [];
  let nextTimer = 0;
  const fakeTimers: Timers = {
    setTimeout: (fn) => {
      timers.push({ fn, id: ++nextTimer });
      return nextTimer;
    },
    clearTimeout: (id) => {
      const at = timers.findIndex((t) => t.id === id);
      if (at >= 0) timers.splice(at, 1);
    },
  };
  const sequence = new RoomSequence({
    read(after, limit) {
      const page = () => stored.filter((m) => m.id > after).slice(0, limit);
      if (!holdReads) return Promise.resolve(page());
      return new Promise((resolve) => reads.push({ after, release: () => resolve(page()) }));
    },
    deliverStored: (m) => void log.push(`${m.id}`),
    filled: (n) => void (filled += n),
    timers: fakeTimers,
  });
  let last = 0;
  /** Stores a message in the room (as any node would), returning its place. */
  const store = (id: number) => {
    const prev = last;
    last = id;
    stored.push({ id, room: "r", name: "n", message: `m${id}`, timestamp: id });
    return { id, prev };
  };
  const heard = ({ id, prev }: { id: number; prev: number }): Sequenced => ({ id, prev, deliver: () => void log.push(`${id}`) });
  const local = ({ id, prev }: { id: number; prev: number }): Sequenced => ({
    id,
    prev,
    deliver: () => void log.push(`${id}`, `${id} ack`),
    duplicate: () => void log.push(`${id} ack`),
  });
  const settled = () => new Promise((resolve) => setTimeout(resolve, 0));
  return {
    sequence,
    store,
    heard,
    local,
    log,
    reads,
    timers,
    settled,
    hold: (on: boolean) => void (holdReads = on),
    get filled() {
      return filled;
    },
  };
}

describe("RoomSequence", () => {
  test("in order: each message delivered at once, without reading the store", async () => {
    const s = setup();
    s.sequence.start(0);
    const a = s.store(1);
    const b = s.store(4);
    s.hold(true); // a read would hang the test's expectations below
    s.sequence.offer(s.heard(a));
    s.sequence.offer(s.local(b));
    expect(s.log).toEqual(["1", "4", "4 ack"]);
    expect(s.reads.length).toBe(0);
    expect(s.sequence.last).toBe(4);
  });

  test("a duplicate (heard twice, or older than the history) is dropped; a local one still gets its ack", () => {
    const s = setup();
    const a = s.store(1);
    const b = s.store(2);
    s.sequence.start(1); // the history held 1
    s.sequence.offer(s.heard(a));
    s.sequence.offer(s.heard(b));
    s.sequence.offer(s.heard(b));
    s.sequence.offer(s.local(a));
    expect(s.log).toEqual(["2", "1 ack"]);
  });

  test("a gap: the newer message waits while the store fills the gap, then comes, in id order", async () => {
    const s = setup();
    s.sequence.start(0);
    const a = s.store(1);
    s.store(2); // never heard: its frame was lost
    s.store(3);
    const d = s.store(5);
    s.sequence.offer(s.heard(a));
    s.sequence.offer(s.heard(d));
    expect(s.log).toEqual(["1"]);
    expect(s.sequence.waiting).toBe(1);
    await s.settled();
    expect(s.log).toEqual(["1", "2", "3", "5"]);
    expect(s.filled).toBe(2);
    expect(s.sequence.waiting).toBe(0);
  });

  test("during a repair, what arrives is held: nothing is delivered twice or out of order", async () => {
    const s = setup();
    s.sequence.start(0);
    s.hold(true);
    s.store(1);
    const b = s.store(2);
    s.sequence.offer(s.heard(b)); // gap: 1 missing
    expect(s.reads.length).toBe(1);
    const c = s.store(3);
    const d = s.store(4);
    s.sequence.offer(s.local(d)); // arrives before 3, during the read
    s.sequence.offer(s.heard(c));
    expect(s.log).toEqual([]);
    s.reads[0]!.release(); // the read saw 1..4: 2, 3 and 4 are delivered by their offers (4 with its ack)
    await s.settled();
    expect(s.log).toEqual(["1", "2", "3", "4", "4 ack"]);
    expect(s.filled).toBe(1);
  });

  test("a local message committed after another node's, not heard yet, waits for the repair, then acks", async () => {
    const s = setup();
    s.sequence.start(0);
    s.store(1); // another node's
    const mine = s.store(2);
    s.sequence.offer(s.local(mine));
    expect(s.log).toEqual([]); // nobody here got 2 before 1, not even its sender
    await s.settled();
    expect(s.log).toEqual(["1", "2", "2 ack"]);
  });

  test("a gap the store cannot fill yet (the row not visible) is retried on a timer, not in a loop", async () => {
    const s = setup();
    s.sequence.start(0);
    const c = { id: 3, prev: 2 }; // 1 and 2 committed elsewhere, not readable yet
    s.sequence.offer(s.heard(c));
    await s.settled();
    expect(s.log).toEqual([]);
    expect(s.timers.length).toBe(1);
    s.store(1);
    s.store(2);
    s.timers.shift()!.fn();
    await s.settled();
    expect(s.log).toEqual(["1", "2", "3"]);
    expect(s.timers.length).toBe(0);
  });

  test("repair() after the link came back reads what was missed; messages before start() wait for it", async () => {
    const s = setup();
    const a = s.store(1);
    s.sequence.offer(s.heard(a)); // before the history: held
    expect(s.log).toEqual([]);
    s.sequence.start(0);
    expect(s.log).toEqual(["1"]);
    s.store(2);
    s.store(3);
    s.sequence.repair();
    await s.settled();
    expect(s.log).toEqual(["1", "2", "3"]);
    s.sequence.repair(); // nothing new: nothing delivered twice
    await s.settled();
    expect(s.log).toEqual(["1", "2", "3"]);
  });

  test("a stopped sequence (the room was freed) delivers nothing more", async () => {
    const s = setup();
    s.sequence.start(0);
    s.hold(true);
    s.store(1);
    s.sequence.offer(s.heard(s.store(2)));
    s.sequence.stop();
    s.reads[0]!.release();
    await s.settled();
    expect(s.log).toEqual([]);
  });
});
