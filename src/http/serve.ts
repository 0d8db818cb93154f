// Starts Bun's server for an app from createApp. Not Elysia's listen(): listen compiles the
// app's request handler before it returns, then, before the first request can be answered,
// compiles every route, rebuilds the route table and reloads the server: ~6 ms of a ~50 ms
// start. Here the handler is compiled shortly after start, in the background, or by the first
// request that needs it if that comes sooner (GET /health and the page never do: they are Bun
// routes, see createApp).
import type { HTMLBundle, Server } from "bun";
import { basename } from "node:path";
import { websocket } from "elysia/ws";
import { parseClientFrame } from "../protocol/parse";
import type { createApp } from "./app";
import { HTTP_IDLE_TIMEOUT_S, type Handler, type RequestGuard } from "./request-guard";

type ChatApp = ReturnType<typeof createApp>["app"];

/** Late enough for a start-up health check to have had its answer. */
const WARM_UP_AFTER_MS = 50;

export function serve<A extends ChatApp>(app: A, { port, hostname }: { port: number; hostname?: string }): A & { server: Server<unknown> } {
  let handle: ((request: Request) => Response | Promise<Response>) | undefined;
  const { guard } = app.decorator.chat;
  app.server = Bun.serve({
    ...app.config.serve,
    routes: guardedRoutes(app.config.serve?.routes ?? {}, guard),
    port,
    hostname,
    idleTimeout: HTTP_IDLE_TIMEOUT_S,
    // Bun shares a port with any later server on it unless told not to (with routes or a
    // websocket given): a second chat-server on the same port must fail, not split the traffic.
    reusePort: false,
    fetch: guard.wrap((request) => (handle ??= app.fetch)(request)),
    // Elysia's socket events, as listen() gives them: each calls the handler on ws.data (the
    // room socket's are in socket.ts).
    websocket: { ...app.config.websocket, ...websocket },
  } as Parameters<typeof Bun.serve>[0]);
  // Not at the first request Elysia serves (REST, /metrics; room sockets are a Bun route): it
  // would pay for it, in time and in memory (~2 MB). A plain GET of the room socket's Elysia
  // route compiles the handler and answers 426; a parsed frame builds the frames' schemas, for
  // the first socket's first frame.
  const warm = setTimeout(() => {
    void app.handle(new Request("http://localhost/rooms/warm-up/ws"));
    parseClientFrame('{"type":"join","name":"warm-up"}');
  }, WARM_UP_AFTER_MS);
  warm.unref();
  app.onStop(() => clearTimeout(warm));
  return app as A & { server: Server<unknown> };
}

type RouteValue = Handler | HTMLBundle | Record<string, Handler>;

/**
 * Bun's routes answer before `fetch`, so each is wrapped in the request guard too. A bundled
 * page (the compiled binary) becomes one route per file of its manifest, read once into memory
 * (a request then needs no descriptor); an HTML import that Bun bundles on the fly (`bun run`,
 * tests) has no manifest and stays Bun's own, unguarded.
 */
function guardedRoutes(routes: Record<string, unknown>, guard: RequestGuard): Record<string, unknown> {
  const guarded: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(routes as Record<string, RouteValue>)) {
    if (typeof value === "function") guarded[path] = guard.wrap(value);
    else if (isBundle(value)) {
      if (!value.files?.length) guarded[path] = value;
      for (const file of value.files ?? []) {
        const route = file.path === value.index ? path : `/${basename(file.path)}`;
        guarded[route] = { GET: guard.wrap(staticFile(file.path, file.headers)), HEAD: guard.wrap(staticFile(file.path, file.headers)) };
      }
    } else guarded[path] = Object.fromEntries(Object.entries(value).map(([method, handler]) => [method, guard.wrap(handler)]));
  }
  return guarded;
}

function isBundle(value: RouteValue): value is HTMLBundle {
  return typeof value === "object" && "index" in value;
}

function staticFile(path: string, headers: Record<string, string>): Handler {
  let bytes: ArrayBuffer | undefined;
  return async (request) => {
    if (headers.etag && request.headers.get("if-none-match") === headers.etag) return new Response(null, { status: 304, headers: { etag: headers.etag } });
    bytes ??= await Bun.file(path).arrayBuffer();
    return new Response(request.method === "HEAD" ? null : bytes, { headers });
  };
}
