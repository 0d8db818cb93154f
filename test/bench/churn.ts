// Memory over a long run: R rounds of N connect/join/leave cycles against a running server,
// printing the server's RSS after each round. Not a test (no timing asserts); run by hand:
//   bun test/bench/churn.ts --url ws://127.0.0.1:3000 --pid 1234 [--rounds 10 --cycles 1000]
import { readFileSync } from "node:fs";

const arg = (name: string, fallback?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback!;
};
const url = arg("url");
const pid = Number(arg("pid"));
const rounds = Number(arg("rounds", "10"));
const cycles = Number(arg("cycles", "1000"));
const parallel = 50;

const rssMiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

function cycle(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/rooms/churn-${i % 20}/ws`);
    ws.onopen = () => ws.send(JSON.stringify({ type: "join", name: `user-${i}` }));
    ws.onmessage = (e) => {
      if (JSON.parse(String(e.data)).type === "history") ws.close();
    };
    ws.onclose = () => resolve();
    ws.onerror = () => reject(new Error("socket error"));
  });
}

const results: number[] = [];
for (let r = 1; r <= rounds; r++) {
  for (let done = 0; done < cycles; done += parallel) {
    await Promise.all(Array.from({ length: Math.min(parallel, cycles - done) }, (_, k) => cycle(done + k)));
  }
  results.push(rssMiB());
  console.log(`round ${r}: server RSS ${results.at(-1)!.toFixed(1)} MiB`);
}
console.log(`last - round 2: ${(results.at(-1)! - results[1]!).toFixed(1)} MiB`);
