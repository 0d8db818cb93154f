// Start-up of compiled binaries, side by side: each run spawns one in a new empty folder and
// times spawn -> the first 200 from GET /health (polled every millisecond); the binaries take
// turns, so a noisy minute hits them alike. Not a test; run by hand:
//   bun test/bench/startup.ts ./chat-server /tmp/older-chat-server [--runs 40]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const args = process.argv.slice(2);
const runsAt = args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 40;
const binaries = args.map((b) => resolve(b));
if (!binaries.length) throw new Error("usage: bun test/bench/startup.ts BINARY... [--runs N]");

/** One start; a run whose random port was taken meanwhile (exit 1, "cannot listen") is run again. */
async function once(binary: string, attempts = 3): Promise<number> {
  try {
    return await start(binary);
  } catch (error) {
    if (attempts <= 1 || !String(error).includes("exited with 1")) throw error;
    return once(binary, attempts - 1);
  }
}

async function start(binary: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "chat-startup-"));
  const port = 40000 + Math.floor(Math.random() * 20000);
  const started = performance.now();
  const proc = Bun.spawn([binary, "--port", String(port), "--host", "127.0.0.1"], { cwd: dir, stdout: "ignore", stderr: "ignore" });
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`${binary} exited with ${proc.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false);
      if (ok) return performance.now() - started;
      if (performance.now() - started > 10_000) throw new Error(`${binary}: no healthy /health within 10 s`);
      await Bun.sleep(1);
    }
  } finally {
    proc.kill();
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

const times = new Map<string, number[]>(binaries.map((b) => [b, []]));
for (let i = 0; i < runs; i++) for (const binary of binaries) times.get(binary)!.push(await once(binary));

const at = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
for (const [binary, t] of times) {
  t.sort((a, b) => a - b);
  console.log(`${binary.padEnd(32)} median ${at(t, 0.5)} ms  p25 ${at(t, 0.25)}  p75 ${at(t, 0.75)}  min ${t[0]!.toFixed(1)}  (${t.length} runs)`);
}
