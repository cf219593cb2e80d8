/**
 * Downloads: GET object as a native ReadableStream with backpressure; a
 * whole-object GET is checked against COS's CRC-64 as it streams.
 *
 * @module
 */

import { withRetry } from "../retry.ts";
import type { CosClient } from "./client.ts";
import { signedFetch } from "./http.ts";
import { reusedChunksOf } from "../reused_chunks.ts";
import { crcFromHeaders, verifyingStream } from "./verify.ts";

/** Size of each reused download buffer (a read returns what has arrived, up to this). */
const DOWNLOAD_BUFFER_BYTES = 256 * 1024;

/**
 * GETs `key` from byte `offset` on; retries transient failures before the body starts.
 * With `verify`, a download from byte 0 ends in an error instead of its end when the bytes'
 * CRC-64 differs from the one COS sent (a ranged GET carries the whole object's, so
 * ranged downloads are not checked).
 */
export function openDownload(
  client: CosClient,
  key: string,
  offset: number,
  timeoutMs: number,
  verify = false,
): Promise<ReadableStream<Uint8Array>> {
  const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
  return withRetry(async () => {
    const response = await signedFetch(client, { method: "get", key, headers, timeoutMs });
    const body = response.body === null
      ? new ReadableStream<Uint8Array>({ start: (c) => c.close() })
      : reusedChunksOf(response.body, bufferBytesFor(response.headers));
    const expected = verify && offset === 0 ? crcFromHeaders(response.headers) : null;
    return expected === null ? body : verifyingStream(body, expected, key);
  });
}

/** No larger than the object: a small file's download takes a small buffer. */
function bufferBytesFor(headers: Headers): number {
  const length = Number(headers.get("content-length") ?? DOWNLOAD_BUFFER_BYTES);
  return Number.isFinite(length)
    ? Math.max(1, Math.min(length, DOWNLOAD_BUFFER_BYTES))
    : DOWNLOAD_BUFFER_BYTES;
}
