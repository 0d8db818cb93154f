// A room's presence with an injected clock and timer: announced at once while the room is quiet,
// held and sent together when it is busy, a socket that came and went within the hold never
// announced, a held joiner told only what followed its own history, and, checked over random
// runs, every member's client roster (src/client/roster.ts) exact from what it was sent.
import { describe, expect, test } from "bun:test";
import { Roster } from "../../src/client/roster";
import { LIMITS } from "../../src/protocol/limits";
import { LiveRoom } from "../../src/rooms/live-room";
import type { Fanout, Peer } from "../../src/rooms/ports";
import { Presence, PRESENCE_DEFAULTS, type PresenceOptions, type Timers } from "../../src/rooms/presence";

/** A clock and timers that move only when the test says so. */
function manualClock() {
  let time = 1_000;
  let timers: { at: number; fn: () => void; id: number }[] = [];
  let ids = 0;
  const api: Timers = {
    setTimeout(fn, ms) {
      const id = ++ids;
      timers.push({ at: time + ms, fn, id });
      return id;
    },
    clearTimeout(id) {
      timers = timers.filter((t) => t.id !== id);
    },
  };
  return {
    now: () => time,
    timers: api,
    get pending() {
      return timers.length;
    },
    advance(ms: number) {
      const until = time + ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= until).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers = timers.filter((t) => t !== due);
        time = due.at;
        due.fn();
      }
      time = until;
    },
  };
}

/** A member's socket: what it was sent, and whether it is subscribed to the room's topic. */
class Member implements Peer {
  frames: any[] = [];
  subscribed = false;
  readyState = 1;
  constructor(readonly name: string) {}
  send(data: string) {
    this.frames.push(JSON.parse(data));
    return data.length;
  }
  publish() {
    return 0;
  }
  subscribe() {
    this.subscribed = true;
  }
  cork(fn: () => void) {
    fn();
  }
  presence(kind?: string) {
    return this.frames.filter((f) => f.type !== "history" && (kind === undefined || f.type === kind));
  }
}

/** The room's topic, as Bun's publish delivers it: to every subscribed member. */
function setup(options: Partial<PresenceOptions> = {}) {
  const clock = manualClock();
  const room = new LiveRoom("r", 10);
  const members = new Set<Member>();
  const fanout: Fanout = {
    publish: (_room, data) => {
      for (const m of members) if (m.subscribed && m.readyState === 1) m.send(data);
    },
  };
  const presence = new Presence(room, fanout, clock.now, clock.timers, { ...PRESENCE_DEFAULTS, ...options });
  // What the hub does: count the member, send its history, hand it to presence.
  const join = (name: string) => {
    const m = new Member(name);
    members.add(m);
    room.add(name);
    m.send(JSON.stringify({ type: "history", messages: [], online: room.online() }));
    presence.join(m, m, name, clock.now());
    return m;
  };
  const leave = (m: Member) => {
    m.readyState = 3;
    members.delete(m);
    room.remove(m.name);
    presence.leave(m, m.name, clock.now());
  };
  return { clock, room, presence, join, leave };
}

const names = (frames: any[]) => frames.map((f) => `${f.type} ${f.name}`);

