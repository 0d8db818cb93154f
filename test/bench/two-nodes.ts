// Two nodes on Redis against one node, same total load, with the shared bench's own load client
// (issue 13's target: two nodes >= 0.5x one node's deliveries/s, 0 lost, duplicated or out of
// order). Run by hand, after `npm run build`:
//   bun test/bench/two-nodes.ts fanout [--runs 3] [--bench ../shared/bench] [load.ts options]
//   bun test/bench/two-nodes.ts rooms --rate 2000 [--runs 3]
//
// It starts a PostgreSQL (test/pg.ts) and a redis-server of its own, then alternates, AB BA AB:
// one node (DATABASE_URL + REDIS_URL, all clients on it) and two nodes (clients split between
// them, so half of every room's members hear each message through Redis). load.ts drives a
// single URL; it runs here from a copy, patched so that client i connects to URL i % n and the
// server CPU is summed over every node's pid (see PATCHES; the copy fails loudly if load.ts
// changed under them). Prints each run's JSON, then medians side by side on stderr.
import { spawn, type Subprocess } from "bun";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startPostgres } from "../pg";
import { freePort } from "../ports";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  strict: false,
  options: { runs: { type: "string" }, bench: { type: "string" } },
});
const scenario = positionals[0];
if (scenario !== "fanout" && scenario !== "rooms") throw new Error("usage: bun test/bench/two-nodes.ts fanout|rooms [--runs K] [--bench DIR] [load.ts options]");
const runs = Number(values.runs ?? 3);
// The shared folder sits beside the checkout (or beside the folder of worktrees).
const benchDir = resolve(String(values.bench ?? ["../../../shared/bench", "../../../../shared/bench"].map((p) => join(import.meta.dir, p)).find((p) => existsSync(join(p, "load.ts"))) ?? "--bench DIR"));
const binary = resolve(join(import.meta.dir, "../../chat-server"));
// Everything else goes to load.ts as it is (--clients, --rate, --duration...).
const passOn = process.argv.slice(3).filter((arg, i, all) => !["--runs", "--bench"].includes(arg) && !["--runs", "--bench"].includes(all[i - 1]!));

// ---- load.ts, patched to spread its clients over several URLs ----

const PATCHES: [string, string][] = [
  [
    `const URL_BASE = (opt.url ?? "ws://127.0.0.1:3000").replace(/\\/$/, "");`,
    `const URLS = (opt.url ?? "ws://127.0.0.1:3000").split(",").map((u) => u.replace(/\\/$/, ""));\nconst URL_BASE = URLS.join(",");`,
  ],
  ["WsClient.connect(`${URL_BASE}/rooms/${this.room}/ws`)", "WsClient.connect(`${URLS[this.i % URLS.length]}/rooms/${this.room}/ws`)"],
  ["const PID = opt.pid ? Number(opt.pid) : undefined;", "const PIDS = opt.pid ? opt.pid.split(\",\").map(Number) : [];\nconst PID = PIDS[0];"],
  ["cpuSeconds(PID)", "PIDS.reduce((s, p) => s + cpuSeconds(p), 0)"],
];

function patchedLoad(): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "chat-two-nodes-"));
  for (const file of ["proc.ts", "wsclient.ts"]) copyFileSync(join(benchDir, file), join(dir, file));
  let source = readFileSync(join(benchDir, "load.ts"), "utf8");
  for (const [from, to] of PATCHES) {
    if (!source.includes(from)) throw new Error(`load.ts changed: "${from}" is gone; update PATCHES in ${import.meta.path}`);
    source = source.split(from).join(to);
  }
  writeFileSync(join(dir, "load.ts"), source);
  return { path: join(dir, "load.ts"), dir };
}

// ---- services and nodes ----

async function startRedis(): Promise<{ url: string; proc: Subprocess }> {
  const port = freePort();
  const proc = spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let log = "";
  while (!log.includes("Ready to accept connections")) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`redis-server did not start: ${log}`);
    log += new TextDecoder().decode(value);
  }
  void (async () => {
    while (!(await reader.read()).done);
  })();
  return { url: `redis://127.0.0.1:${port}`, proc };
}

interface Node {
  proc: Subprocess;
  url: string;
  dir: string;
}

