// A database holding N messages from 2020 (expired under any retention), for the retention-sweep
// benchmark (test/bench/README.md). Not a test; run by hand:
//   bun test/bench/expired.ts /tmp/expired.db [1000000]
import { Database } from "bun:sqlite";
import { openSqliteStore } from "../../src/store/sqlite";

const [path, count = "1000000"] = process.argv.slice(2);
if (!path) throw new Error("usage: bun test/bench/expired.ts DB_PATH [COUNT]");
await openSqliteStore(path).close(); // creates and migrates it
const db = new Database(path);
db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF");
const insert = db.prepare("INSERT INTO messages (room, name, message, timestamp, client_id) VALUES (?, ?, ?, ?, ?)");
const since = Date.UTC(2020, 0, 1);
db.transaction(() => {
  for (let i = 0; i < Number(count); i++) insert.run(`room-${i % 50}`, `user-${i % 400}`, `old message number ${i} with a little text`, since + i, `c-${i}`);
})();
db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
db.close();
await openSqliteStore(path).close(); // counts them in the rooms table, as the writer would have
