import { CLOSE } from "../protocol/limits";
import type { Session } from "../rooms/hub";
import type { Socket } from "./socket";

export interface ConnectionLimits {
  /** Open sockets per client IP; 0 = no cap. */
  maxPerClient: number;
  /** A socket that has not joined by then is closed 1008. */
  joinTimeoutMs: number;
}

/**
 * Every open socket of this node: for the per-IP cap, the join deadline, the heartbeat that
 * finds dead peers (Bun's idleTimeout does not while the room keeps sending), and shutdown.
 */
export class Connections {
  readonly sockets = new Set<Socket>();
  /** Sockets the heartbeat terminated (their close reports 1006 like a lost connection). */
  readonly terminated = new WeakSet<Socket>();
  private readonly perClient = new Map<string, number>();
  /** Reserved before an upgrade, not opened yet: released if the upgrade never completes. */
  private readonly pending = new Set<Session>();

  constructor(private readonly limits: ConnectionLimits) {}

  /**
   * Reserves a place for a client about to upgrade; false when it is at its cap. A reservation
   * whose socket never opens (the upgrade failed) is released by `closeUnjoined`.
   */
  reserve(session: Session): boolean {
    if (!this.take(session.client)) return false;
    this.pending.add(session);
    return true;
  }

  private take(client: string): boolean {
    if (this.limits.maxPerClient > 0 && this.openFrom(client) >= this.limits.maxPerClient) return false;
    this.count(client);
    return true;
  }

  private count(client: string) {
    this.perClient.set(client, this.openFrom(client) + 1);
  }

  private release(client: string) {
    const open = (this.perClient.get(client) ?? 1) - 1;
    if (open > 0) this.perClient.set(client, open);
    else this.perClient.delete(client);
  }

  opened(ws: Socket) {
    // An open after its reservation expired (very late) counts again, so `closed` stays even.
    if (!this.pending.delete(ws.data.session)) this.count(ws.data.session.client);
    this.sockets.add(ws);
  }

  /** Open sockets of a client (its reservations included). */
  openFrom(client: string): number {
    return this.perClient.get(client) ?? 0;
  }

  /** Clients with at least one open socket or reservation. */
  get clients(): number {
    return this.perClient.size;
  }

  closed(ws: Socket) {
    if (!this.sockets.delete(ws)) return;
    this.release(ws.data.session.client);
  }

  /** Closes sockets that have not joined within the join timeout; returns how many. */
  closeUnjoined(now: number): number {
    let closed = 0;
    for (const session of this.pending) {
      if (now - session.openedAt >= this.limits.joinTimeoutMs) {
        this.pending.delete(session);
        this.release(session.client);
      }
    }
    for (const ws of this.sockets) {
      const { session } = ws.data;
      if (session.state === "new" && now - session.openedAt >= this.limits.joinTimeoutMs) {
        closed++;
        ws.close(CLOSE.policy, "join first");
      }
    }
    return closed;
  }

  /**
   * One heartbeat round: terminates sockets that sent nothing (no pong, no frame) since the
   * previous round, pings the rest. Returns how many were terminated.
   */
  heartbeat(): number {
    let dead = 0;
    for (const ws of this.sockets) {
      if (!ws.data.alive) {
        dead++;
        this.terminated.add(ws);
        // terminate(): a dead peer would never complete a closing handshake.
        ws.terminate();
      } else {
        ws.data.alive = false;
        ws.ping();
      }
    }
    return dead;
  }

  get size() {
    return this.sockets.size;
  }
}
