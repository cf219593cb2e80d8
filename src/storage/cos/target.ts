/**
 * The {@link ObjectTarget} of one COS key: the requests the multipart
 * writer makes. Part bodies go through {@link signedFetch} straight from the
 * part buffer (no copy); initiate, complete and abort carry XML and go
 * through the SDK.
 *
 * @module
 */

import type { ObjectTarget } from "../multipart.ts";
import type { Entry } from "../types.ts";
import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";
import { signedFetch } from "./http.ts";

/** Slowest transfer rate a part upload is allowed before it counts as timed out. */
const MIN_BYTES_PER_SECOND = 1024 * 1024;

/** Uploads to `key` (the full object key, prefix included); `name` is its last segment. */
export function cosTarget(
  client: CosClient,
  key: string,
  name: string,
  timeoutMs: number,
): ObjectTarget {
  const { sdk, bucket, region } = client;
  const at = { Bucket: bucket, Region: region, Key: key };
  const fail = (error: unknown): never => {
    throw fromCosError(error, key);
  };
  const entry = (size: number): Entry => ({ name, kind: "file", size, modified: new Date() });
  // The whole body must go up within the timeout plus time for it at a slow but honest rate.
  const budget = (body: Uint8Array) => timeoutMs + (body.length / MIN_BYTES_PER_SECOND) * 1000;
  return {
    async put(body) {
      const response = await signedFetch(client, {
        method: "put",
        key,
        body,
        timeoutMs: budget(body),
      });
      await response.body?.cancel();
      return entry(body.length);
    },
    async initiate() {
      const result = await sdk.multipartInit(at).catch(fail);
      return result.UploadId;
    },
    async uploadPart(uploadId, partNumber, body) {
      const query = { partNumber: String(partNumber), uploadId };
      const response = await signedFetch(client, {
        method: "put",
        key,
        query,
        body,
        timeoutMs: budget(body),
      });
      await response.body?.cancel();
      return response.headers.get("etag") ?? "";
    },
    async complete(uploadId, etags) {
      const Parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
      await sdk.multipartComplete({ ...at, UploadId: uploadId, Parts }).catch(fail);
      const head = await sdk.headObject(at).catch(fail);
      return entry(Number(head.headers?.["content-length"] ?? 0));
    },
    async abort(uploadId) {
      await sdk.multipartAbort({ ...at, UploadId: uploadId }).catch(fail);
    },
  };
}
