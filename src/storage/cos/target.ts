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
 * With `verify`, every stored piece is checked against COS's CRC-64: a
 * part's CRC (computed once per body, so a retry is checked against the
 * bytes as first handed over) against UploadPart's header, and the parts'
 * CRCs combined against the object's at complete. A part that differs is
 * retried (sent again from memory), then fails the upload, which the
 * writer aborts: the older object stays. A PUT or a completed object that
 * differs is deleted, since COS has already replaced the older one.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { crc64 } from "../crc64.ts";
import { StorageError } from "../errors.ts";
import type { Body, ObjectTarget } from "./multipart.ts";
import type { Entry } from "../types.ts";
import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";
import { encodeObjectPath, signedFetch } from "./http.ts";
import { contradicts, crcFromHeaders, mismatchText, PartCrcs } from "./verify.ts";

/** Bytes per body chunk handed to fetch. */
const CHUNK_BYTES = 1024 * 1024;

/** Slowest rate a body may go up at before the request counts as timed out. */
const MIN_BYTES_PER_SECOND = 1024 * 1024;

/** The object a resumed upload keeps the head of (REST+STOR, APPE). */
export interface ResumeSource {
  /** Its ETag now: copies fail rather than mix in bytes of an object replaced meanwhile. */
  etag: string;
  /** Headers the new object inherits (storage class, encryption, x-cos-meta-*, content type). */
  headers: Record<string, string>;
}

/** An {@link ObjectTarget} on COS, with the CRC record of its multipart uploads. */
export interface CosTarget extends ObjectTarget {
  /** The part CRCs recorded for upload `uploadId` (for the object check at complete). */
  partCrcs(uploadId: string): PartCrcs;
}

/**
 * Uploads to `key` (the full object key, prefix included); `name` is its
 * last segment. With `source`, the upload replaces that object: it inherits
 * its headers and can copy its bytes into parts. With `verify`, what COS
 * stored is checked against CRC-64s (see the module notes).
 */
