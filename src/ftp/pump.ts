/**
 * Moving bytes between the data connection and storage with backpressure:
 * each chunk is written before the next is read, so a slow side slows the
 * other instead of filling memory.
 *
 * @module
 */

import type { TransferContext } from "./context.ts";
import { StorageError } from "../storage/errors.ts";
import { ConnectionLost, FtpError } from "./errors.ts";

/** Streams `source` to the client over the data connection, then closes it (EOF = done). */
export async function sendToClient(
  source: ReadableStream<Uint8Array>,
  transfer: TransferContext,
): Promise<void> {
  const writer = transfer.conn.writable.getWriter();
  await drain(source, async (chunk) => {
    try {
      await writer.write(chunk);
    } catch {
      throw new FtpError(426, "Data connection closed by the client; transfer aborted");
    }
    transfer.progress(chunk.length);
  }, transfer.signal);
  writer.releaseLock();
  await transfer.conn.finish().catch(() => {
    throw new FtpError(426, "Data connection closed before the end of the transfer");
  });
}

/**
 * Bytes handed to storage at once: a socket read returns what arrived (up to
 * ~64 KiB on loopback), and every storage write costs an op and a thread
 * hop, so reads fill a 1 MiB buffer first (measured: local STOR of 1 GiB at
 * 1.2x the speed of 256 KiB writes).
 */
const RECEIVE_BUFFER_BYTES = 1024 * 1024;

/**
 * An upload's first buffer: most uploads are small files, and 300 sessions
 * each taking 1 MiB for a 10 KiB file held 160 MiB of buffers and left
 * ~115 MiB with the allocator after the load (issue 10). An upload that
 * fills this one goes on with {@link RECEIVE_BUFFER_BYTES}.
 */
const FIRST_BUFFER_BYTES = 64 * 1024;

/**
 * Receive buffers kept for the next uploads, per size: allocating (and
 * zeroing) a fresh buffer per upload made a stream of small files spend its
 * time in the garbage collector (measured: a third of the server's CPU for
 * 100 B to 64 KiB files).
 */
const spareBuffers = new Map<number, Uint8Array[]>([
  [FIRST_BUFFER_BYTES, []],
  [RECEIVE_BUFFER_BYTES, []],
]);
const SPARE_BUFFERS_KEPT = 8;

function takeBuffer(size: number): Uint8Array {
  return spareBuffers.get(size)!.pop() ?? new Uint8Array(size);
}

function returnBuffer(buffer: Uint8Array): void {
  const spares = spareBuffers.get(buffer.length)!;
  if (spares.length < SPARE_BUFFERS_KEPT) spares.push(buffer);
}

/**
 * Reads the client's bytes to EOF, handing them to `write` in chunks of
 * {@link FIRST_BUFFER_BYTES}, then {@link RECEIVE_BUFFER_BYTES} (the last one
 * shorter); `write` must copy
 * what it keeps, as the buffer is reused once its promise settles. One
 * write runs at a time, in order, while the next buffer fills (two buffers
 * per upload), so socket and storage work overlap. A reset connection is an
 * error, never an end: only a clean EOF completes; on a lost connection the
 * bytes that did arrive are written first, for keep_partial_uploads.
 * `onEnd` runs at the clean EOF, before the last writes, so work that waits
 * for the end (the commit checkpoint) overlaps them.
 */
export async function receiveFromClient(
  write: (chunk: Uint8Array) => Promise<void>,
  transfer: TransferContext,
  onEnd: () => void = () => {},
): Promise<void> {
  const buffers: Uint8Array[] = [takeBuffer(FIRST_BUFFER_BYTES)];
  let current = 0;
  let filled = 0;
  let handedOver = false;
  let writing: Promise<void> = Promise.resolve();
  /** Starts writing the current buffer once the previous write is done; switches buffers. */
  const handOver = async () => {
    await writing;
    const chunk = buffers[current].subarray(0, filled);
    writing = write(chunk);
    // Awaited later; until then a rejection must not count as unhandled.
    writing.catch(() => {});
    current = 1 - current;
    filled = 0;
    handedOver = true;
  };
  try {
    while (true) {
      // Taken only when needed: a file that fits the first buffer never takes a second.
      buffers[current] ??= takeBuffer(RECEIVE_BUFFER_BYTES);
      if (handedOver && filled === 0 && buffers[current].length < RECEIVE_BUFFER_BYTES) {
        // The first buffer's write is done (handOver awaited it): a larger file goes on in 1 MiB.
        returnBuffer(buffers[current]);
        buffers[current] = takeBuffer(RECEIVE_BUFFER_BYTES);
      }
      const buffer = buffers[current];
      const read = await readSome(buffer.subarray(filled), transfer);
      if (read === null) break;
      transfer.progress(read);
      filled += read;
      if (filled === buffer.length) await handOver();
    }
    transfer.dataEnded();
    onEnd();
    if (filled > 0) await handOver();
    await writing;
  } catch (error) {
    // A storage failure is the news, even when the connection broke after it.
    const failed = await writing.then(() => null, (failure: unknown) => failure ?? error);
    if (failed) throw failed;
    if (error instanceof ConnectionLost && filled > 0) {
      await write(buffers[current].subarray(0, filled));
    }
    throw error;
  } finally {
    // A write still running owns its buffer: wait before reusing either.
    await writing.catch(() => {});
    buffers.forEach(returnBuffer);
  }
}

