// WAL frames and time per one-message commit for the messages table as shipped (a rowid table and
// its (room, id) index) against a clustered one (WITHOUT ROWID, primary key (room, id)): the
// next lever the lab notes name for the WAL's growth. Not a test; run by hand:
//   bun test/bench/clustered-layout.ts [DIR]
import { Database } from "bun:sqlite";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = process.argv[2] ?? tmpdir();
const ROOMS = 50;
const PREFILLED = 200_000;
const COMMITS = 20_000;
const LAYOUTS = {
  rowid:
    "CREATE TABLE messages (id INTEGER PRIMARY KEY, room TEXT NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL, timestamp INTEGER NOT NULL, client_id TEXT, user_id TEXT); CREATE INDEX messages_room_id ON messages (room, id);",
  clustered:
    "CREATE TABLE messages (id INTEGER NOT NULL, room TEXT NOT NULL, name TEXT NOT NULL, message TEXT NOT NULL, timestamp INTEGER NOT NULL, client_id TEXT, user_id TEXT, PRIMARY KEY (room, id)) WITHOUT ROWID;",
};

for (const [layout, schema] of Object.entries(LAYOUTS)) {
  const path = join(dir, `clustered-layout-${layout}.db`);
  const remove = () => ["", "-wal", "-shm"].forEach((suffix) => rmSync(path + suffix, { force: true }));
  remove();
  const db = new Database(path);
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0");
  db.exec(schema);
  const insert = db.prepare("INSERT INTO messages (id, room, name, message, timestamp, client_id) VALUES (?, ?, ?, ?, ?, ?)");
  let id = 0;
  const row = () => (id++, [id, `room-${id % ROOMS}`, `user-${id % 400}`, `message number ${id} with a little text`, id, `c-${id}`] as const);
  db.transaction(() => {
    for (let i = 0; i < PREFILLED; i++) insert.run(...row());
  })();
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  const commit = db.transaction(() => void insert.run(...row()));
  const started = performance.now();
  for (let i = 0; i < COMMITS; i++) commit.immediate();
  const us = ((performance.now() - started) / COMMITS) * 1000;
  const { log: frames } = db.query("PRAGMA wal_checkpoint(PASSIVE)").get() as { log: number };
  db.close();
  remove();
  console.log(JSON.stringify({ layout, commit_us: +us.toFixed(1), frames_per_commit: +(frames / COMMITS).toFixed(2) }));
}
