// The store's checkpointer, on a worker thread of its own with a connection of its own: every
// fsync of the database happens here, off the event loop and off the commit path. The writing
// connection never checkpoints (wal_autocheckpoint=0); a WAL lets this one copy committed pages
// back into the database while the writer goes on appending.
import { Database, type Statement } from "bun:sqlite";
import { closeSync, fsyncSync, openSync, readlinkSync, readSync } from "node:fs";
import { setPriority } from "node:os";
import { requestSlice } from "../../event-loop-slice";
import { walIndex } from "./wal-index";
import { walReadAhead } from "./wal-read-ahead";
import type { CheckpointerReply, CheckpointerRequest } from "./wire";

declare const self: Worker;

/** How often the WAL's length is looked at (a pread of the wal-index). */
const TICK_MS = 25;
/** PASSIVE checkpoints at most this often: each fsyncs the WAL and the database. */
const CHECKPOINT_EVERY_MS = 100;
/**
 * A PASSIVE checkpoint once the WAL holds this much (SQLite's own default: 1,000 pages). Not
 * sooner: a checkpoint that catches up with an idle writer lets its next commit start the WAL
 * over, and starting over costs that commit an fsync of the WAL's new header (~0.5 ms).
 */
const CHECKPOINT_AT_BYTES = 4 << 20;
/**
 * A PASSIVE checkpoint never blocks the writer, but under a steady load some commit nearly always
 * lands while it runs, and the WAL starts over only when a checkpoint has caught up with all of
 * it: it would grow for ever. Past this, a RESTART checkpoint holds the writer back for the rest
 * of the copy and its fsyncs (2-4 ms measured), and the WAL starts over. Not TRUNCATE: cutting a
 * file of this size took 25-45 ms on this disk, all of it with the writer held back.
 */
const WAL_BOUND_BYTES = 32 << 20;
/**
 * Past the bound, a PASSIVE goes first (see checkpoint()), and the WAL grows while it runs. Past
 * this, the RESTART goes at once: a slow PASSIVE at 8,000 messages a second would otherwise let
 * the WAL reach the writer's hard bound (48 MiB, serial-writer.ts), where every commit waits.
 */
const WAL_RESTART_NOW_BYTES = 40 << 20;
/** With the writer idle this long, a WAL file longer than WAL_KEPT_BYTES is cut to nothing (TRUNCATE). */
const IDLE_MS = 1000;
const WAL_KEPT_BYTES = 4 << 20;

type Checkpointed = { busy: number; log: number; checkpointed: number };

let checkpointer: ReturnType<typeof openCheckpointer> | undefined;

self.onmessage = async ({ data: request }: MessageEvent<CheckpointerRequest>) => {
  let reply: CheckpointerReply;
  try {
    reply = { seq: request.seq, value: await handle(request) };
  } catch (error) {
    reply = { seq: request.seq, error: error instanceof Error ? error.message : String(error) };
  }
  postMessage(reply);
};

async function handle(request: CheckpointerRequest): Promise<unknown> {
  if (request.op === "open") {
    checkpointer = openCheckpointer(request.path, new Int32Array(request.wantsWriteLock), request.warm);
    return null;
  }
  if (request.op === "close") {
    checkpointer?.close();
    checkpointer = undefined;
    return null;
  }
  if (!checkpointer) throw new Error("checkpointer not open");
  return checkpointer.checkpoint(true);
}

/**
 * This thread's nice value (Linux). Its CPU work (copying pages back, between fsyncs) then gives
 * way to the event loop, and to whatever else shares the cores: rooms at 2,000/s, 11 runs a side,
 * delivery p99 median 1.13 against 1.34 ms at 0, commits over 1 ms 0.21% against 0.24%. It still
 * gets ~10% of a busy core, ample for checkpoints of a few ms; the writer's hard bound stays.
 */
const CHECKPOINTER_NICE = 10;

/** Lowers this thread's priority (its own, not the process's); a no-op where threads have no /proc. */
function lowerPriority() {
  try {
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (Number.isInteger(tid)) setPriority(tid, CHECKPOINTER_NICE);
  } catch {}
}

/**
 * Writes out what the page cache holds of the database file, here, before any checkpoint. A file
 * just copied or restored can have all of itself in the cache unwritten: the first checkpoint's
 * fsync then wrote ~100 MB (40-50 ms here after copying a 104 MB database), and when that
 * checkpoint was a RESTART, the writer waited for all of it. A no-op when nothing is unwritten.
 */
