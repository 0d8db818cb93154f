// The checkpointer thread (checkpointer.ts) as promises, seen from the event loop: started with
// the store, started again if it dies, never at the cost of the process.
import { closeSync, openSync } from "node:fs";
import type { CheckpointerReply, CheckpointerRequest } from "./wire";

// From source, the worker is beside this file. In the compiled binary every module's
// import.meta.url is the binary itself, and the worker (an extra entry point of the build, see
// package.json) sits where it sat below src/.
export const CHECKPOINTER = import.meta.url.includes("/$bunfs/") ? new URL("./store/sqlite/checkpointer.ts", import.meta.url) : new URL("./checkpointer.ts", import.meta.url);

/** Each kind of CheckpointerRequest without its `seq` (CheckpointerThread numbers them). */
type WithoutSeq<R> = R extends unknown ? Omit<R, "seq"> : never;
type Request = WithoutSeq<CheckpointerRequest>;

export interface ThreadControl {
  /** Whether the thread is running (or starting). */
  readonly running: boolean;
  /** Ends the thread at once, as a crash would: what it was doing is refused; the next write starts another. */
  kill(): void;
}

/**
 * Descriptors a new checkpointer needs: ~3 for the thread (its event loop, its code), 3 for its
 * connection (the database, its WAL and shared memory), 2 it reads the WAL's length with and 1
 * it reads the WAL ahead of the writer with (wal-read-ahead.ts), with room to spare.
 */
const THREAD_DESCRIPTORS = 12;

/**
 * The checkpointer worker as promises: started with the store, started again by the next write
 * or request if it dies or cannot open the database. A start never risks the process: with too
 * few file descriptors free, Bun ends the whole process instead of failing `new Worker`, so the
 * start checks for them first and refuses instead.
 */
export class CheckpointerThread implements ThreadControl {
  private worker?: Worker;
  private seq = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();

  constructor(
    private readonly url: URL,
    private readonly open: () => Request,
    private readonly onLost: () => void,
  ) {}

  get running() {
    return this.worker !== undefined;
  }

  /** Starts the thread unless it runs; false (and the next request tries again) if it could not. */
  start(): boolean {
    try {
      this.worker ??= this.spawn();
      return true;
    } catch {
      return false;
    }
  }

  request(request: Request): Promise<unknown> {
    let worker: Worker;
    try {
      worker = this.worker ??= this.spawn();
    } catch (error) {
      return Promise.reject(error);
    }
    const seq = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(seq, { resolve, reject });
      worker.postMessage({ ...request, seq });
    });
  }

  kill() {
    if (this.worker) this.lost(this.worker, new Error("store checkpointer killed"));
  }

  private spawn(): Worker {
    if (!descriptorsFree(THREAD_DESCRIPTORS)) throw new Error("store checkpointer cannot start: no file descriptors left (raise `ulimit -n`)");
    const worker = new Worker(this.url.href);
    // Kept ref()ed, so that a pending reply keeps the process alive; close() ends it.
    worker.onmessage = ({ data }: MessageEvent<CheckpointerReply>) => {
      const pending = this.pending.get(data.seq);
      if (!pending) return;
      this.pending.delete(data.seq);
      if ("error" in data) pending.reject(new Error(data.error));
      else pending.resolve(data.value);
    };
    // Whatever it was doing is lost (its transaction rolled back); the next request starts another.
    worker.onerror = (event) => this.lost(worker, new Error(`store checkpointer failed: ${event.message}`));
    worker.addEventListener("close", () => this.lost(worker, new Error("store checkpointer stopped")));
    // Posted first, so it is handled first: requests queue behind it. If it fails (the worker
    // then refuses what was queued behind it), this worker is dropped for a new one.
    const seq = ++this.seq;
    this.pending.set(seq, { resolve: () => {}, reject: (error) => this.lost(worker, error) });
    worker.postMessage({ ...this.open(), seq });
    return worker;
  }

  /** Drops a worker that failed: every request still waiting on it is refused. */
  private lost(worker: Worker, error: Error) {
    if (this.worker !== worker) return;
    this.worker = undefined;
    worker.terminate();
    this.onLost();
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const { reject } of pending) reject(error);
  }

  async stop() {
    const worker = this.worker;
    if (!worker) return;
    await this.request({ op: "close" }).catch(() => {});
    if (this.worker === worker) this.worker = undefined;
    worker.terminate();
  }
}

/** Whether `count` more file descriptors can be opened now (opened and closed again to find out). */
function descriptorsFree(count: number): boolean {
  const opened: number[] = [];
  try {
    for (let i = 0; i < count; i++) opened.push(openSync("/dev/null", "r"));
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code !== "EMFILE" && code !== "ENFILE"; // no /dev/null (a bare chroot): cannot tell, try
  } finally {
    for (const fd of opened) closeSync(fd);
  }
}
