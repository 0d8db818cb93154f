// Moderation in the hub, without sockets: which sockets a kick, a ban or a settings change
// closes (and with what), a join on its way when a ban lands, and what a node accepts as a
// relayed action. Fake peers, the in-memory store, a verifier that takes the token as the user id.
import { describe, expect, test } from "bun:test";
import { Hub, Session } from "../../src/rooms/hub";
import { closes, parseModeration } from "../../src/rooms/moderation";
import type { TokenVerifier } from "../../src/rooms/ports";
import { openMemoryStore } from "../../src/store/memory";
import { FakeBus, FakePeer } from "./fake-peer";

function setup() {
  const store = openMemoryStore();
  const bus = new FakeBus();
  // Each load of a room's history waits for `gate` while it is set: a join held on its way.
  let gate: Promise<void> | undefined;
  const gated = Object.assign(Object.create(store), { page: async (...args: Parameters<typeof store.page>) => (await gate, store.page(...args)) });
  const verifier: TokenVerifier = { verify: async (token) => ({ userId: token }) };
  const hub = new Hub({ store: gated, access: store, fanout: bus, historyLimit: 10, verifier });
  let n = 0;
  const open = (room: string) => ({ peer: new FakePeer(bus), session: new Session(room, `10.0.0.${++n}`, 0) });
  const member = async (room: string, name: string, token?: string) => {
    const socket = open(room);
    await hub.join(socket.peer, socket.session, { type: "join", name, token });
    return socket;
  };
  return { hub, store, member, open, hold: (until: Promise<void>) => (gate = until) };
}

describe("moderation", () => {
  test("a kick by userId closes every socket of that user, by name every socket under it; each gets forbidden, then 4403 kicked", async () => {
    const { hub, member } = setup();
    const ada1 = await member("r", "Ada", "u-ada");
    const ada2 = await member("r", "Ada", "u-ada");
    const anonAda = await member("r", "Ada");
    const bob = await member("r", "bob");
    expect(await hub.moderate({ kind: "kick", room: "r", userId: "u-ada" })).toBe(2);
    for (const { peer } of [ada1, ada2]) {
      expect(peer.of("error").at(-1)).toMatchObject({ code: "forbidden" });
      expect(peer.closedWith).toEqual({ code: 4403, reason: "kicked" });
    }
    expect(anonAda.peer.closedWith).toBeUndefined();
    for (const s of [ada1, ada2]) hub.leave(s.session);
    expect(await hub.moderate({ kind: "kick", room: "r", name: "Ada" })).toBe(1);
    expect(anonAda.peer.closedWith).toEqual({ code: 4403, reason: "kicked" });
    expect(bob.peer.closedWith).toBeUndefined();
    expect(await hub.moderate({ kind: "kick", room: "elsewhere", name: "bob" })).toBe(0);
  });

  test("a ban landing while a join is on its way (admitted, its room still loading) refuses that join too", async () => {
    const { hub, store, open, hold } = setup();
    let release!: () => void;
    hold(new Promise<void>((resolve) => (release = resolve)));
    const late = open("r");
    const joining = hub.join(late.peer, late.session, { type: "join", name: "mal", token: "u-mal" });
    await new Promise((resolve) => setImmediate(resolve)); // its admission is through: it waits for the room
    await store.ban("r", "u-mal", {}, Date.now());
    expect(await hub.moderate({ kind: "ban", room: "r", userId: "u-mal" })).toBe(0); // not in the room yet
    release();
    await joining;
    expect(late.peer.frames.map((f) => f.type)).toEqual(["error"]);
    expect(late.peer.closedWith).toEqual({ code: 4403, reason: "banned" });
  });

  test("a settings change closes exactly the members the room no longer admits", async () => {
    const { hub, store, member } = setup();
    const anon = await member("r", "anon");
    const general = await member("r", "gen", "u-gen");
    await store.setRoomSettings("r", { private: true });
    // The cache still says public until the action makes the hub forget it.
    expect(await hub.moderate({ kind: "settings", room: "r" })).toBe(2);
    expect(anon.peer.closedWith?.code).toBe(4403);
    expect(general.peer.closedWith?.code).toBe(4403);
    const identity = { userId: "u", rooms: ["r"] };
    expect(closes({ kind: "settings", room: "r" }, { name: "x", identity }, { private: true, anonymous: true })).toBe(false);
  });

  test("a relayed action is read back only when well formed", () => {
    expect(parseModeration(JSON.stringify({ kind: "ban", room: "r", userId: "u" }))).toEqual({ kind: "ban", room: "r", userId: "u" });
    expect(parseModeration(JSON.stringify({ kind: "kick", room: "r", name: "n", extra: 1 }))).toEqual({ kind: "kick", room: "r", name: "n" });
    for (const bad of ["", "{", "null", "[]", '{"kind":"ban","room":"r"}', '{"kind":"ban","room":"bad room","userId":"u"}', '{"kind":"drop","room":"r"}', '{"kind":"kick","room":"r"}', '{"kind":"unban","room":"r","userId":""}']) {
      expect(parseModeration(bad)).toBeUndefined();
    }
  });
});
