// The per-client cap on HTTP connections (keep-alive ones included), before any route.
import { expect, test } from "bun:test";
import { Client, defer, startServer } from "../helpers";
import { HttpConnection } from "./http-raw";
import { until } from "./raw";

const held = async (port: number, from?: string) => {
  const connection = await HttpConnection.open(port, { from });
  defer(() => connection.end());
  return connection;
};

test("over the cap a new HTTP connection closes the idle ones (at most every 250 ms), waits for that, or gets 429", async () => {
  let clock = 1_000_000; // the test moves time itself
  const server = await startServer({ maxHttpConnectionsPerIp: 3, now: () => clock });
  const port = server.app.server!.port!;
  const keepAlives = server.app.decorator.chat.guard.keepAlives;

  const first = [await held(port), await held(port), await held(port)];
  for (const connection of first) expect((await connection.request("/health")).status).toBe(200);
  expect(keepAlives.openFrom("127.0.0.1")).toBe(3);
  // A connection already counted is served at the cap: only new ones wait.
  expect((await first[0]!.request("/rooms")).status).toBe(200);

  // The fourth: the count may hold connections the client closed, so the idle ones are closed
  // (here: the three above) and it is served.
  const fourth = await held(port);
  expect((await fourth.request("/health")).status).toBe(200);
  await Promise.all(first.map((c) => c.closed));
  expect(keepAlives.openFrom("127.0.0.1")).toBe(1);

  // Refilled at once: newcomers wait for the next sweep, as many as the cap; past that 429,
  // and the server closes the connection.
  const second = [await held(port), await held(port)];
  for (const connection of second) expect((await connection.request("/health")).status).toBe(200);
  const waiters = [await held(port), await held(port), await held(port)];
  const waiting = waiters.map((c) => c.request("/health"));
  await until(() => server.app.decorator.chat.guard.waiting === 3, 2000, "three newcomers to wait");
  const refused = await held(port);
  const answer = await refused.request("/health");
  expect(answer.status).toBe(429);
  expect(answer.headers.connection).toBe("close");
  expect(answer.body).toContain("too many connections");
  await refused.closed;
  // Then the sweep: the waiting ones are served, the idle ones closed.
  expect((await Promise.all(waiting)).map((a) => a.status)).toEqual([200, 200, 200]);
  await Promise.all([fourth, ...second].map((c) => c.closed));
  expect(keepAlives.openFrom("127.0.0.1")).toBe(3);

  // Another address has its own count (127.0.0.2 is another client on loopback).
  const other = await held(port, "127.0.0.2");
  expect((await other.request("/health")).status).toBe(200);
  expect(keepAlives.openFrom("127.0.0.2")).toBe(1);
});

test("connections the client closes after one request, and WebSockets, are not counted", async () => {
  const server = await startServer({ maxHttpConnectionsPerIp: 2 });
  const port = server.app.server!.port!;
  for (let i = 0; i < 6; i++) {
    const once = await held(port);
    expect((await once.request("/health", { Connection: "close" })).status).toBe(200);
    await once.closed;
  }
  expect(server.app.decorator.chat.guard.keepAlives.openFrom("127.0.0.1")).toBe(0);
  // Sockets have their own cap (CHAT_MAX_CONNECTIONS_PER_IP, off here): five upgrades pass.
  const sockets = await Promise.all([1, 2, 3, 4, 5].map(() => Client.open(server.wsUrl("lobby"))));
  expect(sockets.length).toBe(5);
  expect(server.app.decorator.chat.guard.keepAlives.openFrom("127.0.0.1")).toBe(0);
  // A refused upgrade is not kept alive: nobody would count its connection.
  const refused = await held(port);
  const answer = await refused.request("/rooms/lobby/ws", { Upgrade: "websocket", Connection: "Upgrade", Origin: "http://evil.example", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13" });
  expect(answer.status).toBe(403);
  await refused.closed;
});

test("0 turns the HTTP cap off", async () => {
  const server = await startServer({ maxHttpConnectionsPerIp: 0 });
  const port = server.app.server!.port!;
  const connections = await Promise.all(Array.from({ length: 20 }, () => held(port)));
  for (const c of connections) expect((await c.request("/health")).status).toBe(200);
  for (const c of connections) expect(c.ended).toBe(false);
});
