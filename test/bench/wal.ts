// Watches a database's WAL file while a load runs: prints its size every second and, when the
// server exits (or after --seconds), the largest size seen. Not a test; run by hand:
//   bun test/bench/wal.ts --db /path/chat.db --pid 1234 [--seconds 90]
import { statSync } from "node:fs";

const arg = (name: string, fallback?: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : fallback!;
};
const wal = `${arg("db")}-wal`;
const pid = Number(arg("pid", "0"));
const until = Date.now() + Number(arg("seconds", "3600")) * 1000;
const alive = () => {
  if (!pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
let largest = 0;
let lastPrint = 0;
for (const started = Date.now(); alive() && Date.now() < until; await Bun.sleep(20)) {
  const size = statSync(wal, { throwIfNoEntry: false })?.size ?? 0;
  largest = Math.max(largest, size);
  if (Date.now() - lastPrint >= 1000) {
    lastPrint = Date.now();
    console.log(JSON.stringify({ s: Math.round((lastPrint - started) / 1000), wal_bytes: size, largest }));
  }
}
console.log(JSON.stringify({ largest_wal_bytes: largest, largest_mib: +(largest / 2 ** 20).toFixed(1) }));
