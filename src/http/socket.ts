// The room socket, on Bun's WebSocket directly. The upgrade is done by our own route handler
// (see app.ts) with a small per-connection object as `ws.data`; Elysia's Bun adapter dispatches
// socket events to `ws.data.open/message/close/pong`. Going around Elysia's `.ws()` here keeps
// a connection at one small object (Elysia's keeps the whole request context and five closures
// per socket: ~8 KiB against ~4) and a frame at one JSON.parse + one zod check.
import type { ServerWebSocket } from "bun";
import { parseClientFrame } from "../protocol/parse";
import type { AbusablePeer, Hub, Session } from "../rooms/hub";
import type { Connections } from "./connections";

export type Socket = ServerWebSocket<SocketData>;

export interface SocketData {
  readonly session: Session;
  /** Set by any frame or pong; the heartbeat closes sockets that stay silent for a round. */
  alive: boolean;
  open(ws: Socket): void;
  message(ws: Socket, raw: string | Buffer): void;
  close(ws: Socket, code: number, reason: string): void;
  pong(ws: Socket): void;
}

export interface SocketDeps {
  hub: Hub;
  connections: Connections;
  /** Observability (metrics, logs): see metrics.ts. */
  events?: SocketEvents;
}

export interface SocketEvents {
  /** A socket opened; returns the peer the hub should talk to for it (e.g. one that counts frames). */
  open(ws: Socket): AbusablePeer;
  /** A frame arrived (before parsing). */
  frame(): void;
  close(ws: Socket, peer: AbusablePeer, code: number, reason: string): void;
}

/** Frames up to this size (characters or bytes) are parsed even while their socket is over the rate. */
const READ_WHILE_LIMITED = 4096;

/** Returns a factory for `ws.data`: the handlers live once on a prototype, not per socket. */
export function socketData({ hub, connections, events }: SocketDeps): (session: Session) => SocketData {
  class Connection implements SocketData {
    alive = true;
    /** What the hub sends through: the socket itself, or the events' wrapper of it. */
    peer?: AbusablePeer;
    constructor(readonly session: Session) {}

    open(ws: Socket) {
      connections.opened(ws);
      if (events) this.peer = events.open(ws);
    }

    message(ws: Socket, raw: string | Buffer) {
      this.alive = true;
      events?.frame();
      // Closed for abuse a moment ago: what it had sent already is not worth a parse.
      if (ws.readyState !== WebSocket.OPEN) return;
      const peer = this.peer ?? ws;
      // A small frame is still read, so that its refusal carries its clientId (a burst over the
      // rate from an honest client); a big one from a socket already over the rate is not.
      if (raw.length > READ_WHILE_LIMITED && hub.refuseUnread(peer, this.session)) return;
      const parsed = parseClientFrame(raw);
      if (!parsed.ok) return hub.reject(peer, this.session, parsed.code, parsed.message, parsed.clientId);
      const { frame } = parsed;
      if (frame.type === "join") void hub.join(peer, this.session, frame);
      else void hub.send(peer, this.session, frame);
    }

    close(ws: Socket, code: number, reason: string) {
      connections.closed(ws);
      events?.close(ws, this.peer ?? ws, code, reason);
      hub.leave(this.session);
    }

    pong() {
      this.alive = true;
    }
  }
  return (session) => new Connection(session);
}
