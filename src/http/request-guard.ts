// What every HTTP request passes before its handler, Bun's own routes (the page, /health)
// included: the Host check (DNS rebinding), the per-client cap on HTTP connections, and the
// descriptor watch that closes idle keep-alive connections when the process runs short of
// file descriptors. Run by serve.ts around Elysia's handler and each Bun route.
import type { Server } from "bun";
import type { Logger } from "../log";
import { descriptorLimit, openDescriptors } from "./descriptors";
import { clientAddress, clientKey, hostAllowed, hostName } from "./guards";
import { KeepAlives } from "./keep-alive";

export interface RequestGuardOptions {
  /** Host names this server answers for (a port in Host is ignored); empty: any. */
  hosts: string[];
  /** Open HTTP connections per client IP (IPv6: per /64); 0 = no cap. */
  maxConnectionsPerClient: number;
  trustProxy: boolean;
  log: Logger;
}

export type Handler = (request: Request, server: Server<unknown>) => Response | Promise<Response> | undefined | Promise<Response | undefined>;

/** Bun's idle timeout for HTTP connections (serve.ts sets it): Elysia's default; Bun's own is 10. */
export const HTTP_IDLE_TIMEOUT_S = 30;
/** Share of the descriptor limit from which idle keep-alive connections are closed. */
const PRESSURE = 0.8;
/** `closeIdleConnections()` for a client over its cap at most this often: it closes every client's idle connections. */
const SWEEP_EVERY_MS = 250;

export function requestGuard(options: RequestGuardOptions, serverOf: () => Server<unknown> | undefined, now: () => number = Date.now) {
  const { log, trustProxy } = options;
  const hosts = new Set(options.hosts.map(hostName));
  const keepAlives = new KeepAlives({ maxPerClient: options.maxConnectionsPerClient, idleMs: (HTTP_IDLE_TIMEOUT_S + 1) * 1000 });
  // Read by the first watch, not at start-up (every millisecond of start-up is measured).
  let limit: number | undefined | null = null;
  let pressure = false;
  let sweptAt = -Infinity;
  /** Refused since the last watch, for one log line a second: per client, and misdirected requests. */
  const refused = new Map<string, number>();
  let misdirected = 0;
  /** Newcomers over their client's cap waiting for the next sweep, per client. */
  const waiting = new Map<string, number>();

  /** Closes every idle keep-alive connection: after it only requests in flight hold one. */
  function closeIdle(at: number) {
    serverOf()?.closeIdleConnections();
    keepAlives.clear();
    sweptAt = at;
  }

  /** Once a second: the descriptor count, and the log of what was refused meanwhile. */
  function watch() {
    const at = now();
    if (refused.size) {
      const clients = Object.fromEntries([...refused].sort((a, b) => b[1] - a[1]).slice(0, 10));
      log.warn("HTTP connections refused: too many from one address", { refused: [...refused.values()].reduce((a, b) => a + b), clients });
    }
    if (misdirected) log.warn("requests refused: Host not in the host list", { refused: misdirected });
    refused.clear();
    misdirected = 0;
    keepAlives.sweep(at);
    if (limit === null) limit = descriptorLimit();
    if (limit === undefined) return;
    // No descriptor left even to read the limit with: that is the limit.
    const open = limit === null ? Infinity : openDescriptors(limit * PRESSURE);
    if (open === undefined) return;
    const high = open >= (limit ?? 0) * PRESSURE;
    if (high !== pressure) {
      pressure = high;
      if (high) log.warn("file descriptors near the limit: closing idle HTTP connections, keep-alive off", { open: Number.isFinite(open) ? open : "all", limit });
      else log.info("file descriptors back under the limit: keep-alive on", { open, limit });
    }
    if (pressure) closeIdle(at);
  }

  /**
   * Room for a client's new connection over its cap. The count may include connections the
   * client has closed since (a client that just left must be served again): closing the idle
   * ones (everyone's: Bun cannot close one connection) makes it exact. That is done at most
   * every SWEEP_EVERY_MS; meanwhile a newcomer waits for the next one, unless as many of the
   * client's wait already as its cap: false then.
   */
  async function makeRoom(client: string, connection: string): Promise<boolean> {
    const due = sweptAt + SWEEP_EVERY_MS - now();
    if (due > 0) {
      const queued = waiting.get(client) ?? 0;
      if (queued >= options.maxConnectionsPerClient) return false;
      waiting.set(client, queued + 1);
      await new Promise((resolve) => setTimeout(resolve, due));
      const left = (waiting.get(client) ?? 1) - 1;
      if (left > 0) waiting.set(client, left);
      else waiting.delete(client);
      // Another newcomer's sweep may have made room already.
      if (keepAlives.admit(client, connection, now())) return true;
    }
    closeIdle(now());
    return keepAlives.admit(client, connection, now());
  }

  function tooMany(client: string) {
    refused.set(client, (refused.get(client) ?? 0) + 1);
    return closing(new Response("too many connections from this address", { status: 429, headers: { "retry-after": "1" } }));
  }

  function guard(request: Request, server: Server<unknown>, handler: Handler) {
    if (!hostAllowed(request, hosts)) {
      misdirected++;
      return new Response("misdirected request: this server does not answer for that host name", { status: 421 });
    }
    if (request.headers.get("upgrade")?.toLowerCase() === "websocket") {
      // Sockets are counted by their own cap (connections.ts); a refused upgrade is an HTTP
      // connection nobody counts, so it is not kept.
      return then(handler(request, server), (response) => (response && response.status >= 300 ? closing(response) : response));
    }
    const keepAlive = !pressure && !/close/i.test(request.headers.get("connection") ?? "");
    if (keepAlive && keepAlives.enabled) {
      const peer = server.requestIP(request);
      if (peer) {
        const client = clientKey(trustProxy ? clientAddress(request, server, true) : peer.address);
        const connection = `${peer.address}|${peer.port}`;
        if (!keepAlives.admit(client, connection, now())) {
          return makeRoom(client, connection).then((admitted) => (admitted ? handler(request, server) : tooMany(client)));
        }
      }
    }
    const result = handler(request, server);
    return keepAlive ? result : then(result, (response) => response && closing(response));
  }

  return {
    guard,
    /** Wraps a handler (a Bun route's or Elysia's fetch) in the guard. */
    wrap: (handler: Handler) => (request: Request, server: Server<unknown>) => guard(request, server, handler),
    keepAlives,
    /** Newcomers waiting for room, all clients together. */
    get waiting() {
      let count = 0;
      for (const n of waiting.values()) count += n;
      return count;
    },
    watch,
  };
}

export type RequestGuard = ReturnType<typeof requestGuard>;

/** Asks Bun to close the connection once this response is sent. */
function closing(response: Response): Response {
  try {
    response.headers.set("connection", "close");
    return response;
  } catch {
    // Immutable headers (a response from fetch()): copy it.
    const copy = new Response(response.body, response);
    copy.headers.set("connection", "close");
    return copy;
  }
}

function then<T, U>(value: T | Promise<T>, f: (value: T) => U): U | Promise<U> {
  return value instanceof Promise ? value.then(f) : f(value);
}
