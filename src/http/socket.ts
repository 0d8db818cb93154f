// The room socket, on Bun's WebSocket directly. The upgrade is done by our own route handler
// (see app.ts) with a small per-connection object as `ws.data`; Elysia's Bun adapter dispatches
// socket events to `ws.data.open/message/close/pong`. Going around Elysia's `.ws()` here keeps
// a connection at one small object (Elysia's keeps the whole request context and five closures
// per socket: ~8 KiB against ~4) and a frame at one JSON.parse + one zod check.
import type { ServerWebSocket } from "bun";
import { parseClientFrame } from "../protocol/parse";
import type { Hub, Session } from "../rooms/hub";
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
}

/** Returns a factory for `ws.data`: the handlers live once on a prototype, not per socket. */
export function socketData({ hub, connections }: SocketDeps): (session: Session) => SocketData {
  class Connection implements SocketData {
    alive = true;
    constructor(readonly session: Session) {}

    open(ws: Socket) {
      connections.opened(ws);
    }

    message(ws: Socket, raw: string | Buffer) {
      this.alive = true;
      const parsed = parseClientFrame(raw);
      if (!parsed.ok) return hub.refuse(ws, parsed.code, parsed.message, parsed.clientId);
      const { frame } = parsed;
      if (frame.type === "join") void hub.join(ws, this.session, frame);
      else void hub.send(ws, this.session, frame);
    }

    close(ws: Socket) {
      connections.closed(ws);
      hub.leave(this.session);
    }

    pong() {
      this.alive = true;
    }
  }
  return (session) => new Connection(session);
}
