// Starts Bun's server for an app from createApp. Not Elysia's listen(): listen compiles the
// app's request handler before it returns, then, before the first request can be answered,
// compiles every route, rebuilds the route table and reloads the server: ~6 ms of a ~50 ms
// start. Here the handler is compiled by the first request that needs it (GET /health and the
// page never do: they are Bun routes, see createApp).
import type { Server } from "bun";
import type { createApp } from "./app";
import type { Socket } from "./socket";

type ChatApp = ReturnType<typeof createApp>;

export function serve<A extends ChatApp>(app: A, { port, hostname }: { port: number; hostname?: string }): A & { server: Server<unknown> } {
  let handle: ((request: Request) => Response | Promise<Response>) | undefined;
  app.server = Bun.serve({
    ...app.config.serve,
    port,
    hostname,
    // Elysia's default; Bun's own is 10 s.
    idleTimeout: 30,
    // Bun shares a port with any later server on it unless told not to (with routes or a
    // websocket given): a second chat-server on the same port must fail, not split the traffic.
    reusePort: false,
    fetch: (request) => (handle ??= app.fetch)(request),
    // The room socket keeps its handlers on ws.data (see socket.ts).
    websocket: {
      ...app.config.websocket,
      open: (ws: Socket) => ws.data.open(ws),
      message: (ws: Socket, message: string | Buffer) => ws.data.message(ws, message),
      close: (ws: Socket, code: number, reason: string) => ws.data.close(ws, code, reason),
      pong: (ws: Socket) => ws.data.pong(ws),
    },
  } as Parameters<typeof Bun.serve>[0]);
  return app as A & { server: Server<unknown> };
}
