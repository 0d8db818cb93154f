// A Bun macro (imported `with { type: "macro" }`): it runs when the code is bundled, so the SQL of
// drizzle/pg is embedded in the compiled binary and nothing is read from files at run time.
import { readMigrationFiles } from "drizzle-orm/migrator";

const migrationsFolder = `${import.meta.dir}/../../../drizzle/pg`;

/** The SQL of drizzle/pg, for Drizzle's migrator. */
export function embeddedMigrations() {
  return readMigrationFiles({ migrationsFolder });
}
