/**
 * The documented memory bound (README "Memory"), which the benchmark checks:
 *
 *   peak RSS <= idle RSS + 64 MiB
 *             + min(upload_memory_budget, uploads x (upload_thread_num + 1) x part size)
 *             + transfers x 4 MiB + sessions x 0.25 MiB + listings x 8 MiB
 *             + verified downloads x 2 MiB
 *
 * Where each term comes from (measured for issue 10 with Deno.memoryUsage()
 * sampled every 100 ms: V8 heap, array buffers, and the rest of the RSS):
 * - 64 MiB: the garbage collector's headroom above the idle process. V8
 *   grows its heap under a burst of allocation and collects when it has
 *   grown, not sooner; a single 100,000-object listing or a 1 GiB transfer
 *   stays inside it.
 * - Part buffers: COS uploads take them from one process-wide budget, per
 *   upload at most `upload_thread_num` in flight plus one filling; buffers a
 *   growing upload has outgrown are freed at once (src/storage/cos/buffers.ts).
 * - 4 MiB per transfer: an upload's receive buffers (64 KiB, then two of
 *   1 MiB) and, on COS, its 64 KiB head buffer (a small file never takes
 *   a part), a download's two reused read buffers (at most 1 MiB each, no
 *   larger than the file), and socket, TLS and HTTP stream buffers.
 * - 0.25 MiB per session: 50 KiB measured for an idle logged-in session;
 *   the rest is its share of the heap growth under 300 busy sessions.
 * - 8 MiB per listing: a GET Bucket page (about 300 KB of XML for 1,000
 *   keys), its entries and their lines, and the garbage they leave, beyond
 *   what the headroom covers (four 100,000-object listings at once).
 * - 2 MiB per verified COS download: two 1 MiB batches for the CRC worker
 *   (src/storage/crc_worker.ts), whose own memory is in the idle RSS.
 */

const MIB = 1024 * 1024;

/** The formula as the README states it. */
export const MEMORY_BOUND_DOC = "peak RSS <= idle RSS + 64 MiB + min(upload_memory_budget, " +
  "uploads x (upload_thread_num + 1) x part size) + transfers x 4 MiB + sessions x 0.25 MiB + " +
  "listings x 8 MiB + verified downloads x 2 MiB";

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

/** What one open session holds. */
export const SESSION_BYTES = MIB / 4;
/** What one listing in progress holds beyond its transfer. */
export const LISTING_BYTES = 8 * MIB;

/** The bound for `load` above an idle RSS of `idleRss`. */
export function memoryBoundBytes(idleRss: number, load: Load): number {
  const parts = Math.min(load.budgetBytes, load.uploads * (load.threads + 1) * load.partBytes);
  return idleRss + 64 * MIB + parts + load.transfers * 4 * MIB +
    (load.verifiedDownloads ?? 0) * 2 * MIB + (load.sessions ?? 0) * SESSION_BYTES +
    (load.listings ?? 0) * LISTING_BYTES;
}