describe("presence", () => {
  test("a quiet room announces each change at once; the joiner gets its own joined at once, and no copy", () => {
    const { join, leave, clock } = setup();
    const ada = join("ada");
    expect(ada.frames).toEqual([
      { type: "history", messages: [], online: ["ada"] },
      { type: "joined", name: "ada", timestamp: 1000, count: 1, online: ["ada"] },
    ]);
    expect(ada.subscribed).toBe(true);
    const bob = join("bob");
    expect(ada.presence()).toEqual([
      { type: "joined", name: "ada", timestamp: 1000, count: 1, online: ["ada"] },
      { type: "joined", name: "bob", timestamp: 1000, count: 2, online: ["ada", "bob"] },
    ]);
    expect(names(bob.presence())).toEqual(["joined bob"]);
    leave(bob);
    expect(ada.presence().at(-1)).toEqual({ type: "left", name: "bob", timestamp: 1000, count: 1, online: ["ada"] });
    expect(clock.pending).toBe(0);
  });

  test("past a few changes a second, changes are held for holdMs and sent together, with the count after them all", () => {
    const { join, clock } = setup({ burst: 2, rate: 2, holdMs: 200 });
    const ada = join("ada");
    join("bob"); // the second token
    const carol = join("carol"); // no token left: held
    const dave = join("dave");
    expect(names(ada.presence())).toEqual(["joined ada", "joined bob"]);
    // A held joiner has its history and its own joined, nothing more, and is not subscribed yet.
    expect(names(carol.frames)).toEqual(["history undefined", "joined carol"]);
    expect(carol.subscribed).toBe(false);
    clock.advance(199);
    expect(names(ada.presence())).toEqual(["joined ada", "joined bob"]);
    clock.advance(1);
    expect(ada.presence().slice(2)).toEqual([
      { type: "joined", name: "carol", timestamp: 1000, count: 4, online: ["ada", "bob", "carol", "dave"] },
      { type: "joined", name: "dave", timestamp: 1000, count: 4, online: ["ada", "bob", "carol", "dave"] },
    ]);
    // carol hears of dave (who came after her history), and of nobody twice
    expect(names(carol.presence())).toEqual(["joined carol", "joined dave"]);
    expect(names(dave.presence())).toEqual(["joined dave"]);
    expect(carol.subscribed && dave.subscribed).toBe(true);
  });

  test("a socket that joins and leaves within one hold is never announced", () => {
    const { join, leave, clock } = setup({ burst: 1, rate: 1, holdMs: 200 });
    const ada = join("ada");
    const churner = join("mallory");
    leave(churner);
    clock.advance(200);
    expect(names(ada.presence())).toEqual(["joined ada"]);
    expect(clock.pending).toBe(0);
  });

  test("a held joiner that saw someone in its history hears that they left, even when the room never heard they came", () => {
    const { join, leave, clock } = setup({ burst: 1, rate: 1, holdMs: 200 });
    const ada = join("ada");
    const mallory = join("mallory"); // held
    const carol = join("carol"); // held; her history lists mallory
    expect(carol.frames[0].online).toEqual(["ada", "mallory", "carol"]);
    leave(mallory);
    clock.advance(200);
    expect(names(ada.presence())).toEqual(["joined ada", "joined carol"]);
    expect(names(carol.presence())).toEqual(["joined carol", "left mallory"]);
    expect(carol.presence()[1]).toMatchObject({ count: 2, online: ["ada", "carol"] });
  });

  test("a flush sends joins first, then leaves of names now gone, then leaves of names still here", () => {
    const { join, leave, clock } = setup({ burst: 4, rate: 1, holdMs: 200 });
    const watcher = join("watcher");
    const a1 = join("a");
    join("a"); // a's second tab
    const b = join("b"); // the last token: from here on, changes are held
    leave(a1); // a stays, through her other tab
    leave(b); // b is gone
    const c = join("c");
    const d = join("d");
    leave(d); // came and went: never announced
    clock.advance(200);
    void c;
    expect(names(watcher.presence().slice(4))).toEqual(["joined c", "left b", "left a"]);
    expect(watcher.presence().slice(4).map((f) => f.count)).toEqual([3, 3, 3]);
  });

  test("joined/left list online only while the room has at most LIMITS.onlineListed names", () => {
    const { join, leave } = setup({ burst: 1000, rate: 1000 });
    const members = Array.from({ length: LIMITS.onlineListed }, (_, i) => join(`n${i}`));
    expect(members[0]!.presence().at(-1)).toMatchObject({ name: `n${LIMITS.onlineListed - 1}`, count: 50 });
    expect(members[0]!.presence().at(-1).online).toHaveLength(50);
    const big = join("big");
    expect(big.frames[0].online).toHaveLength(51); // the history always has the whole roster
    const seen = members[0]!.presence().at(-1);
    expect(seen).toEqual({ type: "joined", name: "big", timestamp: 1000, count: 51 });
    expect(big.presence()[0]).toEqual({ type: "joined", name: "big", timestamp: 1000, count: 51 });
    leave(members[1]!);
    expect(members[0]!.presence().at(-1)).toMatchObject({ type: "left", name: "n1", count: 50 });
    expect(members[0]!.presence().at(-1).online).toHaveLength(50);
  });

  test("too many held joiners flush early: a crowd arriving at once costs each joiner O(crowd), not more", () => {
    const { join, clock } = setup({ burst: 1, rate: 1, holdMs: 200, maxHeldJoiners: 4 });
    const ada = join("ada");
    for (let i = 0; i < 4; i++) join(`c${i}`);
    expect(names(ada.presence())).toEqual(["joined ada", "joined c0", "joined c1", "joined c2", "joined c3"]);
    expect(clock.pending).toBe(0);
  });

  test("a socket that a flush's send closes on the spot (over its buffer) is announced after it, to every member", () => {
    const { join, leave, clock } = setup({ burst: 1, rate: 5, holdMs: 200 }); // a token again by the flush
    const ada = join("ada");
    const carol = join("carol"); // held
    const dave = join("dave"); // held
    // carol's buffer overflows on the next frame: the server closes her inside that send.
    const send = carol.send.bind(carol);
    carol.send = (data: string) => {
      const sent = send(data);
      if (carol.readyState === 1) leave(carol);
      return sent;
    };
    clock.advance(200);
    expect(names(ada.presence())).toEqual(["joined ada", "joined carol", "joined dave", "left carol"]);
    expect(names(dave.presence())).toEqual(["joined dave", "left carol"]);
  });

  test("dispose forgets what is held and stops the timer", () => {
    const { join, presence, clock } = setup({ burst: 1, rate: 1 });
    const ada = join("ada");
    join("bob");
    expect(clock.pending).toBe(1);
    presence.dispose();
    expect(clock.pending).toBe(0);
    expect(presence.pending).toBe(false);
    expect(names(ada.presence())).toEqual(["joined ada"]);
  });

  test("random runs: every member's client roster is exactly the room's names, big rooms included", () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let run = 0; run < 24; run++) {
      const { join, leave, clock, room } = setup({ burst: 3, rate: 5, holdMs: 200, maxHeldJoiners: 8 });
      const live: Member[] = [];
      const pool = run % 2 ? 70 : 12; // names: a big room (no online lists past 50) and a small one
      const base = run % 2 ? 55 : 0;
      for (let i = 0; i < base; i++) live.push(join(`p${i}`));
      for (let step = 0; step < 300; step++) {
        const r = random();
        if (r < 0.45 || live.length < 2) live.push(join(`n${Math.floor(random() * pool)}`));
        else if (r < 0.9) leave(live.splice(Math.floor(random() * live.length), 1)[0]!);
        else clock.advance(Math.floor(random() * 300));
      }
      clock.advance(1000);
      const truth = new Set(room.online());
      for (const m of live) {
        // What the client does with these frames (src/client/index.ts): history, its own joined, the rest.
        const roster = new Roster();
        const [history, own, ...rest] = m.frames;
        roster.reset(history.online);
        if (own.online) roster.adopt(own.online);
        for (const f of rest) roster.apply(f);
        expect(new Set(roster.names)).toEqual(truth);
        expect(roster.names.length).toBe(truth.size);
      }
    }
  });
});
