// A full garbage collection when the server goes quiet after many sockets opened. A join leaves
// ~20 KB of garbage behind (its frames, promises, the upgrade's request); JavaScriptCore's own
// collections are mostly young-generation ones, so after a burst of joins the heap keeps its peak
// and resident memory stays about twice what is live. One full collection at a quiet moment gives
// it back (5.2 -> 4.3 KiB of RSS per idle connection in the shared bench). The collection stops
// the event loop (~12 ms for 5,000 sockets, growing with the live heap), hence the conditions:
// only when nothing was received for a whole tick, and only after at least `after` sockets, and
// at least half as many as are open, opened since the last one: its cost per socket opened stays
// bounded however many stay connected.

export interface IdleCollectOptions {
  /** Counters that only grow: sockets opened and frames received so far. */
  activity(): { opened: number; frames: number };
  /** Sockets open now. */
  open(): number;
  /** Sockets opened since the last collection before the next may run; 0: never. */
  after: number;
  /** The collection itself (the binary: Bun.gc(true)). */
  collect(): void;
  /** Told after each collection, with how long it stopped the event loop. */
  collected?(ms: number, open: number): void;
}

/** The policy, one tick at a time (tests call it; `startIdleCollector` calls it every second). */
export function idleCollector(options: IdleCollectOptions) {
  let seen = { opened: 0, frames: 0 };
  let openedAtLast = 0;
  return {
    /** True when this tick collected. */
    tick(): boolean {
      const now = options.activity();
      const quiet = now.opened === seen.opened && now.frames === seen.frames;
      seen = now;
      if (!quiet || options.after <= 0) return false;
      const opened = now.opened - openedAtLast;
      const open = options.open();
      if (opened < options.after || opened < open / 2) return false;
      openedAtLast = now.opened;
      const started = performance.now();
      options.collect();
      options.collected?.(performance.now() - started, open);
      return true;
    },
  };
}

/** Ticks every `everyMs` (a quiet tick is a whole interval without a socket opened or a frame). */
export function startIdleCollector(options: IdleCollectOptions, everyMs = 1000): { stop(): void } {
  if (options.after <= 0) return { stop() {} };
  const { tick } = idleCollector(options);
  const timer = setInterval(tick, everyMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
