// The hub as one node of several, without sockets, Redis or disk: fake peers, the in-memory store
// (which the "other node" writes to as well), and a RoomBus whose other nodes are the test: it
// records what this node relays and hands frames from "other nodes" to the hub.
import { describe, expect, test } from "bun:test";
import { localPresence } from "../../src/bus/local-presence";
import { messageFrame } from "../../src/protocol/encode";
import { Hub, Session } from "../../src/rooms/hub";
import type { FrameMeta, RemoteMeta, RoomBus } from "../../src/rooms/ports";
import { openMemoryStore } from "../../src/store/memory";
import { FakeBus, FakePeer } from "./fake-peer";

function setup() {
  const store = openMemoryStore();
  const topics = new FakeBus();
  const relayed: { room: string; meta: FrameMeta }[] = [];
  let remote: (room: string, data: string, meta: RemoteMeta) => void = () => {};
  const bus: RoomBus = {
    node: "self",
    publish: (room, data, from) => topics.publish(room, data, from),
    deliver: (room, data, from) => topics.publish(room, data, from),
    relay: (room, _data, meta) => void relayed.push({ room, meta }),
    join: async () => {},
    leave() {},
    onRemote: (handler) => void (remote = handler),
    status: () => ({ up: true, reconnects: 0, remoteFrames: 0, dropped: 0 }),
    close: async () => {},
  };
  const hub = new Hub({ store, fanout: bus, historyLimit: 50, cluster: { bus, directory: localPresence("self") } });
  let clients = 0;
  /** Another node stores a message: returns what its envelope would carry. */
  const otherNode = async (room: string, message: string) => {
    const [stored] = await store.append([{ room, name: "other", message, timestamp: 1 }]);
    return { data: messageFrame(stored!.message), meta: { node: "other", id: stored!.message.id, prev: stored!.prev! } };
  };
  return {
    hub,
    relayed,
    otherNode,
    hear: (room: string, { data, meta }: { data: string; meta: RemoteMeta }) => remote(room, data, meta),
    async member(room: string, name: string) {
      const peer = new FakePeer(topics);
      const session = new Session(room, `10.0.0.${++clients}`, 0);
      await hub.join(peer, session, { type: "join", name });
      const leave = () => {
        peer.drop();
        hub.leave(session);
      };
      return { peer, leave, send: (message: string, clientId?: string) => hub.send(peer, session, { type: "message", message, clientId }) };
    },
  };
}

const messages = (peer: FakePeer) => peer.of("message").map((m) => `${m.id} ${m.message}${m.clientId ? " ack" : ""}`);
const settled = () => new Promise((resolve) => setTimeout(resolve, 0));

describe("hub on several nodes", () => {
  test("a local message is relayed with its id and prev; frames from other nodes are delivered in id order, duplicates dropped", async () => {
    const s = setup();
    const ann = await s.member("r", "ann");
    const bob = await s.member("r", "bob");
    ann.send("mine", "c1");
    await s.hub.drain();
    expect(s.relayed.filter((r) => r.meta.id !== undefined)).toEqual([{ room: "r", meta: { id: 1, prev: 0 } }]);
    const two = await s.otherNode("r", "theirs");
    s.hear("r", two);
    s.hear("r", two); // heard twice
    expect(messages(ann.peer)).toEqual(["1 mine ack", "2 theirs"]);
    expect(messages(bob.peer)).toEqual(["1 mine", "2 theirs"]);
  });

  test("a local message committed after another node's, not heard yet, waits for the store: members and the sender's ack get both in id order", async () => {
    const s = setup();
    const ann = await s.member("r", "ann");
    const bob = await s.member("r", "bob");
    const missed = await s.otherNode("r", "never heard"); // its frame is lost on the way
    ann.send("mine", "c1");
    await s.hub.drain();
    await settled(); // the repair's read of the store
    expect(messages(bob.peer)).toEqual([`${missed.meta.id} never heard`, `${missed.meta.id + 1} mine`]);
    expect(messages(ann.peer)).toEqual([`${missed.meta.id} never heard`, `${missed.meta.id + 1} mine ack`]);
    s.hear("r", missed); // arriving late after all: dropped
    expect(messages(bob.peer).length).toBe(2);
  });

  test("presence: another node's counts join the roster; the last local member leaving is relayed with 0", async () => {
    const s = setup();
    const ann = await s.member("r", "ann");
    s.hear("r", { data: "", meta: { node: "other", name: "zoe", sockets: 1 } });
    const joined = ann.peer.of("joined").at(-1)!;
    expect(joined).toMatchObject({ name: "zoe", count: 2 });
    s.hear("r", { data: "", meta: { node: "other", name: "zoe", sockets: 1 } }); // absolute: no change
    expect(ann.peer.of("joined").length).toBe(2);
    ann.leave(); // the room is freed here: the other nodes still hear of it
    expect(s.relayed.filter((r) => r.meta.name === "ann").map((r) => r.meta.sockets)).toEqual([1, 0]);
  });
});
