// The hub without sockets or disk: fake peers on a fake bus, the in-memory store. Join, history,
// presence, messages (ack with clientId, broadcast without), leave, order, corked acks, retries,
// a message from no socket, and a store that fails. Every wait is for the hub's own promises
// (a join, drain()), none for time.
import { describe, expect, test } from "bun:test";
import type { Draft, MessageStore } from "../../src/rooms/ports";
import { Hub, Session, type HubOptions } from "../../src/rooms/hub";
import { openMemoryStore } from "../../src/store/memory";
import { FakeBus, FakePeer } from "./fake-peer";

function setup(options: Partial<HubOptions> = {}) {
  const store = options.store ?? openMemoryStore();
  const bus = new FakeBus();
  let clock = 1_000;
  const hub = new Hub({ store, fanout: bus, historyLimit: 50, now: () => clock, ...options });
  let clients = 0;
  return {
    hub,
    store,
    tick: (ms = 1) => (clock += ms),
    /** A peer that has joined `room` as `name` (its history and own joined received). */
    async member(room: string, name: string, since?: number) {
      const peer = new FakePeer(bus);
      const session = new Session(room, `10.0.0.${++clients}`, clock);
      await hub.join(peer, session, { type: "join", name, since });
      const send = (message: string, clientId?: string) => hub.send(peer, session, { type: "message", message, clientId });
      const leave = () => {
        peer.drop();
        hub.leave(session);
      };
      return { peer, session, send, leave };
    },
  };
}

const draft = (room: string, message: string, timestamp = 1): Draft => ({ room, name: "seed", message, timestamp });

