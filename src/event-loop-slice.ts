// The event loop's time slice, asked of Linux's scheduler (EEVDF, Linux 6.12+: sched_attr's
// sched_runtime for an ordinary thread). Why: on a machine whose cores are shared, a thread that
// wakes is given a virtual deadline of its slice past its start, and the one with the earliest
// deadline runs first. With the default slice (~1.4 ms on two cores) the event loop, woken by
// a frame, waited behind a client it shares a core with, and was preempted by it mid-message
// (rooms at 2,000/s: ~3,300 preemptions a second, while the other core sat idle). A short slice
// changes the order, not the share: the thread gets no more CPU than before, it gets it sooner,
// in shorter turns. The kernel clamps it to 0.1-100 ms; older kernels and other systems ignore it.
import { dlopen, FFIType, ptr } from "bun:ffi";

/** sched_setattr and sched_getattr, by architecture (Linux's syscall numbers). */
const SYSCALLS: Partial<Record<string, { set: number; get: number }>> = {
  x64: { set: 314, get: 315 },
  arm64: { set: 274, get: 275 },
};
/** struct sched_attr's first version (SCHED_ATTR_SIZE_VER0): size, policy, flags, nice, priority, runtime, deadline, period. */
const ATTR_BYTES = 48;
const SCHED_NORMAL = 0;
const SCHED_BATCH = 3;

export type SliceOutcome = { applied: true; us: number } | { applied: false; why: string };

/**
 * Asks for slices of `us` microseconds for the calling thread (0: the kernel's default again).
 * Its policy and nice value stay as they are. Threads it starts afterwards inherit the slice.
 */
export function requestSlice(us: number): SliceOutcome {
  const calls = SYSCALLS[process.arch];
  if (process.platform !== "linux" || !calls) return { applied: false, why: `not on ${process.platform}/${process.arch}` };
  let libc;
  try {
    libc = dlopen("libc.so.6", { syscall: { args: [FFIType.i64, FFIType.i64, FFIType.ptr, FFIType.i64, FFIType.i64], returns: FFIType.i64 } });
  } catch (error) {
    return { applied: false, why: `no libc.so.6: ${String(error)}` };
  }
  try {
    const attr = new DataView(new ArrayBuffer(ATTR_BYTES));
    const pointer = ptr(attr);
    // The thread's own attributes first: its nice value (and policy) must be written back as they are.
    if (Number(libc.symbols.syscall(calls.get, 0, pointer, ATTR_BYTES, 0)) !== 0) return { applied: false, why: "sched_getattr failed" };
    const policy = attr.getUint32(4, true);
    if (policy !== SCHED_NORMAL && policy !== SCHED_BATCH) return { applied: false, why: `scheduling policy ${policy} has no slice` };
    attr.setUint32(0, ATTR_BYTES, true);
    attr.setBigUint64(8, 0n, true); // sched_flags
    attr.setBigUint64(24, BigInt(Math.round(us * 1000)), true); // sched_runtime, ns
    if (Number(libc.symbols.syscall(calls.set, 0, pointer, 0, 0)) !== 0) return { applied: false, why: "sched_setattr refused" };
    if (us === 0) return { applied: true, us: 0 };
    // A kernel without custom slices takes the call and ignores the field: it reads back 0.
    libc.symbols.syscall(calls.get, 0, pointer, ATTR_BYTES, 0);
    const granted = Number(attr.getBigUint64(24, true)) / 1000;
    return granted === 0 ? { applied: false, why: "this kernel has no custom slices (Linux 6.12+)" } : { applied: true, us: granted };
  } finally {
    libc.close();
  }
}
