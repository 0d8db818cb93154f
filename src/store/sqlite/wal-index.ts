// The WAL's state as SQLite keeps it in the wal-index (the -shm file), read with a pread: what
// the checkpointer looks at each tick, and what the writer looks at before each commit when the
// WAL has grown past its hard bound. See https://www.sqlite.org/walformat.html.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { endianness } from "node:os";

/**
 * How many frames the WAL holds (`mxFrame`, a 32-bit integer in native byte order at byte 16
 * of the header) and how many of them are copied back into the database (`nBackfill`, at byte
 * 96, the checkpoint info after the header's two copies). One pread instead of a checkpoint call;
 * a torn read only moves one decision by a tick. undefined when there is no such file to read.
 */
export function walIndex(shmPath: string) {
  const header = Buffer.alloc(100);
  let fd: number | undefined;
  let walFd: number | undefined;
  const close = () => {
    if (fd !== undefined) closeSync(fd);
    if (walFd !== undefined) closeSync(walFd);
    fd = walFd = undefined;
  };
  const read = (at: number, fresh = true): number | undefined => {
    try {
      fd ??= openSync(shmPath, "r");
      if (fresh && readSync(fd, header, 0, 100, 0) < 100) return undefined;
      return endianness() === "LE" ? header.readUInt32LE(at) : header.readUInt32BE(at);
    } catch {
      close();
      return undefined;
    }
  };
  return {
    frames(): number | undefined {
      return read(16);
    },
    /** Frames the WAL holds that no checkpoint has copied back yet. */
    pending(): number | undefined {
      const frames = read(16);
      const backfilled = read(96, false);
      return frames === undefined || backfilled === undefined ? frames : Math.max(0, frames - backfilled);
    },
    /** The -wal file's length in bytes (0 if there is none to read). */
    bytes(): number {
      try {
        walFd ??= openSync(shmPath.replace(/-shm$/, "-wal"), "r");
        return fstatSync(walFd).size;
      } catch {
        close();
        return 0;
      }
    },
    close,
  };
}
