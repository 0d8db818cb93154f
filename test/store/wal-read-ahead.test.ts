// The checkpointer reads the WAL ahead of the writer, so that a commit never waits for a disk
// read of a page it writes in part (see wal-read-ahead.ts). Checked on a real file with the page
// cache itself: its pages are dropped (dd's nocache), then counted (util-linux's fincore).
import { expect, test } from "bun:test";
import { fsyncSync, openSync, closeSync, writeSync } from "node:fs";
import { join } from "node:path";
import { walReadAhead } from "../../src/store/sqlite/wal-read-ahead";
import { defer, tempDir } from "../helpers";

const MiB = 1 << 20;
const FRAME = 4096 + 24;

function walFile(bytes: number, path = join(tempDir(), "chat.db-wal")): string {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(MiB, 7);
  for (let at = 0; at < bytes; at += MiB) writeSync(fd, chunk, 0, Math.min(MiB, bytes - at), at);
  fsyncSync(fd); // only clean pages can be dropped
  closeSync(fd);
  return path;
}

function dropCache(path: string) {
  expect(Bun.spawnSync(["dd", `if=${path}`, "iflag=nocache", "count=0", "status=none"]).exitCode).toBe(0);
  // A file system that cannot drop them (tmpfs) cannot show what the read-ahead does.
  expect(cached(path)).toBe(0);
}

function cached(path: string): number {
  const out = Bun.spawnSync(["fincore", "--bytes", "--noheadings", "--output", "RES", path]);
  expect(out.exitCode).toBe(0);
  return Number(out.stdout.toString().trim());
}

function readAhead(path: string) {
  const it = walReadAhead(path, FRAME);
  defer(() => it.close());
  return it;
}

// The kernel reads ahead of a read too (up to a few MiB): hence the bounds, not exact sizes.
test("the MiB after the writer's next frame is read into the page cache, not the whole file", () => {
  const path = walFile(32 * MiB);
  dropCache(path);
  const wal = readAhead(path);
  wal.ahead(100); // the writer is at 32 + 100 frames (~0.4 MiB): not yet past the head's stretch
  expect(cached(path)).toBeGreaterThanOrEqual(MiB);
  expect(cached(path)).toBeLessThan(16 * MiB);
});

test("what was read in this round of the WAL is not read again; once the WAL starts over, it is", () => {
  const path = walFile(8 * MiB);
  const wal = readAhead(path);
  wal.ahead(100);
  dropCache(path);
  wal.ahead(110); // 40 KiB further: only the last 40 KiB of its MiB ahead were not read yet
  expect(cached(path)).toBeLessThan(MiB);
  wal.ahead(10); // fewer frames than before: the WAL started over from its head
  expect(cached(path)).toBeGreaterThanOrEqual(MiB);
});

test("the WAL's head is read once a round, when the writer is well past it: ready for when the WAL starts over", () => {
  // The file ends 64 KiB after the stretch ahead: the kernel's own read-ahead stops there.
  const past = Math.ceil((3 * MiB) / FRAME); // the writer at ~3 MiB
  const path = walFile(32 + past * FRAME + MiB + 64 * 1024);
  dropCache(path);
  const wal = readAhead(path);
  wal.ahead(past);
  expect(cached(path)).toBeGreaterThanOrEqual(2 * MiB); // the MiB ahead and the head
  dropCache(path);
  wal.ahead(past + 1);
  expect(cached(path)).toBeLessThan(MiB); // one frame further: not the head again
});

test("no WAL file yet: nothing is read and nothing throws; it is read once it exists", () => {
  const path = join(tempDir(), "chat.db-wal");
  const wal = readAhead(path);
  expect(() => wal.ahead(0)).not.toThrow();
  walFile(4 * MiB, path);
  dropCache(path);
  wal.ahead(1);
  expect(cached(path)).toBeGreaterThanOrEqual(MiB);
});
