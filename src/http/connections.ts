import type { ServerWebSocket } from "bun";
import { CLOSE } from "../protocol/frames";
import type { Session } from "../rooms/hub";

export type Socket = ServerWebSocket<{ session: Session; alive: boolean }>;

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
  private readonly perClient = new Map<string, number>();

  constructor(private readonly limits: ConnectionLimits) {}

  /** Reserves a place for a client about to upgrade; false when it is at its cap. */
  reserve(client: string): boolean {
    const open = this.perClient.get(client) ?? 0;
    if (this.limits.maxPerClient > 0 && open >= this.limits.maxPerClient) return false;
    this.perClient.set(client, open + 1);
    return true;
  }

  opened(ws: Socket) {
    ws.data.alive = true;
    this.sockets.add(ws);
  }

  closed(ws: Socket) {
    if (!this.sockets.delete(ws)) return;
    const client = ws.data.session.client;
    const open = (this.perClient.get(client) ?? 1) - 1;
    if (open > 0) this.perClient.set(client, open);
    else this.perClient.delete(client);
  }

  /** Closes sockets that have not joined within the join timeout; returns how many. */
  closeUnjoined(now: number): number {
    let closed = 0;
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
