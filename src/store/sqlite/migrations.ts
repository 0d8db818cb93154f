// Bun macros (imported `with { type: "macro" }`): they run when the code is bundled, so what they
// return is embedded in the compiled binary, and nothing is read or migrated from files at run time.
import { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import { readMigrationFiles } from "drizzle-orm/migrator";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const migrationsFolder = `${import.meta.dir}/../../../drizzle/sqlite`;

/** The SQL of drizzle/sqlite, for Drizzle's migrator. */
export function embeddedMigrations() {
  return readMigrationFiles({ migrationsFolder });
}

/**
 * A database file with every migration applied by Drizzle's migrator and no rows, in WAL mode,
 * as base64. A new database starts as a copy of it: replaying the migrations at start-up cost
 * ~4 ms (SQLite re-reads its schema after each DDL statement), writing 28 KB costs ~0.1.
 */
export function emptyDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), "chat-empty-db-"));
  try {
    const path = join(dir, "empty.db");
    const migrating = new Database(path, { create: true });
    migrate(drizzle({ client: migrating }), { migrationsFolder });
    // Another connection: after 0005 rebuilds the messages table, the migrator's own connection
    // (in rollback-journal mode) cannot switch to WAL ("database table is locked").
    migrating.close();
    const client = new Database(path);
    // WAL is recorded in the file's header; the checkpoint leaves the file complete on its own.
    client.exec("PRAGMA journal_mode = WAL; PRAGMA wal_checkpoint(TRUNCATE);");
    const bytes = readFileSync(path);
    client.close();
    return bytes.toString("base64");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
