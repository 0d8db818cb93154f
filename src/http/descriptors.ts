// This process's open file descriptors against its soft limit (`ulimit -n`, systemd's
// LimitNOFILE=), from /proc: Linux only; elsewhere there is no reading and no pressure.
import { readdirSync, readFileSync } from "node:fs";

/** The soft limit on open files; undefined where /proc cannot tell, null while no descriptor is left to read it with. */
export function descriptorLimit(): number | undefined | null {
  try {
    const soft = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))?.[1];
    return soft === undefined ? undefined : Number(soft);
  } catch (error) {
    return outOfDescriptors(error) ? null : undefined;
  }
}

const outOfDescriptors = (error: unknown) => ["EMFILE", "ENFILE"].includes((error as NodeJS.ErrnoException).code ?? "");

/**
 * Open descriptors, or undefined. When there is none left to read /proc with, the limit is
 * reached: the answer is then `Infinity`. Counting them lists /proc/self/fd (~15 ms at 10k), so the
 * kernel's descriptor table size is read first (a few microseconds): it is a power of two at
 * least as large as the highest descriptor, so below `atLeast` the count is too, and is not
 * listed (answered as 0).
 */
export function openDescriptors(atLeast = 0): number | undefined {
  try {
    const table = Number(/^FDSize:\s+(\d+)/m.exec(readFileSync("/proc/self/status", "utf8"))?.[1]);
    if (table < atLeast) return 0;
    return readdirSync("/proc/self/fd").length - 1; // less the listing's own descriptor
  } catch (error) {
    return outOfDescriptors(error) ? Infinity : undefined;
  }
}
