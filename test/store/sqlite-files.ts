// SQLite stores on real files for the store's tests, closed after each test.
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { openSqliteStore } from "../../src/store/sqlite";
import { defer, tempDir } from "../helpers";

/** The store on a file (a new one unless given), with that file's path. */
export function open(path = join(tempDir(), "chat.db")) {
  const store = openSqliteStore(path);
  defer(() => store.close());
  return Object.assign(store, { file: path });
}

/** A connection of our own to the same file. */
export function peek(path: string) {
  const db = new Database(path);
  defer(() => db.close());
  return db;
}