describe("hub", () => {
  test("a joiner gets the room's history and who is online, then its own joined; members hear of it", async () => {
    const { hub, store, member } = setup();
    await store.append([draft("r", "one"), draft("other", "elsewhere"), draft("r", "two")]);
    const ann = await member("r", "ann");
    expect(ann.peer.frames.map((f) => f.type)).toEqual(["history", "joined"]);
    const [history] = ann.peer.of("history");
    expect(history!.messages.map((m) => m.message)).toEqual(["one", "two"]);
    expect(history!.online).toEqual(["ann"]);
    expect(ann.peer.of("joined")).toEqual([{ type: "joined", name: "ann", timestamp: 1_000, count: 1, online: ["ann"] }]);

    const ben = await member("r", "ben");
    expect(ben.peer.of("history")[0]!.online).toEqual(["ann", "ben"]);
    expect(ann.peer.of("joined").at(-1)).toMatchObject({ name: "ben", count: 2, online: ["ann", "ben"] });
    expect(hub.liveRooms).toBe(1);
  });

  test("a message is stored, acked to its sender with its clientId, broadcast to the others without", async () => {
    const { hub, store, member } = setup();
    const ann = await member("r", "ann");
    const ben = await member("r", "ben");
    ann.send("hello", "c1");
    expect(ann.peer.of("message")).toEqual([]); // nothing before the commit
    await hub.drain();
    const [ack] = ann.peer.of("message");
    expect(ack).toMatchObject({ type: "message", room: "r", name: "ann", message: "hello", clientId: "c1" });
    expect(ben.peer.of("message")).toEqual([{ type: "message", id: ack!.id, room: "r", name: "ann", message: "hello", timestamp: ack!.timestamp }]);
    expect(await store.page("r", { limit: 10 })).toEqual([{ id: ack!.id, room: "r", name: "ann", message: "hello", timestamp: ack!.timestamp }]);
  });

  test("bursts from several senders: every member sees every id once, ascending; each sender's run of acks leaves in one cork", async () => {
    const { hub, member } = setup();
    const members = await Promise.all(["a", "b", "c"].map((name) => member("r", name)));
    for (const m of members) for (let i = 0; i < 10; i++) m.send(`${m.session.name} ${i}`, `${m.session.name}${i}`);
    await hub.drain();
    for (const m of members) {
      const ids = m.peer.of("message").map((f) => f.id);
      expect(ids.length).toBe(30);
      expect(ids).toEqual([...ids].sort((x, y) => x - y));
      expect(new Set(ids).size).toBe(30);
      // its own ten, acked in one corked write, in the order sent
      const own = m.peer.frames.map((f, i) => ({ f, cork: m.peer.corks[i] })).filter(({ f }) => f.type === "message" && f.clientId !== undefined);
      expect(own.map(({ f }) => (f as { message: string }).message)).toEqual([...Array(10).keys()].map((i) => `${m.session.name} ${i}`));
      expect(new Set(own.map(({ cork }) => cork)).size).toBe(1);
      expect(own[0]!.cork).toBeGreaterThan(0);
    }
  });

  test("a retry with the same clientId is acked with the stored message and not broadcast again", async () => {
    const { hub, member } = setup();
    const ann = await member("r", "ann");
    const ben = await member("r", "ben");
    ann.send("once", "same");
    await hub.drain();
    ann.send("once", "same");
    await hub.drain();
    const acks = ann.peer.of("message");
    expect(acks.length).toBe(2);
    expect(acks[1]!.id).toBe(acks[0]!.id);
    expect(ben.peer.of("message").length).toBe(1);
  });

  test("a join with since gets what came after it; one past the cache is read from the store", async () => {
    const { hub, store, member } = setup({ historyLimit: 3 });
    await store.append([1, 2, 3, 4, 5, 6].map((i) => draft("r", `m${i}`)));
    const fresh = await member("r", "ann", 4); // within the cache (the last 3)
    expect(fresh.peer.of("history")[0]!.messages.map((m) => m.id)).toEqual([5, 6]);
    fresh.leave();
    const old = await member("r", "ben", 1); // older than the cache: the store fills it
    expect(old.peer.of("history")[0]!.messages.map((m) => m.id)).toEqual([2, 3, 4]);
    expect(hub.liveRooms).toBe(1);
  });

  test("leaving: the others hear left; the last one out frees the room", async () => {
    const { hub, member, tick } = setup();
    const ann = await member("r", "ann");
    const ben = await member("r", "ben");
    tick();
    ben.leave();
    expect(ann.peer.of("left")).toEqual([{ type: "left", name: "ben", timestamp: 1_001, count: 1, online: ["ann"] }]);
    ann.leave();
    expect(hub.liveRooms).toBe(0);
  });

  test("a message from no socket (commit) reaches every member and resolves with its stored message", async () => {
    const { hub, member } = setup();
    const ann = await member("r", "ann");
    const appended = await hub.commit({ room: "r", name: "api", message: "from the API", timestamp: 5 });
    expect(appended.fresh).toBe(true);
    expect(ann.peer.of("message")).toEqual([{ type: "message", ...appended.message }]);
    // and the live room remembers it: the next joiner's history has it
    const ben = await member("r", "ben");
    expect(ben.peer.of("history")[0]!.messages).toEqual([appended.message]);
  });

  test("a store that fails: the sender gets unavailable with its clientId, nobody gets the message; the room goes on", async () => {
    const memory = openMemoryStore();
    let failing = false;
    const store: MessageStore = { ...memory, append: (drafts) => (failing ? Promise.reject(new Error("disk full")) : memory.append(drafts)) };
    const { hub, member } = setup({ store });
    const ann = await member("r", "ann");
    const ben = await member("r", "ben");
    failing = true;
    ann.send("lost", "c1");
    ann.send("lost too", "c2");
    await hub.drain();
    expect(ann.peer.of("error")).toEqual([
      { type: "error", code: "unavailable", message: expect.any(String), clientId: "c1" },
      { type: "error", code: "unavailable", message: expect.any(String), clientId: "c2" },
    ]);
    expect(ann.peer.of("message")).toEqual([]);
    expect(ben.peer.of("message")).toEqual([]);
    expect(await memory.page("r", { limit: 10 })).toEqual([]);

    failing = false;
    ann.send("after", "c3");
    await hub.drain();
    expect(ann.peer.of("message").map((f) => f.clientId)).toEqual(["c3"]);
    expect(ben.peer.of("message").map((f) => f.message)).toEqual(["after"]);
  });

  test("a store that cannot load the room: the joiner gets unavailable and may join again", async () => {
    const memory = openMemoryStore();
    let failing = true;
    const store: MessageStore = { ...memory, page: (room, query) => (failing ? Promise.reject(new Error("down")) : memory.page(room, query)) };
    const { hub, member } = setup({ store });
    const ann = await member("r", "ann");
    expect(ann.peer.frames).toEqual([{ type: "error", code: "unavailable", message: expect.any(String) }]);
    expect(hub.liveRooms).toBe(0);
    failing = false;
    await hub.join(ann.peer, ann.session, { type: "join", name: "ann" });
    expect(ann.peer.frames.map((f) => f.type)).toEqual(["error", "history", "joined"]);
  });
});
