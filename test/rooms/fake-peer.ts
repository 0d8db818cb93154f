// Sockets and a fan-out in memory, for testing the hub without a server: a FakePeer records the
// frames it was sent (parsed, so a test reads them as the client would) and which of them left
// in one corked write; a FakeBus is Bun's topics: a publish reaches every subscribed peer but
// the sender.
import type { ServerFrame } from "../../src/protocol/frames";
import type { AbusablePeer } from "../../src/rooms/hub";
import type { Fanout, Peer } from "../../src/rooms/ports";

const OPEN = 1;
const CLOSED = 3;

export class FakeBus implements Fanout {
  private readonly topics = new Map<string, Set<FakePeer>>();

  publish(room: string, data: string, from?: Peer) {
    for (const peer of this.topics.get(room) ?? []) if (peer !== from) peer.receive(data);
  }

  subscribe(room: string, peer: FakePeer) {
    let members = this.topics.get(room);
    if (!members) this.topics.set(room, (members = new Set()));
    members.add(peer);
  }

  unsubscribe(peer: FakePeer) {
    for (const members of this.topics.values()) members.delete(peer);
  }
}

export class FakePeer implements AbusablePeer {
  readonly frames: ServerFrame[] = [];
  /** For each frame, the cork it was written in (0: not corked). */
  readonly corks: number[] = [];
  readyState = OPEN;
  closedWith?: { code?: number; reason?: string };
  private cork_ = 0;
  private corked = 0;

  constructor(private readonly bus: FakeBus) {}

  send(data: string): number {
    if (this.readyState !== OPEN) return 0;
    this.receive(data);
    return data.length;
  }

  publish(topic: string, data: string): number {
    this.bus.publish(topic, data, this);
    return data.length;
  }

  subscribe(topic: string): void {
    this.bus.subscribe(topic, this);
  }

  cork(fn: () => void): unknown {
    this.corked = ++this.cork_;
    try {
      fn();
    } finally {
      this.corked = 0;
    }
    return undefined;
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.drop();
  }

  /** The connection is gone (what Bun does on close: no more frames, no topics). */
  drop() {
    this.readyState = CLOSED;
    this.bus.unsubscribe(this);
  }

  receive(data: string) {
    this.frames.push(JSON.parse(data));
    this.corks.push(this.corked);
  }

  of<T extends ServerFrame["type"]>(type: T): Extract<ServerFrame, { type: T }>[] {
    return this.frames.filter((f): f is Extract<ServerFrame, { type: T }> => f.type === type);
  }
}
