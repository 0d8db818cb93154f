// File descriptors, against the compiled binary started with `ulimit -n 512`: HTTP connections
// held open by one address, then by several, must not take the server's last descriptor.
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { Client, defer, startBinary } from "../helpers";
import { HttpConnection } from "./http-raw";
import { until } from "./raw";

const LIMIT = 512;
const openDescriptors = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** Opens `count` connections from `from` and sends a keep-alive GET /health on each; returns them with their answers. */
async function flood(port: number, count: number, from?: string) {
  const connections = await Promise.all(Array.from({ length: count }, () => HttpConnection.open(port, { from })));
  defer(() => connections.forEach((c) => c.end()));
  const answers = await Promise.all(connections.map((c) => c.request("/health", {}, 15_000)));
  return { connections, answers };
}

test("binary, ulimit -n 512: survives 600 held HTTP connections, serves again when they leave, and acks the next message", async () => {
  const server = await startBinary({ maxOpenFiles: LIMIT });
  const { pid } = server.proc;
  const port = Number(new URL(server.base).port);
  const member = await Client.joined(server.wsUrl("lobby"), "ada");

  const { connections, answers } = await flood(port, 600);
  // Every one was answered (none waits in the accept queue for a descriptor): up to the cap
  // (128) served; past it, the idle ones closed, newcomers served after that, or refused.
  const statuses = answers.map((a) => a.status);
  expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
  expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
  expect(answers.filter((a) => a.status === 429).every((a) => a.headers.connection === "close")).toBe(true);
  await until(() => openDescriptors(pid) < LIMIT / 2, 5000, "the refused connections to be closed");
  await until(() => server.lines.some((l) => l.includes("HTTP connections refused")), 3000, "the log line");
  const logged = server.lines.map((l) => JSON.parse(l)).find((e) => e.event.startsWith("HTTP connections refused"));
  expect(logged).toMatchObject({ level: "warn", clients: { "127.0.0.1": expect.any(Number) } });
  expect(server.proc.exitCode).toBeNull();
  // Another client is served while they are held (127.0.0.2: another address on loopback).
  const bystander = await HttpConnection.open(port, { from: "127.0.0.2" });
  defer(() => bystander.end());
  expect((await bystander.request("/health")).status).toBe(200);

  for (const c of connections) c.end();
  expect((await fetch(`${server.base}/health`)).status).toBe(200);
  member.send({ type: "message", message: "after the flood", clientId: "m1" });
  expect((await member.next("message", (f) => f.clientId === "m1", 10_000)).message).toBe("after the flood");
  expect(member.closed).toBeUndefined();
  expect(server.proc.exitCode).toBeNull();
});

test("binary, ulimit -n 512: connections from many addresses, each under its cap, make it close idle ones instead of running out", async () => {
  const server = await startBinary({ maxOpenFiles: LIMIT });
  const port = Number(new URL(server.base).port);
  const member = await Client.joined(server.wsUrl("lobby"), "ada");

  // 5 x 120: each address under the cap of 128, together past the limit.
  const floods = await Promise.all([2, 3, 4, 5, 6].map((n) => flood(port, 120, `127.0.0.${n}`)));
  expect(floods.flatMap((f) => f.answers.map((a) => a.status)).every((s) => s === 200)).toBe(true);
  await until(() => server.lines.some((l) => l.includes("file descriptors near the limit")), 5000, "the warning");
  // The idle ones were closed by the server (keep-alive is off meanwhile), not left to the limit.
  await until(() => floods.every((f) => f.connections.every((c) => c.ended)), 5000, "the idle connections to be closed");
  expect((await fetch(`${server.base}/health`)).status).toBe(200);
  member.send({ type: "message", message: "still here", clientId: "m1" });
  expect((await member.next("message", (f) => f.clientId === "m1", 10_000)).message).toBe("still here");
  expect(server.proc.exitCode).toBeNull();
});