async function startNode(env: Record<string, string>): Promise<Node> {
  const port = freePort();
  const dir = mkdtempSync(join(tmpdir(), "chat-node-"));
  const proc = spawn([binary], {
    cwd: dir,
    env: {
      PATH: process.env.PATH ?? "",
      PORT: String(port),
      HOST: "127.0.0.1",
      // All load comes from one address: the per-address limits would measure themselves.
      CHAT_RATE_LIMIT: "0",
      CHAT_JOIN_RATE: "0",
      CHAT_MAX_CONNECTIONS_PER_IP: "0",
      CHAT_MAX_HTTP_CONNECTIONS_PER_IP: "0",
      CHAT_LOG_LEVEL: "warn",
      ...env,
    },
    stdout: "inherit",
    stderr: "inherit",
  });
  for (const t0 = Date.now(); ; await Bun.sleep(20)) {
    if (proc.exitCode !== null) throw new Error(`chat-server exited (${proc.exitCode}) before it was healthy`);
    if (Date.now() - t0 > 30_000) throw new Error("chat-server not healthy within 30 s");
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
    if (ok) return { proc, url: `ws://127.0.0.1:${port}`, dir };
  }
}

async function stopNode(node: Node) {
  node.proc.kill("SIGTERM");
  await node.proc.exited;
  rmSync(node.dir, { recursive: true, force: true });
}

async function runOnce(load: string, count: number, env: Record<string, string>): Promise<any> {
  const nodes = [];
  for (let i = 0; i < count; i++) nodes.push(await startNode(env));
  try {
    const args = [load, scenario!, "--url", nodes.map((n) => n.url).join(","), "--pid", nodes.map((n) => n.proc.pid).join(","), ...passOn];
    const child = spawn([process.execPath, ...args], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(child.stdout).text();
    await child.exited;
    const line = out.trim().split("\n").at(-1)!;
    console.log(line);
    return JSON.parse(line);
  } finally {
    for (const node of nodes) await stopNode(node);
  }
}

// ---- the comparison ----

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
const FIGURES: Record<string, (r: any) => number> =
  scenario === "fanout"
    ? {
        deliveries_per_s: (r) => r.deliveries_per_s,
        stored_per_s: (r) => r.stored_per_s,
        "ack_ms p50": (r) => r.ack_ms.p50,
        "ack_ms p99": (r) => r.ack_ms.p99,
        server_cpu_us_per_msg: (r) => r.server_cpu_us_per_msg,
        "duplicate + out_of_order + stale": (r) => r.duplicate + r.out_of_order + r.stale,
      }
    : {
        acked_per_s: (r) => r.acked_per_s,
        "delivery_ms p50": (r) => r.delivery_ms.p50,
        "delivery_ms p99": (r) => r.delivery_ms.p99,
        "ack_ms p99": (r) => r.ack_ms.p99,
        server_cpu_us_per_msg: (r) => r.server_cpu_us_per_msg,
        "lost + duplicate + out_of_order + wrong_*": (r) => r.lost + r.duplicate + r.out_of_order + r.wrong_room + r.wrong_client_id,
      };

const { path: load, dir: loadDir } = patchedLoad();
const pg = await startPostgres();
const redis = await startRedis().catch(async (error) => {
  await pg.stop();
  throw error;
});
try {
  const env = { DATABASE_URL: await pg.createDatabase(), REDIS_URL: redis.url };
  const results: Record<"one" | "two", any[]> = { one: [], two: [] };
  for (let run = 0; run < runs; run++) {
    const order: ("one" | "two")[] = run % 2 ? ["two", "one"] : ["one", "two"];
    for (const side of order) {
      const out = await runOnce(load, side === "one" ? 1 : 2, env);
      if (out.error) throw new Error(`${side} node(s), run ${run + 1}: ${out.error}`);
      results[side].push(out.results);
    }
  }
  console.error(`\n${scenario}: one node vs two nodes on Redis (clients split), medians of ${runs} runs; min..max`);
  for (const [name, figure] of Object.entries(FIGURES)) {
    const one = results.one.map(figure), two = results.two.map(figure);
    const ratio = median(one) ? (median(two) / median(one)).toFixed(2) : "-";
    console.error(`  ${name.padEnd(40)} one ${median(one)} (${Math.min(...one)}..${Math.max(...one)})  two ${median(two)} (${Math.min(...two)}..${Math.max(...two)})  two/one ${ratio}`);
  }
} finally {
  redis.proc.kill("SIGTERM");
  await redis.proc.exited;
  await pg.stop();
  rmSync(loadDir, { recursive: true, force: true });
}
