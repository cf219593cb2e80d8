/**
 * End-to-end checks against COS's `x-cos-hash-crc64ecma`: the CRC-64 of
 * what COS stored, sent with PUT Object, UploadPart, UploadPartCopy,
 * CompleteMultipartUpload (only when every part had one) and GET/HEAD
 * Object (always the whole object's, ranged GETs included). A response
 * without the header (objects older than COS's CRC64, COS-compatible
 * servers without it) is not checked, never failed.
 *
 * @module
 */

import { crc64Combine, parseCrc64 } from "../crc64.ts";
import { crcWorker } from "../crc_worker.ts";
import { StorageError } from "../errors.ts";

/** The response header that carries COS's CRC-64 (decimal). */
export const CRC_HEADER = "x-cos-hash-crc64ecma";

/** COS's CRC from response headers (fetch Headers or the SDK's plain object), or `null`. */
export function crcFromHeaders(
  headers: Headers | Record<string, string | undefined> | undefined,
): bigint | null {
  if (headers === undefined) return null;
  return parseCrc64(headers instanceof Headers ? headers.get(CRC_HEADER) : headers[CRC_HEADER]);
}

/** Whether COS's `stored` CRC contradicts `expected`; a missing one contradicts nothing. */
export function contradicts(expected: bigint | null, stored: bigint | null): boolean {
  return expected !== null && stored !== null && expected !== stored;
}

/** The message of a mismatch: what we sent or read, what COS says it holds. */
export function mismatchText(what: string, ours: bigint, cos: bigint): string {
  return `${what}: CRC64 mismatch (ours ${ours}, COS ${cos})`;
}

/**
 * The CRCs of one multipart upload's parts, recorded as each part is
 * stored, so the object's CRC can be derived at complete without reading a
 * byte again. A part whose CRC is unknown (a copied part COS sent none for)
 * is recorded as `null` and makes the object check skip.
 */
export class PartCrcs {
  readonly #parts = new Map<number, { crc: bigint | null; length: number }>();

  /** Records part `partNumber` (replacing an earlier attempt at it). */
  record(partNumber: number, crc: bigint | null, length: number): void {
    this.#parts.set(partNumber, { crc, length });
  }

  /** The CRC of parts 1..count joined, or `null` when any of them is unknown. */
  combined(count: number): bigint | null {
    let total: bigint | null = null;
    for (let n = 1; n <= count; n++) {
      const part = this.#parts.get(n);
      if (part?.crc == null) return null;
      total = total === null ? part.crc : crc64Combine(total, part.crc, part.length);
    }
    return total;
  }
}

/**
 * Passes a whole object's bytes through while their CRC is computed (on the
 * CRC worker, crc_worker.ts); at the end, errors the stream (StorageError
 * `aborted`, so the transfer ends 426, not 226) when COS's CRC for the
 * object differs.
 */
export function verifyingStream(
  body: ReadableStream<Uint8Array>,
  expected: bigint,
  key: string,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  const crc = crcWorker.job();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await reader.read();
      if (!next.done) {
        await crc.update(next.value);
        return controller.enqueue(next.value);
      }
      const actual = await crc.digest();
      if (actual !== expected) {
        const text = mismatchText(key, actual, expected);
        return controller.error(new StorageError("aborted", `${text}; download is corrupt`));
      }
      controller.close();
    },
    cancel: (reason) => (crc.cancel(), reader.cancel(reason)),
  }, { highWaterMark: 0 });
}