/** One read from the data connection; `null` at a clean EOF. */
async function readSome(buffer: Uint8Array, transfer: TransferContext): Promise<number | null> {
  let read: number | null;
  try {
    read = await transfer.conn.read(buffer);
  } catch {
    transfer.signal.throwIfAborted();
    throw new ConnectionLost("Data connection broken; upload not completed");
  }
  transfer.signal.throwIfAborted();
  return read;
}

/**
 * How long after the end of an upload's data its commit waits for news on
 * the control connection (a client that sends ABOR and closes the data
 * connection at once, or a killed client whose kernel closes both). The
 * control bytes or FIN usually come first or within 0.5 ms, but a dying
 * client may close the data connection first and the control one later:
 * its kernel closes descriptors one by one and may yield the CPU between
 * them, and a client that exits on SIGINT (lftp) runs its own code between
 * its closes. Measured with 40 clients killed at random moments while test
 * suites saturated both cores: the control connection's end came up to
 * 35 ms after the data's, most within 5 ms. In runs of the kill tests
 * (200 killed uploads each) under that load a fixed 2 ms let uploads
 * through in 3 runs of 4, a fixed 5 ms 1 in 600, this guard none in 800.
 *
 * So the guard grows with the upload's duration: a kill lands in an upload
 * in proportion to how long it runs, so long uploads are where killed
 * clients are, and for them 1% more time is cheap; a stream of small files
 * pays only the base. The guard runs alongside the last writes and flush
 * (fsync, the last part's upload), which often cover it.
 */
const GUARD_BASE_MS = 2;
const GUARD_SHARE_OF_UPLOAD = 0.01;
const GUARD_MAX_MS = 50;

/**
 * The guard sleeps in 1 ms timer turns; Deno fires them after 1 to 2.3 ms on
 * an idle machine. A turn that takes longer means the machine did not run us
 * for the excess, and then likely did not run the dying client either: that
 * time does not count towards the guard (up to {@link GUARD_MAX_MS} in all).
 */
const TURN_MS = 1;
const TURN_COUNTS_AT_MOST_MS = 2.5;

/**
 * The check that runs right before an upload becomes visible (the `confirm`
 * of the sink's commit): it fails when ABOR or the loss of the control
 * connection arrived by then. Start it when the data ends; `startedAt` is
 * when the upload began (`performance.now()`).
 */
export function commitCheckpoint(signal: AbortSignal, startedAt: number): () => Promise<void> {
  const uploadMs = performance.now() - startedAt;
  const guardMs = Math.min(GUARD_BASE_MS + uploadMs * GUARD_SHARE_OF_UPLOAD, GUARD_MAX_MS);
  const guard = waitWhileRunning(guardMs, signal);
  return async () => {
    await guard;
    signal.throwIfAborted();
  };
}

/**
 * Waits until the process has had `runMs` in which it could run (time lost
 * to a busy machine does not count) or the signal aborts. While it sleeps
 * the event loop waits in epoll, so it reads whatever the kernel holds for
 * the control connection. (Polling with a blocking-pool operation per turn
 * was more precise, but cost 3.8 ms of CPU per upload.)
 */
async function waitWhileRunning(runMs: number, signal: AbortSignal): Promise<void> {
  const start = performance.now();
  let ran = 0;
  let last = start;
  while (ran < runMs && last - start < GUARD_MAX_MS && !signal.aborted) {
    await new Promise((resolve) => setTimeout(resolve, TURN_MS));
    const now = performance.now();
    ran += Math.min(now - last, TURN_COUNTS_AT_MOST_MS);
    last = now;
  }
}

/** Reads `source` to its end; an abort ends it with the signal's reason. */
async function drain(
  source: ReadableStream<Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
  signal: AbortSignal,
): Promise<void> {
  const reader = source.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  try {
    while (true) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch (error) {
        signal.throwIfAborted();
        throw error instanceof FtpError || error instanceof StorageError
          ? error
          : new FtpError(451, "Read from storage failed");
      }
      signal.throwIfAborted();
      if (next.done) return;
      await write(next.value);
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}
