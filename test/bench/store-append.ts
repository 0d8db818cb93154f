// Append throughput of the two stores side by side: rows/s for batches of 1 to 1,000 rows (each
// one transaction), with a clientId on every row (as the client sends) or none. PostgreSQL is a
// server of its own started here (test/pg.ts), on loopback, fsync off. Run by hand:
//   bun test/bench/store-append.ts [--seconds 2]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Draft, MessageStore } from "../../src/rooms/ports";
import { openPgStore } from "../../src/store/pg";
import { openSqliteStore } from "../../src/store/sqlite";
import { startPostgres } from "../pg";

const i = process.argv.indexOf("--seconds");
const seconds = i > 0 ? Number(process.argv[i + 1]) : 2;
const text = "a message of an ordinary length, about sixty characters long";

async function measure(store: MessageStore, batch: number, clientIds: boolean): Promise<number> {
  let n = 0;
  const draft = (): Draft => ({ room: `room${n % 20}`, name: "ada", message: text, timestamp: Date.now(), clientId: clientIds ? `c${n++}` : (n++, undefined) });
  await store.append(Array.from({ length: batch }, draft)); // warm
  const started = performance.now();
  let rows = 0;
  while (performance.now() - started < seconds * 1000) {
    await store.append(Array.from({ length: batch }, draft));
    rows += batch;
  }
  return rows / ((performance.now() - started) / 1000);
}

const pg = await startPostgres();
const dir = mkdtempSync(join(tmpdir(), "bench-store-"));
try {
  console.log("store     batch  clientIds  rows/s");
  for (const clientIds of [true, false]) {
    for (const batch of [1, 10, 100, 1000]) {
      const sqlite = openSqliteStore(join(dir, `${batch}-${clientIds}.db`));
      const postgres = await openPgStore(await pg.createDatabase());
      for (const [name, store] of [["sqlite", sqlite], ["postgres", postgres]] as const) {
        const rate = await measure(store, batch, clientIds);
        console.log(`${name.padEnd(9)} ${String(batch).padStart(5)}  ${String(clientIds).padEnd(9)}  ${Math.round(rate)}`);
      }
      await sqlite.close();
      await postgres.close();
    }
  }
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
