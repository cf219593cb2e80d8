/**
 * The {@link ObjectTarget} of one COS key: the requests the multipart
 * writer makes. Bodies are sent as streams over the writer's slabs (no
 * copy); that also keeps the SDK from retrying on its own, so the writer's
 * retry policy is the only one.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import type { ObjectTarget } from "../multipart.ts";
import type { Entry } from "../types.ts";
import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";

/** Uploads to `key` (the full object key, prefix included); `name` is its last segment. */
export function cosTarget(client: CosClient, key: string, name: string): ObjectTarget {
  const { sdk, bucket, region } = client;
  const at = { Bucket: bucket, Region: region, Key: key };
  const fail = (error: unknown): never => {
    throw fromCosError(error, key);
  };
  const entry = (size: number): Entry => ({ name, kind: "file", size, modified: new Date() });
  return {
    async put(body, size) {
      await sdk.putObject({ ...at, Body: bodyStream(body), ContentLength: size }).catch(fail);
      return entry(size);
    },
    async initiate() {
      const result = await sdk.multipartInit(at).catch(fail);
      return result.UploadId;
    },
    async uploadPart(uploadId, partNumber, body, size) {
      const result = await sdk.multipartUpload({
        ...at,
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: bodyStream(body),
        ContentLength: size,
      }).catch(fail);
      return result.ETag;
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

/** A fresh stream over the slab views (fresh per attempt: a stream is read once). */
function bodyStream(views: Uint8Array[]): Readable {
  return Readable.from(views.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
}
