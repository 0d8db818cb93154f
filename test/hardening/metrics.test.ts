// GET /metrics (Prometheus text, prom-client, one registry per app) and the JSON logs.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { createMetrics } from "../../src/http/metrics";
import { createLogger } from "../../src/log";
import { openSqliteStore } from "../../src/store/sqlite";
import { Client, startServer, tempDir } from "../helpers";
import { RawClient, until } from "./raw";

/** Parses the text format into "name{labels}" -> value. */
async function scrape(base: string) {
  const response = await fetch(`${base}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toContain("text/plain");
  const values = new Map<string, number>();
  for (const line of (await response.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    values.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return (key: string) => {
    const value = values.get(key);
    if (value === undefined) throw new Error(`no metric ${key} in ${[...values.keys()].join(", ")}`);
    return value;
  };
}

async function instrumented(options: Parameters<typeof startServer>[0] = {}) {
  const metrics = createMetrics();
  const lines: string[] = [];
  const logger = createLogger("debug", (line) => void lines.push(line));
  const store = openSqliteStore(join(tempDir(), "chat.db"), { onCommit: metrics.onCommit });
  const server = await startServer({ store, metrics, logger, ...options });
  return { server, metrics, lines };
}

test("frames in and out, messages stored and commits are counted exactly", async () => {
  const { server } = await instrumented({ rateLimit: 0 });
  const url = server.wsUrl("lobby");
  const before = await scrape(server.base);
  expect(before("chat_connections")).toBe(0);
  expect(before("chat_frames_in_total")).toBe(0);
  expect(before('chat_errors_total{code="bad_json"}')).toBe(0); // every code exported from the start

  const ada = await Client.joined(url, "ada"); // in: join; out: history, joined
  const bob = await Client.joined(url, "bob"); // in: join; out: history, joined x2
  await ada.next("joined", (f) => f.name === "bob");
  for (let i = 0; i < 5; i++) ada.send({ type: "message", message: `m${i}`, clientId: `c${i}` }); // in: 5; out: 5 acks + 5 to bob
  await ada.next("message", (f) => f.clientId === "c4");
  for (let i = 0; i < 5; i++) await bob.next("message");
  ada.send("not json"); // in: 1; out: 1 error
  ada.send({ type: "message", message: "" }); // in: 1; out: 1 error
  await ada.next("error", (f) => f.code === "bad_json");
  await ada.next("error", (f) => f.code === "bad_frame");

  const m = await scrape(server.base);
  expect(m("chat_connections")).toBe(2);
  expect(m("chat_rooms")).toBe(1);
  expect(m("chat_clients")).toBe(1);
  expect(m("chat_connections_opened_total")).toBe(2);
  expect(m("chat_frames_in_total")).toBe(2 + 5 + 2);
  expect(m("chat_frames_out_total")).toBe(2 + 3 + 10 + 2);
  expect(m("chat_messages_stored_total")).toBe(5);
  expect(m('chat_errors_total{code="bad_json"}')).toBe(1);
  expect(m('chat_errors_total{code="bad_frame"}')).toBe(1);
  expect(m('chat_errors_total{code="unavailable"}')).toBe(0);
  expect(m("chat_store_batch_size_sum")).toBe(5);
  const commits = m("chat_store_batch_size_count");
  expect(commits).toBeGreaterThanOrEqual(1);
  expect(commits).toBeLessThanOrEqual(5);
  expect(m("chat_store_commit_seconds_count")).toBe(commits);
  expect(m("chat_store_commit_seconds_sum")).toBeGreaterThan(0);
  expect(m('chat_store_batch_size_bucket{le="5"}')).toBe(commits);
  expect(m('chat_store_batch_size_bucket{le="+Inf"}')).toBe(commits);
  expect(m('chat_store_commit_seconds_bucket{le="+Inf"}')).toBe(commits);

  // A leave: bob gets ada's left (1 out); the gauges follow.
  ada.close();
  await bob.next("left");
  await until(() => server.app.decorator.chat.connections.size === 1, 2000, "ada's close");
  const after = await scrape(server.base);
  expect(after("chat_connections")).toBe(1);
  expect(after("chat_frames_out_total")).toBe(2 + 3 + 10 + 2 + 1);
  // Counters keep their totals across scrapes (not double counted).
  expect(after("chat_messages_stored_total")).toBe(5);

  // Another app instance has its own registry.
  const other = await instrumented();
  expect((await scrape(other.server.base))("chat_messages_stored_total")).toBe(0);
});

test("abuse and faults are counted by reason, and logged without message contents", async () => {
  const { server, lines } = await instrumented({
    rateLimit: 2,
    rateBurst: 3,
    trustProxy: true,
    maxConnectionsPerIp: 2,
    maxFrameBytes: 2048,
    joinTimeoutMs: 300,
    heartbeatMs: 150,
  });
  const url = server.wsUrl("lobby");
  const from = (ip: string) => ({ headers: { "X-Forwarded-For": ip } });
  const watcher = await Client.open(url, from("10.0.0.1"));
  watcher.send({ type: "join", name: "watcher" });
  await watcher.next("joined");

  // Flooding: 3 stored, 20 refused, closed.
  const flooder = await Client.open(url, from("10.0.0.2"));
  flooder.send({ type: "join", name: "flood" });
  await flooder.next("joined");
  for (let i = 0; i < 30; i++) flooder.send({ type: "message", message: `top secret ${i}`, clientId: `f${i}` });
  expect((await flooder.waitClose()).code).toBe(1008);
  // Too big.
  const big = await Client.open(url, from("10.0.0.3"));
  big.send("x".repeat(4096));
  expect((await big.waitClose()).code).toBe(1009);
  // Never joined.
  const lurker = await Client.open(url, from("10.0.0.4"));
  expect((await lurker.waitClose()).code).toBe(1008);
  // Refused upgrades.
  await expect(Client.open(url, { headers: { Origin: "http://evil.example" } })).rejects.toThrow();
  await Client.open(url, from("10.0.0.5"));
  await Client.open(url, from("10.0.0.5"));
  await expect(Client.open(url, from("10.0.0.5"))).rejects.toThrow();
  // A dead peer (never answers pings) and a lost one (TCP gone without a close frame).
  const dead = await RawClient.connect(url, { pong: false, headers: { "X-Forwarded-For": "10.0.0.6" } });
  dead.send({ type: "join", name: "ghost" });
  const lost = await RawClient.connect(url, { headers: { "X-Forwarded-For": "10.0.0.7" } });
  lost.send({ type: "join", name: "lost" });
  await lost.waitText((f) => f.type === "joined" && f.name === "lost");
  lost.socket.end();
  await watcher.next("left", (f) => f.name === "lost");
  await watcher.next("left", (f) => f.name === "ghost", 3000);

  const m = await scrape(server.base);
  expect(m("chat_rate_limited_frames_total")).toBe(20);
  expect(m('chat_errors_total{code="rate_limited"}')).toBe(20);
  expect(m("chat_messages_stored_total")).toBe(3);
  expect(m('chat_sockets_closed_total{reason="flooding"}')).toBe(1);
  expect(m('chat_sockets_closed_total{reason="frame_too_big"}')).toBe(1);
  expect(m('chat_sockets_closed_total{reason="never_joined"}')).toBeGreaterThanOrEqual(1); // the lurker, maybe the two idle 10.0.0.5 sockets
  expect(m('chat_sockets_closed_total{reason="dead_peer"}')).toBe(1);
  expect(m('chat_sockets_closed_total{reason="slow_or_lost"}')).toBe(1);
  expect(m('chat_upgrades_refused_total{reason="origin"}')).toBe(1);
  expect(m('chat_upgrades_refused_total{reason="too_many_connections"}')).toBe(1);

  // The logs: one JSON object a line with time, level and event; never a message's text.
  const entries = lines.map((line) => JSON.parse(line));
  for (const entry of entries) {
    expect(typeof entry.time).toBe("string");
    expect(["debug", "info", "warn", "error"]).toContain(entry.level);
  }
  expect(lines.some((line) => line.includes("top secret"))).toBe(false);
  const events = entries.map((e) => `${e.level} ${e.event}`);
  expect(events).toContain("warn closed for flooding");
  expect(events).toContain("warn upgrade refused: origin");
  expect(events).toContain("warn upgrade refused: too many connections");
  expect(events).toContain("info closed: frame too big");
  expect(events).toContain("info closed dead peers");
  expect(events).toContain("info closed sockets that never joined");
  expect(events.filter((e) => e === "debug connected").length).toBe(8);
  expect(entries.find((e) => e.event === "closed for flooding")).toMatchObject({ client: "10.0.0.2", room: "lobby" });
});

test("the log level filters, and silent writes nothing", () => {
  const lines: string[] = [];
  const log = createLogger("warn", (line) => void lines.push(line));
  log.debug("a");
  log.info("b");
  log.warn("c", { n: 1 });
  log.error("d");
  expect(lines.map((l) => JSON.parse(l).event)).toEqual(["c", "d"]);
  expect(JSON.parse(lines[0]!)).toMatchObject({ level: "warn", event: "c", n: 1 });
  const none: string[] = [];
  const silent = createLogger("silent", (line) => void none.push(line));
  silent.error("x");
  expect(none).toEqual([]);
});
