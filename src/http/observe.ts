// Where metrics and logs hook into the app: the hub's events, the sockets' events, the fan-out
// and the periodic sweeps. Kept apart so that app.ts reads as routes and wiring only.
import type { Logger } from "../log";
import { CLOSE } from "../protocol/limits";
import type { ClusterEvents, HubEvents } from "../rooms/hub";
import type { Connections } from "./connections";
import { MeteredPeer, type Metrics, type RefuseReason } from "./metrics";
import type { SocketEvents } from "./socket";

/** The hub's events as counters and log lines (main.ts gives them to the hub it builds). */
export function hubEvents(metrics: Metrics, log: Logger): HubEvents {
  const { tally } = metrics;
  return {
    error: (code) => void tally.errors[code]++,
    stored: () => void tally.stored++,
    joinRefused: (code, reason, client, room) => {
      tally.joinsRefused[code]++;
      // The reason is a word of ours (expired, banned...): a token never reaches a log line.
      log.info("join refused", { code, reason, client, room });
    },
    closedForAbuse: (client, room) => {
      tally.closed.flooding++;
      log.warn("closed for flooding", { client, room });
    },
  };
}

/** The hub's cluster events as counters and log lines. */
export function clusterEvents(metrics: Metrics, log: Logger): ClusterEvents {
  const { tally } = metrics;
  return {
    remoteMessage: () => void tally.remoteMessages++,
    gapFilled: (count) => void (tally.gapFilled += count),
    error: (what, error) => log.warn(`${what} failed; retrying`, { error: String(error) }),
  };
}

export function observe({ metrics, log, connections }: { metrics: Metrics; log: Logger; connections: Connections }) {
  const { tally, subscribers } = metrics;

  const sockets: SocketEvents = {
    open(ws) {
      tally.opened++;
      log.debug("connected", { room: ws.data.session.room, client: ws.data.session.client });
      return new MeteredPeer(ws, tally, subscribers);
    },
    frame: () => void tally.framesIn++,
    close(ws, peer, code, reason) {
      (peer as MeteredPeer).closed();
      const { session } = ws.data;
      // What Bun closes itself reaches this handler as 1006 (the client gets the real code);
      // only the reason text tells them apart.
      if (code === CLOSE.tooBig || (code === 1006 && reason === "Received too big message")) {
        tally.closed.frame_too_big++;
        log.info("closed: frame too big", { room: session.room, client: session.client });
      } else if (code === 1006 && reason !== "") {
        tally.closed.protocol_error++;
        log.info("closed: WebSocket protocol error", { room: session.room, client: session.client, reason });
      } else if (code === 1006 && !connections.terminated.has(ws)) {
        // No close frame, no reason: a slow consumer Bun closed (over maxBufferedBytes), or a lost client.
        tally.closed.slow_or_lost++;
        log.info("closed without a close frame (slow consumer or lost connection)", { room: session.room, client: session.client });
      }
      log.debug("disconnected", { room: session.room, client: session.client, code, joined: session.state === "closed" && session.name !== undefined });
    },
  };

  return {
    sockets,
    /** An upgrade refused before it happened (a bad room name is not worth a log line). */
    refused(reason: RefuseReason, fields?: Record<string, unknown>) {
      tally.refused[reason]++;
      if (reason !== "bad_room") log.warn(`upgrade refused: ${reason === "origin" ? "origin" : "too many connections"}`, fields);
    },
    neverJoined(count: number) {
      tally.closed.never_joined += count;
      if (count) log.info("closed sockets that never joined", { count });
    },
    deadPeers(count: number) {
      tally.closed.dead_peer += count;
      if (count) log.info("closed dead peers", { count });
    },
  };
}
