// The limits as the compiled ./chat-server applies them from its environment, and its own
// memory (VmRSS of the server process, not of the test) under a fuzz and a slow consumer.
import { expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { Client, startBinary } from "../helpers";
import { generator, prng, SEED } from "./fuzz-frames";
import { RawClient, until } from "./raw";

const serverRssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

async function upgradeStatus(url: string, headers: Record<string, string>) {
  try {
    (await RawClient.connect(url, { headers })).end();
    return 101;
  } catch (error) {
    return Number(/HTTP\/1\.1 (\d+)/.exec(String(error))?.[1] ?? NaN);
  }
}

async function metricsOf(base: string) {
  const text = await (await fetch(`${base}/metrics`)).text();
  return (key: string) => Number(new RegExp(`^${key.replace(/[{}"]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1]);
}

test("binary: origin, per-IP cap, frame size, rate limit and logs from the environment", async () => {
  const server = await startBinary({
    env: {
      CHAT_ORIGINS: "https://ok.example",
      CHAT_MAX_CONNECTIONS_PER_IP: "3",
      CHAT_MAX_FRAME_BYTES: "2048",
      CHAT_TRUST_PROXY: "true",
      CHAT_RATE_LIMIT: "1",
      CHAT_RATE_BURST: "2",
      CHAT_LOG_LEVEL: "debug",
    },
  });
  const url = server.wsUrl("lobby");
  expect(await upgradeStatus(url, { Origin: "http://evil.example" })).toBe(403);
  expect(await upgradeStatus(url, { Origin: "https://ok.example" })).toBe(101);
  const ip = (n: number) => ({ headers: { "X-Forwarded-For": `10.0.0.${n}` } });
  const a = await Client.open(url, ip(1));
  await Client.open(url, ip(1));
  await Client.open(url, ip(1));
  expect(await upgradeStatus(url, { "X-Forwarded-For": "10.0.0.1" })).toBe(429);
  a.send({ type: "join", name: "ada" });
  await a.next("joined");
  for (let i = 0; i < 3; i++) a.send({ type: "message", message: `private ${i}`, clientId: `c${i}` });
  // The refusal is immediate and the acks follow their commit, but frames may arrive over
  // several turns: take the three answers in whatever order they come.
  const answers = new Map<string, any>();
  while (answers.size < 3) {
    const f = await a.next(undefined, (f) => f.clientId !== undefined);
    answers.set(f.clientId, f);
  }
  expect(answers.get("c2")).toMatchObject({ type: "error", code: "rate_limited" });
  expect(answers.get("c2").retryAfter).toBeGreaterThan(0);
  expect([answers.get("c0").type, answers.get("c1").type]).toEqual(["message", "message"]);
  const big = await Client.open(url, ip(2));
  big.send("x".repeat(3000));
  expect((await big.waitClose()).code).toBe(1009);

  const m = await metricsOf(server.base);
  expect(m("chat_messages_stored_total")).toBe(2);
  expect(m("chat_store_batch_size_sum")).toBe(2); // the store's onCommit is wired in main.ts
  expect(m("chat_rate_limited_frames_total")).toBe(1);
  expect(m('chat_upgrades_refused_total{reason="origin"}')).toBe(1);
  expect(m('chat_upgrades_refused_total{reason="too_many_connections"}')).toBe(1);
  expect(m('chat_sockets_closed_total{reason="frame_too_big"}')).toBe(1);

  await until(() => server.lines.some((l) => l.includes("closed: frame too big")), 2000, "the log line");
  const entries = server.lines.map((l) => JSON.parse(l));
  expect(entries.filter((e) => e.event === "connected" && e.level === "debug").length).toBe(5);
  expect(entries.some((e) => e.event === "upgrade refused: origin" && e.level === "warn" && e.origin === "http://evil.example")).toBe(true);
  expect(server.lines.some((l) => l.includes("private"))).toBe(false);
});

test("binary: server memory stays bounded under a fuzz and a reader that never reads", async () => {
  const server = await startBinary({ env: { CHAT_RATE_LIMIT: "0", CHAT_MAX_CONNECTIONS_PER_IP: "0", CHAT_LOG_LEVEL: "info" } /* startBinary waits for the info line "listening" */ });
  const pid = server.proc.pid;
  const url = server.wsUrl("lobby");
  const bystander = await Client.joined(url, "bystander");
  const start = serverRssMiB(pid);

  // Fuzz: 20 sockets x 150 frames.
  const next = generator(prng(SEED + 7));
  await Promise.all(
    Array.from({ length: 20 }, async (_, s) => {
      const ws = new WebSocket(url);
      await new Promise((resolve, reject) => ((ws.onopen = resolve), (ws.onerror = reject)));
      const closed = new Promise((resolve) => (ws.onclose = resolve));
      ws.send(JSON.stringify({ type: "join", name: `fz${s}` }));
      for (let i = 0; i < 150 && ws.readyState === WebSocket.OPEN; i++) {
        ws.send(next());
        if (i % 25 === 0) await Bun.sleep(0);
      }
      ws.close();
      await closed;
    }),
  );
  expect((await fetch(`${server.base}/health`)).status).toBe(200);
  const afterFuzz = serverRssMiB(pid);

  // A reader that stops reading while the room sends ~12 MB.
  const sloth = await RawClient.connect(url);
  sloth.send({ type: "join", name: "sloth" });
  await sloth.waitText((f) => f.type === "joined" && f.name === "sloth");
  sloth.socket.pause();
  const talker = await Client.joined(url, "talker");
  const text = "y".repeat(1900);
  let mid = 0;
  for (let round = 0; round < 30; round++) {
    if (round === 15) mid = serverRssMiB(pid);
    for (let i = 0; i < 200; i++) talker.send({ type: "message", message: text, clientId: `t${round}-${i}` });
    await talker.next("message", (f) => f.clientId === `t${round}-199`, 10_000);
    talker.frames.length = 0; // keep the test's own memory flat
    (talker as any).cursor = 0;
  }
  const peak = serverRssMiB(pid);
  const m = await metricsOf(server.base);
  expect(m('chat_sockets_closed_total{reason="slow_or_lost"}')).toBe(1);
  expect((await fetch(`${server.base}/health`)).status).toBe(200);
  expect(bystander.closed).toBeUndefined();
  console.log(`binary server RSS: ${start.toFixed(0)} MiB at start, ${afterFuzz.toFixed(0)} after 3000 fuzz frames, ${mid.toFixed(0)} after 3000 x 2 KB messages with a stalled reader, ${peak.toFixed(0)} after 6000`);
  expect(afterFuzz - start).toBeLessThan(64);
  expect(peak - start).toBeLessThan(128);
  expect(peak - mid).toBeLessThan(24); // a plateau: the stalled reader's share stopped growing
}, 30_000);

test("binary: a burst of joins, then a quiet second: one full collection, logged and counted (CHAT_IDLE_GC_AFTER)", async () => {
  const server = await startBinary({ env: { CHAT_IDLE_GC_AFTER: "100", CHAT_MAX_CONNECTIONS_PER_IP: "0" } });
  const joined = (n: number, from: number) => Promise.all(Array.from({ length: n }, (_, i) => Client.joined(server.wsUrl(`burst-${(from + i) % 10}`), `u${from + i}`)));
  for (let from = 0; from < 150; from += 50) await joined(50, from);
  await until(() => server.lines.some((l) => l.includes('"idle collection"')), 5000, "the idle collection's log line");
  const entry = server.lines.map((l) => JSON.parse(l)).find((e) => e.event === "idle collection");
  expect(entry).toMatchObject({ level: "info", connections: 150 });
  expect(entry.ms).toBeGreaterThan(0);
  expect((await metricsOf(server.base))("chat_idle_collections_total")).toBe(1);
}, 15_000);

/** A thread's scheduler slice in ns (se.slice in /proc/.../sched; Linux 6.12+ honours a custom one). */
const sliceOf = (path: string) => Number(/se\.slice\s+:\s+(\d+)/.exec(readFileSync(`${path}/sched`, "utf8"))![1]);
const threadsNamed = (pid: number, name: string) => readdirSync(`/proc/${pid}/task`).filter((tid) => readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() === name);

test("binary: the event loop's thread asks for 300 us slices, and the checkpointer's keeps the kernel's (CHAT_EVENT_LOOP_SLICE_US)", async () => {
  const kernelDefault = sliceOf("/proc/thread-self"); // this test never asked for one
  expect(kernelDefault).not.toBe(300_000);
  const server = await startBinary();
  const pid = server.proc.pid;
  expect(server.lines.map((l) => JSON.parse(l)).find((e) => e.event === "listening")).toMatchObject({ eventLoopSliceUs: 300 });
  expect(sliceOf(`/proc/${pid}/task/${pid}`)).toBe(300_000);
  // The first write starts the checkpointer thread (a worker), started by the event loop's thread.
  const ada = await Client.joined(server.wsUrl("lobby"), "ada");
  ada.send({ type: "message", message: "hello", clientId: "c1" });
  await ada.next("message");
  await until(() => threadsNamed(pid, "Worker").length === 1, 5000, "the checkpointer thread");
  const [checkpointer] = threadsNamed(pid, "Worker");
  await until(() => sliceOf(`/proc/${pid}/task/${checkpointer}`) === kernelDefault, 5000, "the checkpointer's slice back at the kernel's default");

  const off = await startBinary({ env: { CHAT_EVENT_LOOP_SLICE_US: "0" } });
  expect(off.lines.map((l) => JSON.parse(l)).find((e) => e.event === "listening").eventLoopSliceUs).toBeUndefined();
  expect(sliceOf(`/proc/${off.proc.pid}/task/${off.proc.pid}`)).toBe(kernelDefault);
}, 15_000);
