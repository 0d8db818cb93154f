// What one retention slice costs, by its size, on a copy of a database of expired messages
// (test/bench/expired.ts): the DELETE, the room counts, the COMMIT, and the WAL frames written.
// Not a test; run by hand:
//   bun test/bench/slice-cost.ts /tmp/expired.db 1000
import { Database } from "bun:sqlite";
import { copyFileSync, rmSync } from "node:fs";
import { writerSql } from "../../src/store/sqlite/writer-sql";

const [source, rowsArg = "1000", slicesArg = "300"] = process.argv.slice(2);
if (!source) throw new Error("usage: bun test/bench/slice-cost.ts EXPIRED_DB [ROWS] [SLICES]");
const [rows, slices] = [Number(rowsArg), Number(slicesArg)];
const sql = writerSql();
const path = `${source}.slice-cost`;
for (const suffix of ["-wal", "-shm"]) rmSync(path + suffix, { force: true });
copyFileSync(source, path);

// The writing connection's settings (src/store/sqlite/writer.ts).
const db = new Database(path);
db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY");
const pruneRange = db.prepare<{ upTo: number | null; rows: number }, [number, number]>(sql.pruneRange);
const pruneChunk = db.prepare<{ id: number; room: string }, [number, number, number]>(sql.pruneChunk);
const roomPruned = db.prepare(sql.roomPruned);
const roomEmptied = db.prepare(sql.roomEmptied);
const idFloor = db.prepare(sql.idFloor);

const ms = { delete: 0, rooms: 0, commit: 0 };
const cutoff = Date.now() - 86_400_000;
let after = 0; // as the sweep goes: each slice starts past the last id the one before looked at
for (let i = 0; i < slices; i++) {
  const started = performance.now();
  db.exec("BEGIN IMMEDIATE");
  const { upTo } = pruneRange.get(after, rows)!;
  const deleted = upTo === null ? [] : pruneChunk.all(after, upTo, cutoff);
  after = upTo ?? after;
  const deletedAt = performance.now();
  const perRoom = new Map<string, number>();
  let highest = 0;
  for (const { id, room } of deleted) {
    perRoom.set(room, (perRoom.get(room) ?? 0) + 1);
    highest = Math.max(highest, id);
  }
  idFloor.run(highest);
  for (const [room, count] of perRoom) {
    roomPruned.run(count, room);
    roomEmptied.run(room);
  }
  const countedAt = performance.now();
  db.exec("COMMIT");
  ms.delete += deletedAt - started;
  ms.rooms += countedAt - deletedAt;
  ms.commit += performance.now() - countedAt;
}
const { log: frames } = db.query("PRAGMA wal_checkpoint(PASSIVE)").get() as { log: number };
db.close();
for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
const per = (x: number) => +(x / slices).toFixed(3);
console.log(JSON.stringify({ rows, slices, delete_ms: per(ms.delete), rooms_ms: per(ms.rooms), commit_ms: per(ms.commit), frames: per(frames) }));
