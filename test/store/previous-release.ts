// A database as an earlier release left it: the migrations before a given one only (by default
// 0003, the rooms table), recorded as Drizzle's migrator records them.
import { Database } from "bun:sqlite";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const MIGRATIONS_DIR = join(import.meta.dir, "..", "..", "drizzle", "sqlite");
const journal = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta", "_journal.json"), "utf8")) as { entries: { tag: string; when: number }[] };

/** Creates the file with the previous release's schema; the caller closes the connection. */
export function previousReleaseDatabase(path: string, before = "0003"): Database {
  const db = new Database(path, { create: true });
  db.exec(`CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
  for (const entry of journal.entries.filter((e) => e.tag < before)) {
    const text = readFileSync(join(MIGRATIONS_DIR, `${entry.tag}.sql`), "utf8");
    for (const statement of text.split("--> statement-breakpoint")) db.exec(statement);
    db.query(`INSERT INTO "__drizzle_migrations" ("hash", "created_at") VALUES (?, ?)`).run(createHash("sha256").update(text).digest("hex"), entry.when);
  }
  return db;
}
