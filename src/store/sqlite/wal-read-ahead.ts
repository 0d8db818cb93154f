// Keeps the WAL's next stretch in the page cache, from the checkpointer's thread, so that the
// writer's commits on the event loop never wait for a disk read.
//
// Why a write would read: a WAL frame is a 24-byte header and a page, so frames never line up
// with the kernel's 4 KiB pages, and every commit writes parts of pages. A page written in part
// must first be in the page cache; if it is not, ext4 reads it from the disk inside the write.
// Once the WAL starts over, the writer rewrites the old file from its start, and its pages may
// have left the cache meanwhile: on these machines DAMON's proactive reclaim pages out file
// cache it sees as idle, and it does not see writes. Measured before this (rooms, 2,000/s, 8 s):
// ~50 synchronous reads on the event loop a run, some of them several ms.
import { closeSync, openSync, readSync } from "node:fs";

/** SQLite's WAL header: the first frame starts after it. */
const WAL_HEADER_BYTES = 32;
/** How far ahead of the writer the WAL is kept warm: ~0.1 s of commits at 8,000 messages/s. */
const AHEAD_BYTES = 1 << 20;

/**
 * `ahead(frames)`, each tick with the WAL's frame count (the writer's next frame): reads the
 * stretch after it that was not read yet in this round of the WAL, and the WAL's first stretch
 * once per round, ready for when the WAL starts over. Reading what is cached costs a copy
 * (~20 us a MiB); what is not comes from the disk here, not in a commit.
 */
export function walReadAhead(walPath: string, frameBytes: number) {
  const scratch = Buffer.allocUnsafe(256 << 10);
  let fd: number | undefined;
  let lastFrames = 0;
  /** Bytes from the writer's position up to which this round was read. */
  let readTo = 0;
  let headRead = false;

  /** Reads [from, to) of the WAL (or up to its end); returns where it stopped. */
  const read = (from: number, to: number): number => {
    fd ??= openSync(walPath, "r");
    while (from < to) {
      const n = readSync(fd, scratch, 0, Math.min(scratch.length, to - from), from);
      if (n <= 0) break;
      from += n;
    }
    return from;
  };

  const close = () => {
    if (fd !== undefined) closeSync(fd);
    fd = undefined;
  };

  return {
    ahead(frames: number): void {
      if (frames < lastFrames) [readTo, headRead] = [0, false]; // the WAL started over
      lastFrames = frames;
      const at = WAL_HEADER_BYTES + frames * frameBytes;
      try {
        readTo = read(Math.max(readTo, at), at + AHEAD_BYTES);
        // The head, for the next round: once the writer is well past it.
        if (!headRead && at > 2 * AHEAD_BYTES) headRead = read(0, AHEAD_BYTES) > 0;
      } catch {
        close(); // no WAL file (yet, or any more): the next tick opens it again
      }
    },
    close,
  };
}
