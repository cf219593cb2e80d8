/**
 * Downloads: GET object as a native ReadableStream with backpressure.
 *
 * @module
 */

import { withRetry } from "../retry.ts";
import type { CosClient } from "./client.ts";
import { signedFetch } from "./http.ts";

/** GETs `key` from byte `offset` on; retries transient failures before the body starts. */
export function openDownload(
  client: CosClient,
  key: string,
  offset: number,
  timeoutMs: number,
): Promise<ReadableStream<Uint8Array>> {
  const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
  return withRetry(async () => {
    const response = await signedFetch(client, { method: "get", key, headers, timeoutMs });
    return response.body ?? new ReadableStream({ start: (c) => c.close() });
  });
}
