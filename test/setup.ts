// Preloaded before every test file (bunfig.toml): one registry of cleanups, run after each test
// of every file. (An afterEach registered inside a shared module would bind to the first file
// that imported it only, and later files would leak servers and temp folders.)
import { afterEach } from "bun:test";

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Runs fn after the current test, last registered first. */
export const defer = (fn: () => unknown) => void cleanups.push(fn);
