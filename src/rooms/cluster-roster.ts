// Who is online in a room across every node: the merge of each node's roster (name -> its
// sockets there). This node's own changes come from its sockets; the other nodes' as deltas
// (their `joined`/`left` frames, each naming the sending node), as whole rosters (read from the
// PresenceDirectory when a room goes live here, or after the link to the other nodes was down),
// and as a node's removal when it dies. A name is online while any node holds a socket of it.
// No I/O: the hub feeds it and announces what it returns.
import type { NodeRoster } from "./ports";
import type { Roster } from "./presence";

/** One room, as Presence reads it: the names online on every node. */
export class RoomRoster implements Roster {
  /** node -> (name -> sockets on that node); a node with no one here has no entry. */
  private readonly nodes = new Map<string, Map<string, number>>();
  /** name -> sockets on every node: its keys are the room's online names, in order of arrival. */
  private readonly totals = new Map<string, number>();

  constructor(readonly name: string) {}

  online(): string[] {
    return [...this.totals.keys()];
  }

  get onlineCount(): number {
    return this.totals.size;
  }

  has(name: string): boolean {
    return this.totals.has(name);
  }

  /** One node's roster here (empty when it has no one). */
  of(node: string): NodeRoster {
    return this.nodes.get(node) ?? new Map();
  }

  /** Nodes with someone here. */
  holders(): string[] {
    return [...this.nodes.keys()];
  }

  /** A socket of `name` joined on `node`: true when the name was not online before. */
  add(node: string, name: string, sockets = 1): boolean {
    if (sockets <= 0) return false;
    let roster = this.nodes.get(node);
    if (!roster) this.nodes.set(node, (roster = new Map()));
    roster.set(name, (roster.get(name) ?? 0) + sockets);
    const total = this.totals.get(name) ?? 0;
    this.totals.set(name, total + sockets);
    return total === 0;
  }

  /**
   * A socket of `name` left `node`: true when the name is now online nowhere. A leave the roster
   * never saw the join of (a delta lost, or read with a whole roster already) changes nothing.
   */
  remove(node: string, name: string, sockets = 1): boolean {
    const roster = this.nodes.get(node);
    const held = roster?.get(name) ?? 0;
    if (held === 0) return false;
    const taken = Math.min(held, sockets);
    if (held > taken) roster!.set(name, held - taken);
    else {
      roster!.delete(name);
      if (!roster!.size) this.nodes.delete(node);
    }
    const total = this.totals.get(name)! - taken;
    if (total > 0) {
      this.totals.set(name, total);
      return false;
    }
    this.totals.delete(name);
    return true;
  }

  /**
   * `node` now holds exactly `sockets` of `name` (an absolute count: applying it twice, or after
   * a whole roster that already had it, changes nothing). Says whether the name came or went.
   */
  set(node: string, name: string, sockets: number): "joined" | "left" | undefined {
    const held = this.of(node).get(name) ?? 0;
    if (sockets > held) return this.add(node, name, sockets - held) ? "joined" : undefined;
    if (sockets < held) return this.remove(node, name, held - sockets) ? "left" : undefined;
    return undefined;
  }

  /** Replaces one node's roster with a whole one (empty: the node is gone from the room). */
  replace(node: string, roster: NodeRoster): Changes {
    const changes: Changes = { joined: [], left: [] };
    for (const [name, sockets] of this.of(node)) {
      const now = roster.get(name) ?? 0;
      if (now < sockets && this.remove(node, name, sockets - now)) changes.left.push(name);
    }
    for (const [name, sockets] of roster) {
      const before = this.of(node).get(name) ?? 0;
      if (sockets > before && this.add(node, name, sockets - before)) changes.joined.push(name);
    }
    return changes;
  }
}

/** Names that came online, and names now online nowhere, after a change of whole rosters. */
export interface Changes {
  joined: string[];
  left: string[];
}

/** Every live room of this node, across nodes. */
export class ClusterRoster {
  private readonly rooms = new Map<string, RoomRoster>();

  /** `self`: this node's id (its bus's), for its own sockets. */
  constructor(readonly self: string) {}

  /** The room's roster, made empty on first use: the hub holds it while the room is live here. */
  room(name: string): RoomRoster {
    let room = this.rooms.get(name);
    if (!room) this.rooms.set(name, (room = new RoomRoster(name)));
    return room;
  }

  /** Its last member here left: what other nodes hold there is no longer this node's concern. */
  drop(name: string) {
    this.rooms.delete(name);
  }

  /** This node's own roster in the room, to publish. */
  own(room: string): NodeRoster {
    return this.rooms.get(room)?.of(this.self) ?? new Map();
  }

  /**
   * The other nodes' rosters, read whole (from the directory): every node but this one is
   * replaced, and a node missing from `others` is gone from the room.
   */
  reset(room: string, others: ReadonlyMap<string, NodeRoster>): Changes {
    const roster = this.room(room);
    const before = new Set(roster.online());
    const nodes = new Set([...roster.holders(), ...others.keys()]);
    nodes.delete(this.self);
    for (const node of nodes) roster.replace(node, others.get(node) ?? new Map());
    // Compared whole, not node by node: a name that moved from one node to another never left.
    return { joined: roster.online().filter((name) => !before.has(name)), left: [...before].filter((name) => !roster.has(name)) };
  }

  /** A node died: its sockets are gone from every room. Returns room -> names now online nowhere. */
  dropNode(node: string): Map<string, string[]> {
    const gone = new Map<string, string[]>();
    if (node === this.self) return gone;
    for (const roster of this.rooms.values()) {
      const { left } = roster.replace(node, new Map());
      if (left.length) gone.set(roster.name, left);
    }
    return gone;
  }
}
