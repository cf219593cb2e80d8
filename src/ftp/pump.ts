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
 * Bytes read from the data socket at once. One reused buffer per upload:
 * the socket's ReadableStream allocates a fresh 64 KiB chunk per read, and
 * that garbage raised peak memory and cost throughput (measured in the bench).
 */
const RECEIVE_BUFFER_BYTES = 256 * 1024;

/**
 * Reads the client's bytes to EOF, handing each chunk to `write` (which must
 * copy what it keeps: the buffer is reused). A reset connection is an error,
 * never an end: only a clean EOF completes.
 */
export async function receiveFromClient(
  write: (chunk: Uint8Array) => Promise<void>,
  transfer: TransferContext,
): Promise<void> {
  const buffer = new Uint8Array(RECEIVE_BUFFER_BYTES);
  while (true) {
    let read: number | null;
    try {
      read = await transfer.conn.read(buffer);
    } catch {
      transfer.signal.throwIfAborted();
      throw new ConnectionLost("Data connection broken; upload not completed");
    }
    transfer.signal.throwIfAborted();
    if (read === null) return transfer.dataEnded();
    transfer.progress(read);
    await write(buffer.subarray(0, read));
  }
}

/**
 * How long after the end of an upload's data its commit waits for news on
 * the control connection (a client that sends ABOR and closes the data
 * connection at once, or a killed client whose kernel closes both). The
 * client's kernel queues the control bytes or FIN first, so they are in our
 * kernel when the data EOF is read; this gives the event loop time to poll
 * them. It runs alongside the last flush (fsync, the last part's upload), so
 * an upload rarely waits for it.
 */
const COMMIT_GUARD_MS = 2;

/**
 * The check that runs right before an upload becomes visible (the `confirm`
 * of the sink's commit): it fails when ABOR or the loss of the control
 * connection arrived by then. Call it when the data ends.
 */
export function commitCheckpoint(signal: AbortSignal): () => Promise<void> {
  const guard = new Promise<void>((resolve) => setTimeout(resolve, COMMIT_GUARD_MS))
    // A second turn: a read that became ready during the guard has its callbacks run first.
    .then(() => new Promise<void>((resolve) => setTimeout(resolve, 0)));
  return async () => {
    await guard;
    signal.throwIfAborted();
  };
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
