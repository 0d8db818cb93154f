import { defineConfig } from "drizzle-kit";

// PostgreSQL's schema and migrations (DATABASE_URL); SQLite's are in ./config.ts.
export default defineConfig({
  dialect: "postgresql",
  schema: "./src/store/pg/schema.ts",
  out: "./drizzle/pg",
});
