// The writing connection as the event loop uses it: one piece of work at a time, in call order,
// never sleeping in SQLite's busy handler, and never growing the WAL past its hard bound.
import type { walIndex } from "./wal-index";
import type { Writer } from "./writer";

/** How long a commit waits for the write lock (held by a checkpoint that starts the WAL over). */
const WRITE_LOCK_TIMEOUT_MS = 5000;

/**
 * The WAL's hard bound. The checkpointer starts the WAL over past 32 MiB (see checkpointer.ts),
 * but a thread that has not started yet, or gets no CPU on a loaded machine, cannot: a writer at
 * full speed once wrote 77 MB before the checkpointer's first tick. Past this bound a commit
 * waits (on a timer, like for the write lock) until a checkpoint has caught up, so that it
 * starts the WAL over instead of growing it.
 */
const WAL_HARD_BOUND_BYTES = 48 << 20;
/** A checkpointer that has not caught up by then is not coming (dead, or not started): the writer checkpoints itself. */
const WAL_WAIT_MS = 500;

/**
 * The writing connection, opened with the store (or by the first write). Work runs one piece at a
 * time in call order. While the checkpointer wants the write lock (to start the WAL over: a few
 * ms) or holds it, work waits on a timer: the event loop never sleeps in SQLite's busy handler.
 */
export class SerialWriter {
  private writer?: Writer;
  private last: Promise<unknown> = Promise.resolve();
  /** Work handed to run() and not finished yet: runNow() must not go before it. */
  private queued = 0;
  private readonly finished = () => void this.queued--;

  private frameBytes?: number;

  constructor(
    private readonly opener: () => Writer,
    private readonly wantsWriteLock: Int32Array,
    private readonly wal: ReturnType<typeof walIndex>,
  ) {}

  /** Opens the connection now if it is not open; false (and the next write tries again) if it could not. */
  open(): boolean {
    try {
      this.writer ??= this.opener();
      return true;
    } catch {
      return false;
    }
  }

  /** The writer's rooms not counted in the rooms table yet (none while it is not open). */
  get pendingRooms(): Writer["pendingRooms"] {
    return this.writer?.pendingRooms ?? NONE;
  }

  run<T>(work: (writer: Writer) => T): Promise<T> {
    this.queued++;
    const next = this.last.then(() => this.now(work));
    this.last = next.then(this.finished, this.finished);
    return next;
  }

  /**
   * The work done now, when nothing is queued before it and nothing holds it back; else
   * HELD_BACK (and nothing was done: run() it instead).
   */
  runNow<T>(work: (writer: Writer) => T): T | typeof HELD_BACK {
    if (this.queued) return HELD_BACK;
    return this.attempt((this.writer ??= this.opener()), work, performance.now());
  }

  /** The work, done now when nothing holds it back (the usual case: no promise of its own), or later. */
  private now<T>(work: (writer: Writer) => T): T | Promise<T> {
    const writer = (this.writer ??= this.opener());
    const started = performance.now();
    const done = this.attempt(writer, work, started);
    return done === HELD_BACK ? this.later(writer, work, started) : done;
  }

  /** Tries again every millisecond until nothing holds the work back, or WRITE_LOCK_TIMEOUT_MS. */
  private async later<T>(writer: Writer, work: (writer: Writer) => T, started: number): Promise<T> {
    for (;;) {
      if (performance.now() - started > WRITE_LOCK_TIMEOUT_MS) throw new Error("database is locked");
      await new Promise((resolve) => setTimeout(resolve, 1));
      const done = this.attempt(writer, work, started);
      if (done !== HELD_BACK) return done;
    }
  }

  /** The work's result, or HELD_BACK: the checkpointer wants or holds the write lock, or the WAL is at its bound. */
  private attempt<T>(writer: Writer, work: (writer: Writer) => T, waitingSince: number): T | typeof HELD_BACK {
    try {
      if (Atomics.load(this.wantsWriteLock, 0) === 0 && this.walHasRoom(writer, waitingSince)) return work(writer);
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
    }
    return HELD_BACK;
  }

  /**
   * Whether a commit may go on without growing the WAL past its hard bound: the WAL is shorter,
   * or a checkpoint has copied all of it back (the commit then starts it over). A pread of the
   * wal-index, ~1 us. A writer that waited WAL_WAIT_MS for the checkpointer checkpoints itself.
   */
  private walHasRoom(writer: Writer, waitingSince: number): boolean {
    const frames = this.wal.frames();
    if (frames === undefined || frames * (this.frameBytes ??= pageSize(writer) + 24) < WAL_HARD_BOUND_BYTES) return true;
    if (this.wal.pending() === 0) return true;
    if (performance.now() - waitingSince < WAL_WAIT_MS) return false;
    writer.client.exec("PRAGMA wal_checkpoint(PASSIVE)"); // fsyncs here, on the event loop: only when the checkpointer is gone
    return true;
  }

  async close() {
    await this.last;
    this.wal.close();
    this.writer?.client.close();
    this.writer = undefined;
  }
}

const NONE: Writer["pendingRooms"] = new Map();
export const HELD_BACK = Symbol("held back");

function pageSize(writer: Writer): number {
  return (writer.client.query("PRAGMA page_size").get() as { page_size: number }).page_size;
}