export function cosTarget(
  client: CosClient,
  key: string,
  name: string,
  timeoutMs: number,
  source?: ResumeSource,
  verify = false,
): CosTarget {
  const { sdk, bucket, region } = client;
  const at = { Bucket: bucket, Region: region, Key: key };
  const fail = (error: unknown): never => {
    throw fromCosError(error, key);
  };
  const entry = (size: number): Entry => ({ name, kind: "file", size, modified: new Date() });
  /** The object's headers when a complete whose answer was lost did make it, else `null`. */
  const committedHead = async (etags: string[]) => {
    const head = await sdk.headObject(at).catch(() => null);
    const etag = head?.headers?.etag?.replaceAll('"', "") ?? "";
    return etag === multipartEtag(etags) ? head?.headers ?? {} : null;
  };
  const uploads = new Map<string, PartCrcs>();
  const partCrcs = (uploadId: string) => {
    let crcs = uploads.get(uploadId);
    if (!crcs) uploads.set(uploadId, crcs = new PartCrcs());
    return crcs;
  };
  // The bytes' CRC as first handed over: a retry of the same body is checked against it.
  const firstCrcs = new WeakMap<Body, bigint>();
  const expectedCrc = (body: Body): bigint | null => {
    if (!verify) return null;
    let crc = firstCrcs.get(body);
    if (crc === undefined) firstCrcs.set(body, crc = crc64(body));
    return crc;
  };
  /** A stored object that differs from what we sent is deleted: nothing corrupt is left. */
  const discardCorrupt = async (expected: bigint, stored: bigint): Promise<never> => {
    const deleted = await sdk.deleteObject(at).then(() => true, () => false);
    const outcome = deleted ? "upload discarded" : "and the corrupt object could not be deleted";
    throw new StorageError("failed", `${mismatchText(key, expected, stored)}; ${outcome}`);
  };
  const inherited = source?.headers ?? {};
  const send = async (
    body: Body,
    query: Record<string, string> = {},
    headers: Record<string, string> = {},
  ) => {
    const response = await signedFetch(client, {
      method: "put",
      key,
      query,
      headers: query.uploadId ? headers : { ...inherited, ...headers },
      body: chunksOf(body),
      timeoutMs: timeoutMs + (body.length / MIN_BYTES_PER_SECOND) * 1000,
    });
    await response.body?.cancel();
    return response;
  };
  return {
    partCrcs,
    async put(body) {
      const expected = expectedCrc(body);
      // A PUT replaces the old object at once, so damage in transit must be refused before:
      // COS checks Content-MD5 and stores nothing when it differs (BadDigest).
      const md5: Record<string, string> = verify
        ? { "content-md5": createHash("md5").update(body).digest("base64") }
        : {};
      const stored = crcFromHeaders((await send(body, {}, md5)).headers);
      if (contradicts(expected, stored)) await discardCorrupt(expected!, stored!);
      return entry(body.length);
    },
    async initiate() {
      const result = await sdk.multipartInit({ ...at, ...inheritedParams(inherited) }).catch(fail);
      return result.UploadId;
    },
    async copyPart(uploadId, partNumber, start, end) {
      const result = await sdk.uploadPartCopy({
        ...at,
        UploadId: uploadId,
        PartNumber: partNumber,
        CopySource: `${bucket}.cos.${region}.myqcloud.com/${encodeObjectPath(key)}`,
        CopySourceRange: `bytes=${start}-${end}`,
        CopySourceIfMatch: source?.etag,
      }).catch((error: { statusCode?: number }) => {
        // 412: the If-Match on the old ETag failed, someone replaced the file meanwhile.
        if (error?.statusCode !== 412) fail(error);
        throw new StorageError("failed", `${name} changed while it was resumed; try again`);
      });
      // COS sends the copied part's CRC (none from COS variants without CRC64: the check skips).
      partCrcs(uploadId).record(partNumber, crcFromHeaders(result.headers), end - start + 1);
      return result.ETag;
    },
    async uploadPart(uploadId, partNumber, body) {
      const expected = expectedCrc(body);
      const response = await send(body, { partNumber: String(partNumber), uploadId });
      const stored = crcFromHeaders(response.headers);
      if (contradicts(expected, stored)) {
        // Transient: the writer sends the part again, and aborts the upload if it keeps failing.
        const text = mismatchText(`${key} part ${partNumber}`, expected!, stored!);
        throw new StorageError("transient", `${text}; upload discarded`);
      }
      if (verify) partCrcs(uploadId).record(partNumber, expected, body.length);
      return response.headers.get("etag") ?? "";
    },
    async complete(uploadId, etags, size) {
      const Parts = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
      let headers: Record<string, string> | null = null;
      try {
        headers = (await sdk.multipartComplete({ ...at, UploadId: uploadId, Parts })).headers ?? {};
      } catch (error) {
        const failure = fromCosError(error, key);
        // A complete whose answer was lost is retried and then finds the upload gone:
        // the object tells whether that first complete made it.
        if (failure.kind === "not-found") headers = await committedHead(etags);
        if (headers === null) throw failure;
      }
      const expected = verify ? partCrcs(uploadId).combined(etags.length) : null;
      const stored = crcFromHeaders(headers);
      if (contradicts(expected, stored)) await discardCorrupt(expected!, stored!);
      uploads.delete(uploadId);
      return entry(size);
    },
    async abort(uploadId) {
      uploads.delete(uploadId);
      await sdk.multipartAbort({ ...at, UploadId: uploadId }).catch((error) => {
        // Already gone (completed, then found corrupt and deleted): nothing is left to bill.
        if (fromCosError(error, key).kind !== "not-found") fail(error);
      });
    },
  };
}

/** The SDK's parameters for `headers`: it sends `x-cos-*` keys as they are, and ContentType. */
function inheritedParams(headers: Record<string, string>): Record<string, string> {
  const { "content-type": contentType, ...cosHeaders } = headers;
  return contentType ? { ...cosHeaders, ContentType: contentType } : cosHeaders;
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
