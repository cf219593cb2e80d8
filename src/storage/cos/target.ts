/**
 * The {@link ObjectTarget} of one COS key: the requests the multipart
 * writer makes.
 *
 * Bodies (PUT Object, UploadPart) go through {@link signedFetch} as a stream
 * of 1 MiB views over the writer's part buffer, sent with chunked transfer
 * encoding, which COS accepts for both. Measured alternatives were worse: a
 * whole-buffer body is copied by fetch and by node:http, and those
 * part-sized copies, freed only by a major garbage collection, raised peak
 * memory 2-3x; a streamed body through the SDK's node:http hung ~90 s on a
 * pooled connection COS had closed. Initiate, complete and abort carry XML
 * and go through the SDK.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import type { Body, ObjectTarget } from "../multipart.ts";
import type { Entry } from "../types.ts";
import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";
import { signedFetch } from "./http.ts";

/** Bytes per body chunk handed to fetch. */
const CHUNK_BYTES = 1024 * 1024;

/** Slowest rate a body may go up at before the request counts as timed out. */
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
  const isCommitted = async (etags: string[]) => {
    const head = await sdk.headObject(at).catch(() => null);
    const etag = head?.headers?.etag?.replaceAll('"', "") ?? "";
    return etag === multipartEtag(etags);
  };
  const send = async (body: Body, query: Record<string, string> = {}) => {
    const response = await signedFetch(client, {
      method: "put",
      key,
      query,
      body: chunksOf(body),
      timeoutMs: timeoutMs + (body.length / MIN_BYTES_PER_SECOND) * 1000,
    });
    await response.body?.cancel();
    return response;
  };
  return {
    async put(body) {
      await send(body);
      return entry(body.length);
    },
    async initiate() {
      const result = await sdk.multipartInit(at).catch(fail);
      return result.UploadId;
    },
    async uploadPart(uploadId, partNumber, body) {
      const response = await send(body, { partNumber: String(partNumber), uploadId });
      return response.headers.get("etag") ?? "";
    },
    async complete(uploadId, etags, size) {
      const Parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
      try {
        await sdk.multipartComplete({ ...at, UploadId: uploadId, Parts });
      } catch (error) {
        const failure = fromCosError(error, key);
        // A complete whose answer was lost is retried and then finds the upload gone:
        // the object tells whether that first complete made it.
        if (failure.kind !== "not-found" || !(await isCommitted(etags))) throw failure;
      }
      return entry(size);
    },
    async abort(uploadId) {
      await sdk.multipartAbort({ ...at, UploadId: uploadId }).catch(fail);
    },
  };
}

/** COS's ETag of a multipart object: MD5 of the parts' binary MD5s, then "-" and the part count. */
export function multipartEtag(partEtags: string[]): string {
  const digests = partEtags.map((etag) => Buffer.from(etag.replaceAll('"', ""), "hex"));
  return `${createHash("md5").update(Buffer.concat(digests)).digest("hex")}-${partEtags.length}`;
}

/** A fresh stream of views over `body` (fresh per attempt: a stream is read once). */
function chunksOf(body: Body): ReadableStream<Uint8Array<ArrayBuffer>> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= body.length) return controller.close();
      controller.enqueue(body.subarray(offset, offset + CHUNK_BYTES));
      offset += CHUNK_BYTES;
    },
  }, { highWaterMark: 0 });
}
