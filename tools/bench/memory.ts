/**
 * The documented memory bound the benchmark checks (README "Memory").
 *
 * Local storage: each transfer holds one 1 MiB file batch plus the socket
 * stream's buffers; V8's heap adds slack that grows with concurrency.
 */

const MIB = 1024 * 1024;

/** Per running transfer: 1 MiB batch + 1 MiB read chunk + stream buffers and headroom. */
export const PER_TRANSFER_BYTES = 4 * MIB;

/** Garbage-collector headroom above the idle process. */
export const HEADROOM_BYTES = 64 * MIB;

/** The formula as the README states it. */
export const MEMORY_BOUND_DOC = "peak RSS <= idle RSS + 64 MiB + transfers x 4 MiB";

/** Bound for `transfers` simultaneous transfers above an idle RSS of `idleRss`. */
export function memoryBoundBytes(idleRss: number, transfers: number): number {
  return idleRss + HEADROOM_BYTES + transfers * PER_TRANSFER_BYTES;
}
