/**
 * Moving bytes between the data connection and storage with backpressure:
 * each chunk is written before the next is read, so a slow side slows the
 * other instead of filling memory.
 *
 * @module
 */

import type { TransferContext } from "./context.ts";
import { StorageError } from "../storage/errors.ts";
import { FtpError } from "./errors.ts";

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
  await writer.close().catch(() => {
    throw new FtpError(426, "Data connection closed before the end of the transfer");
  });
}

/**
 * Reads `source` (the client's bytes) to EOF, handing each chunk to `write`.
 * A reset connection is an error, never an end: only a clean EOF completes.
 */
export async function receiveFromClient(
  source: ReadableStream<Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
  transfer: TransferContext,
): Promise<void> {
  await drain(
    source,
    async (chunk) => {
      transfer.progress(chunk.length);
      await write(chunk);
    },
    transfer.signal,
    () => new FtpError(426, "Data connection broken; upload discarded"),
  );
}

/** Reads `source` to its end; an abort ends it with the signal's reason. */
async function drain(
  source: ReadableStream<Uint8Array>,
  write: (chunk: Uint8Array) => Promise<void>,
  signal: AbortSignal,
  readError: () => Error = () => new FtpError(451, "Read from storage failed"),
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
        throw error instanceof FtpError || error instanceof StorageError ? error : readError();
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