function flushFile(path: string) {
  try {
    const fd = openSync(path, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {} // no file yet: nothing to write out
}

/**
 * Reads a file through once, so that its pages are in the page cache. For the server's own
 * executable: JavaScriptCore's optimizing compilers run code of it that start-up never touched,
 * and the first time, a page fault reads it from the disk. On these machines the page cache keeps
 * little of a file not mapped (DAMON pages it out), and behind a checkpoint's writes such a read
 * took 250 ms, the JIT thread holding up the event loop meanwhile (caught during a retention
 * sweep: the JIT thread in `filemap_fault`, the main thread in a futex wait).
 */
function readThrough(file: string) {
  const chunk = Buffer.allocUnsafe(1 << 20);
  try {
    const fd = openSync(file, "r");
    try {
      while (readSync(fd, chunk, 0, chunk.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  } catch {} // nothing to warm
}

function openCheckpointer(path: string, wantsWriteLock: Int32Array, warm: string | undefined) {
  lowerPriority();
  requestSlice(0); // the kernel's default: a short slice is the event loop's (main.ts), not inherited here
  flushFile(path);
  if (warm) readThrough(warm);
  const client = new Database(path, { strict: true });
  // busy_timeout: RESTART and TRUNCATE wait here, on this thread, for the writer's current
  // commit. wal_autocheckpoint=0: this connection commits too (starting the WAL over), and SQLite
  // would checkpoint inside that commit, with the writer held back. No journal_size_limit (nor
  // on the writer): cutting the file down when the WAL starts over would happen with the writer
  // held back; it is cut when the writer is idle.
  client.exec("PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA wal_autocheckpoint = 0;");
  const frameBytes = (client.query("PRAGMA page_size").get() as { page_size: number }).page_size + 24;
  const passive = client.prepare<Checkpointed, []>("PRAGMA wal_checkpoint(PASSIVE)");
  const restart = client.prepare<Checkpointed, []>("PRAGMA wal_checkpoint(RESTART)");
  const truncate = client.prepare<Checkpointed, []>("PRAGMA wal_checkpoint(TRUNCATE)");
  /**
   * Runs work that takes the write lock. The writer commits every turn of a busy event loop and
   * SQLite's busy handler polls: it could miss every gap between commits. Raising the flag makes
   * the writer hold its next commit back (index.ts) until the work is done: a few ms.
   */
  const withWriteLock = <T>(work: () => T): T => {
    Atomics.store(wantsWriteLock, 0, 1);
    try {
      return work();
    } finally {
      Atomics.store(wantsWriteLock, 0, 0);
    }
  };
  const wal = walIndex(`${path}-shm`);
  const readAhead = walReadAhead(`${path}-wal`, frameBytes);

  const userVersion = client.prepare<{ user_version: number }, []>("PRAGMA user_version");
  /**
   * Writes the first frame of a WAL that was just checkpointed whole (the header page rewritten
   * as it is), so that the WAL starts over here: the fsync of its new header happens on this
   * thread while the writer holds back anyway, not in the writer's next commit on the event loop.
   */
  const startOver = client.transaction(() => void client.run(`PRAGMA user_version = ${userVersion.get()!.user_version}`));
  /** A checkpoint that waits for the writer's commit and holds the next ones back until the WAL starts over. */
  const whole = (mode: Statement<Checkpointed, []>) =>
    withWriteLock(() => {
      const done = mode.get()!;
      startOver.immediate();
      return done;
    });

  let lastPassive = 0;
  let lastFrames: number | undefined;
  let sameSince = performance.now();
  /**
   * Each tick: a PASSIVE checkpoint if the WAL is past its bound, or long enough and the last
   * one is not too recent (or `now`), then RESTART if it was past the bound; else, the writer
   * idle for a while, TRUNCATE a file left long by a busier time. The PASSIVE goes first even
   * past the bound: the RESTART, with the writer held back, then copies only what was committed
   * meanwhile, not up to 100 ms of it (holds during a retention sweep 3.2-6.0 against 4.2-8.8 ms),
   * unless the WAL is already near the writer's hard bound.
   */
  const checkpoint = (now = false): Checkpointed | undefined => {
    const frames = wal.frames();
    if (frames !== lastFrames) [lastFrames, sameSince] = [frames, performance.now()];
    if (frames !== undefined) readAhead.ahead(frames);
    const walBytes = (frames ?? 0) * frameBytes; // no wal-index yet: nothing to checkpoint
    if (walBytes > WAL_RESTART_NOW_BYTES) return whole(restart);
    if (now || walBytes > WAL_BOUND_BYTES || (walBytes >= CHECKPOINT_AT_BYTES && performance.now() - lastPassive >= CHECKPOINT_EVERY_MS)) {
      lastPassive = performance.now();
      // log: frames in the WAL since it last started over
      const done = passive.get()!;
      return done.log * frameBytes > WAL_BOUND_BYTES ? whole(restart) : done;
    }
    if (performance.now() - sameSince >= IDLE_MS && wal.bytes() > WAL_KEPT_BYTES) return whole(truncate);
    return undefined;
  };
  const timer = setInterval(() => {
    try {
      checkpoint();
    } catch {
      // SQLITE_BUSY past busy_timeout (a reader held an old snapshot all along): next tick
    }
  }, TICK_MS);

  return {
    checkpoint,
    close() {
      clearInterval(timer);
      wal.close();
      readAhead.close();
      client.close();
    },
  };
}
