// Starts Bun's server for an app from createApp. Not Elysia's listen(): listen compiles the
// app's request handler before it returns, then, before the first request can be answered,
// compiles every route, rebuilds the route table and reloads the server: ~6 ms of a ~50 ms
// start. Here the handler is compiled shortly after start, in the background, or by the first
// request that needs it if that comes sooner (GET /health and the page never do: they are Bun
// routes, see createApp).
import type { Server } from "bun";
import { websocket } from "elysia/ws";
import { parseClientFrame } from "../protocol/parse";
import type { createApp } from "./app";

type ChatApp = ReturnType<typeof createApp>;

/** Late enough for a start-up health check to have had its answer. */
const WARM_UP_AFTER_MS = 50;

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
    // Elysia's socket events, as listen() gives them: each calls the handler on ws.data (the
    // room socket's are in socket.ts).
    websocket: { ...app.config.websocket, ...websocket },
  } as Parameters<typeof Bun.serve>[0]);
  // Not at the first request: the first socket would pay for it, in time and in memory (~2 MB).
  // A plain GET of a room socket compiles the handler and that route, and only answers 426; a
  // parsed frame builds the frames' schemas.
  const warm = setTimeout(() => {
    void app.handle(new Request("http://localhost/rooms/warm-up/ws"));
    parseClientFrame('{"type":"join","name":"warm-up"}');
  }, WARM_UP_AFTER_MS);
  warm.unref();
  app.onStop(() => clearTimeout(warm));
  return app as A & { server: Server<unknown> };
}
