/**
 * Server-side copies: PUT Object - Copy and Upload Part - Copy, both driven
 * by `x-cos-copy-source: <bucket>.cos.<region>.myqcloud.com/<url-encoded key>`.
 */

import { cosErrors } from "./errors.ts";
import { findUpload, partNumberOf } from "./multipart.ts";
import { refuseArchived } from "./objects.ts";
import {
  contentTypeOf,
  crcHeader,
  crcOf,
  type Handler,
  type HandlerContext,
  xmlReply,
} from "./reply.ts";
import { bucketOfHost } from "./routing.ts";
import { md5Etag, nowToSecond, type StoredObject } from "./store.ts";
import type { EmuRequest } from "./types.ts";
import { element } from "./xml.ts";

/**
 * The object a copy-source header names. The key part is URL-encoded by the
 * caller, so it is decoded with decodeURIComponent: `%20` is a space, `%2B`
 * a plus, and a literal `+` stays a plus. A raw `?` starts `versionId=`.
 */
export function copySourceObject(ctx: HandlerContext, header: string): StoredObject {
  const slash = header.indexOf("/");
  if (slash <= 0) throw cosErrors.invalidArgument("Invalid x-cos-copy-source.");
  const bucket = ctx.store.get(bucketOfHost(header.slice(0, slash)));
  if (!bucket) throw cosErrors.noSuchBucket();
  const encodedKey = header.slice(slash + 1).split("?")[0];
  let key: string;
  try {
    key = decodeURIComponent(encodedKey);
  } catch {
    throw cosErrors.invalidArgument("x-cos-copy-source key is not valid URL encoding.");
  }
  const object = bucket.objects.get(key);
  if (!object) throw cosErrors.noSuchKey();
  refuseArchived(object);
  return object;
}

/** `x-cos-copy-source-if-match`: the copy happens only while the source has this ETag. */
function checkSourceEtag(req: EmuRequest, source: StoredObject): void {
  const expected = req.headers["x-cos-copy-source-if-match"];
  if (expected !== undefined && expected.replaceAll('"', "") !== source.etag.replaceAll('"', "")) {
    throw cosErrors.preconditionFailed();
  }
}

/** PUT with x-cos-copy-source: copies a whole object (up to maxCopySize). */
export const putObjectCopy: Handler = (ctx, req, bucket) => {
  const source = copySourceObject(ctx, req.headers["x-cos-copy-source"]);
  if (source.bytes.length > ctx.maxCopySize) {
    throw cosErrors.entityTooLarge(
      `The copy source is larger than ${ctx.maxCopySize} bytes; use multipart copy.`,
    );
  }
  const replace = req.headers["x-cos-metadata-directive"]?.toLowerCase() === "replaced";
  const copy = {
    // Stored bytes are never mutated, so the copy can share them.
    bytes: source.bytes,
    etag: md5Etag(source.bytes),
    lastModified: nowToSecond(),
    contentType: replace ? contentTypeOf(req) : source.contentType,
    // Only when the source has one (COS docs, CRC64 check).
    crc64: source.crc64,
  };
  bucket.put(req.key, copy);
  const reply = xmlReply(element("CopyObjectResult", [
    element("ETag", copy.etag),
    element("LastModified", copy.lastModified.toISOString()),
  ]));
  return { ...reply, headers: { ...reply.headers, ...crcHeader(copy.crc64) } };
};

/** PUT ?partNumber&uploadId with x-cos-copy-source(-range): copies into a part. */
export const uploadPartCopy: Handler = (ctx, req, bucket) => {
  const upload = findUpload(req, bucket);
  const partNumber = partNumberOf(req);
  const source = copySourceObject(ctx, req.headers["x-cos-copy-source"]);
  checkSourceEtag(req, source);
  const bytes = sourceSlice(req, source.bytes);
  if (bytes.length > ctx.maxCopySize) {
    throw cosErrors.entityTooLarge(`A copied part may not exceed ${ctx.maxCopySize} bytes.`);
  }
  // A copy, so that a small part does not pin a large source in memory.
  const part = {
    bytes: bytes.slice(),
    etag: md5Etag(bytes),
    lastModified: nowToSecond(),
    crc64: crcOf(ctx, bytes),
  };
  upload.parts.set(partNumber, part);
  const reply = xmlReply(element("CopyPartResult", [
    element("ETag", part.etag),
    element("LastModified", part.lastModified.toISOString()),
  ]));
  // COS returns the copied part's CRC64 (COS docs, CRC64 check).
  return { ...reply, headers: { ...reply.headers, ...crcHeader(part.crc64) } };
};

/** The whole source, or `x-cos-copy-source-range: bytes=a-b` of it. */
function sourceSlice(req: EmuRequest, source: Uint8Array): Uint8Array {
  const header = req.headers["x-cos-copy-source-range"];
  if (header === undefined) return source;
  const match = /^bytes=(\d+)-(\d+)$/.exec(header.trim());
  const [start, end] = match ? [Number(match[1]), Number(match[2])] : [NaN, NaN];
  if (!(start <= end && end < source.length)) {
    throw cosErrors.invalidArgument(`Invalid x-cos-copy-source-range: ${header}`);
  }
  return source.subarray(start, end + 1);
}
