// A Bun macro (imported `with { type: "macro" }`): it runs when the code is bundled, so the
// SQL of drizzle/sqlite is embedded in the compiled binary and nothing is read at run time.
import { readMigrationFiles } from "drizzle-orm/migrator";

export function embeddedMigrations() {
  return readMigrationFiles({ migrationsFolder: `${import.meta.dir}/../../../drizzle/sqlite` });
}
