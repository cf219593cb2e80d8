/**
 * The documented memory bound (README "Memory"), which the benchmark checks:
 *
 *   peak RSS <= idle RSS + 64 MiB
 *             + min(upload_memory_budget, uploads x (upload_thread_num + 1) x part size)
 *             + transfers x 4 MiB + verified downloads x 2 MiB
 *
 * COS uploads hold part buffers from one process-wide budget: per upload at
 * most `upload_thread_num` parts in flight plus one filling. Every transfer
 * also holds two 1 MiB receive buffers (uploads) or 1 MiB file reads
 * (local downloads) and socket and HTTP stream buffers: 4 MiB covers them. 64 MiB is the
 * garbage collector's headroom above the idle process. A verified COS
 * download holds at most two 1 MiB batches for the CRC worker
 * (src/storage/crc_worker.ts), whose own memory is in the idle RSS.
 */

const MIB = 1024 * 1024;

/** The formula as the README states it. */
export const MEMORY_BOUND_DOC = "peak RSS <= idle RSS + 64 MiB + min(upload_memory_budget, " +
  "uploads x (upload_thread_num + 1) x part size) + transfers x 4 MiB + verified downloads x 2 MiB";

/** What runs at once while memory is measured. */
export interface Load {
  /** COS uploads (0 for local storage: no part buffers). */
  uploads: number;
  /** All transfers, uploads included. */
  transfers: number;
  partBytes: number;
  threads: number;
  budgetBytes: number;
  /** Whole-object COS downloads with verify_checksums on (0 when left out). */
  verifiedDownloads?: number;
  /** Sessions open at once, transferring or not (0 when left out). */
  sessions?: number;
  /** Directory listings streaming at once (0 when left out). */
  listings?: number;
}

/** What one open session holds (calibrated by the bench's 300-session load). */
export const SESSION_BYTES = 1 * MIB;
/** What one listing in progress holds (calibrated by the bench's 100,000-object listing). */
export const LISTING_BYTES = 16 * MIB;

/** The bound for `load` above an idle RSS of `idleRss`. */
export function memoryBoundBytes(idleRss: number, load: Load): number {
  const parts = Math.min(load.budgetBytes, load.uploads * (load.threads + 1) * load.partBytes);
  return idleRss + 64 * MIB + parts + load.transfers * 4 * MIB +
    (load.verifiedDownloads ?? 0) * 2 * MIB + (load.sessions ?? 0) * SESSION_BYTES +
    (load.listings ?? 0) * LISTING_BYTES;
}
