// A throwaway PostgreSQL for benchmarks run by hand (test/pg.ts: initdb in a temp folder, a free
// loopback port, fsync off, as in the tests): prints a fresh database's URL, serves until Ctrl-C,
// then stops and removes it.
//   bun test/bench/postgres.ts
import { startPostgres } from "../pg";

const pg = await startPostgres();
console.log(`DATABASE_URL=${await pg.createDatabase()}`);
console.error("PostgreSQL is up; Ctrl-C stops it and removes its folder.");
const stop = async () => {
  await pg.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
setInterval(() => {}, 1 << 30); // alive until stopped
