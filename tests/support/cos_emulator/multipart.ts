/**
 * Multipart uploads: initiate, upload part, complete, abort, list parts and
 * list uploads. Parts are validated at completion, as COS does.
 */

import { createHash, randomBytes } from "node:crypto";
import { cosErrors } from "./errors.ts";
import { metaOf, parseBody } from "./objects.ts";
import {
  accountElement,
  bucketHost,
  checkContentMd5,
  contentTypeOf,
  crcHeader,
  crcOf,
  emptyReply,
  encodeKeyPath,
  type Handler,
  intParam,
  keyEncoder,
  xmlReply,
} from "./reply.ts";
import {
  type Bucket,
  compareKeys,
  md5Etag,
  nowToSecond,
  type StoredPart,
  type Upload,
} from "./store.ts";
import type { EmuRequest } from "./types.ts";
import { childrenNamed, childText, element } from "./xml.ts";

/** Most parts one upload may have. */
const MAX_PART_NUMBER = 10_000;

/** POST ?uploads: opens an upload and returns its UploadId. */
export const initiateMultipartUpload: Handler = (_ctx, req, bucket) => {
  // COS upload ids are long opaque strings led by a timestamp.
  const uploadId = `${Math.floor(Date.now() / 1000)}${randomBytes(24).toString("hex")}`;
  bucket.uploads.set(uploadId, {
    uploadId,
    key: req.key,
    initiated: new Date(),
    contentType: contentTypeOf(req),
    meta: metaOf(req),
    parts: new Map(),
  });
  return xmlReply(element("InitiateMultipartUploadResult", [
    element("Bucket", bucket.name),
    element("Key", req.key),
    element("UploadId", uploadId),
  ]));
};

/** The open upload `?uploadId=` names, which must belong to the request's key. */
export function findUpload(req: EmuRequest, bucket: Bucket): Upload {
  const upload = bucket.uploads.get(req.query.get("uploadId") ?? "");
  if (!upload || upload.key !== req.key) throw cosErrors.noSuchUpload();
  return upload;
}

/** `?partNumber=`, an integer in 1..10000. */
export function partNumberOf(req: EmuRequest): number {
  const raw = req.query.get("partNumber") ?? "";
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!(n >= 1 && n <= MAX_PART_NUMBER)) {
    throw cosErrors.invalidArgument(`Part number must be an integer between 1 and 10000.`);
  }
  return n;
}

/** PUT ?partNumber&uploadId: stores (or replaces) one part. */
export const uploadPart: Handler = (ctx, req, bucket) => {
  const upload = findUpload(req, bucket);
  const partNumber = partNumberOf(req);
  checkContentMd5(req);
  const part = {
    bytes: req.body,
    etag: md5Etag(req.body),
    lastModified: nowToSecond(),
    crc64: crcOf(ctx, req.body),
  };
  upload.parts.set(partNumber, part);
  return emptyReply(200, { etag: part.etag, ...crcHeader(part.crc64) });
};

/** DELETE ?uploadId: drops the upload and its parts. */
export const abortMultipartUpload: Handler = (_ctx, req, bucket) => {
  const upload = findUpload(req, bucket);
  bucket.uploads.delete(upload.uploadId);
  return emptyReply(204);
};

/** POST ?uploadId with the part list: assembles the object. */
export const completeMultipartUpload: Handler = (ctx, req, bucket) => {
  const upload = findUpload(req, bucket);
  const chosen = chosenParts(req, upload, ctx.minPartSize);
  const bytes = concatParts(chosen);
  const etag = multipartEtag(chosen);
  // COS gives the object a CRC only when every part had one.
  const crc64 = chosen.every((p) => p.crc64 !== undefined) ? crcOf(ctx, bytes) : undefined;
  bucket.put(upload.key, {
    bytes,
    etag,
    lastModified: nowToSecond(),
    contentType: upload.contentType,
    meta: upload.meta,
    crc64,
  });
  bucket.uploads.delete(upload.uploadId);
  const reply = xmlReply(element("CompleteMultipartUploadResult", [
    element("Location", `${bucketHost(bucket.name, ctx.region)}/${encodeKeyPath(upload.key)}`),
    element("Bucket", bucket.name),
    element("Key", upload.key),
    element("ETag", etag),
  ]));
  return { ...reply, headers: { ...reply.headers, ...crcHeader(crc64) } };
};

/** The parts the Complete body lists, validated against the upload. */
function chosenParts(req: EmuRequest, upload: Upload, minPartSize: number): StoredPart[] {
  const listed = childrenNamed(parseBody(req.body, "CompleteMultipartUpload"), "Part");
  if (listed.length === 0) throw cosErrors.malformedXml();
  let previous = 0;
  const parts = listed.map((entry) => {
    const number = Number(childText(entry, "PartNumber")?.trim());
    if (!Number.isInteger(number)) throw cosErrors.malformedXml();
    if (number <= previous) throw cosErrors.invalidPartOrder();
    previous = number;
    const part = upload.parts.get(number);
    if (!part || unquote(childText(entry, "ETag") ?? "") !== unquote(part.etag)) {
      throw cosErrors.invalidPart();
    }
    return part;
  });
  if (parts.slice(0, -1).some((p) => p.bytes.length < minPartSize)) {
    throw cosErrors.entityTooSmall();
  }
  return parts;
}

function unquote(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "").toLowerCase();
}

/** One allocation, one copy per part: big objects stay affordable. */
function concatParts(parts: StoredPart[]): Uint8Array {
  const total = parts.reduce((sum, p) => sum + p.bytes.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part.bytes, offset);
    offset += part.bytes.length;
  }
  return out;
}

/** `"<md5 of the concatenated binary part MD5s>-<count>"`. */
function multipartEtag(parts: StoredPart[]): string {
  const hash = createHash("md5");
  for (const part of parts) hash.update(hexBytes(unquote(part.etag)));
  return `"${hash.digest("hex")}-${parts.length}"`;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** GET ?uploadId: the parts uploaded so far, paged by part-number-marker. */
export const listParts: Handler = (_ctx, req, bucket) => {
  const upload = findUpload(req, bucket);
  const marker = intParam(req.query, "part-number-marker", 0);
  const maxParts = intParam(req.query, "max-parts", 1000, 1000);
  const encode = keyEncoder(req.query);
  const numbers = [...upload.parts.keys()].filter((n) => n > marker).sort((a, b) => a - b);
  const page = numbers.slice(0, maxParts);
  const truncated = numbers.length > page.length;
  return xmlReply(element("ListPartsResult", [
    element("Bucket", bucket.name),
    element("Key", encode(upload.key)),
    element("UploadId", upload.uploadId),
    accountElement("Initiator", bucket),
    accountElement("Owner", bucket),
    element("StorageClass", "STANDARD"),
    element("PartNumberMarker", marker),
    element("NextPartNumberMarker", page.at(-1) ?? marker),
    element("MaxParts", maxParts),
    element("IsTruncated", truncated),
    ...page.map((n) => partElement(n, upload.parts.get(n)!)),
  ]));
};

function partElement(number: number, part: StoredPart): string {
  return element("Part", [
    element("PartNumber", number),
    element("LastModified", part.lastModified.toISOString()),
    element("ETag", part.etag),
    element("Size", part.bytes.length),
  ]);
}

/** GET /?uploads: open uploads by key, filtered by prefix, paged by markers. */
export const listMultipartUploads: Handler = (_ctx, req, bucket) => {
  const prefix = req.query.get("prefix") ?? "";
  const keyMarker = req.query.get("key-marker") ?? "";
  const idMarker = req.query.get("upload-id-marker") ?? "";
  const maxUploads = intParam(req.query, "max-uploads", 1000, 1000);
  const encode = keyEncoder(req.query);
  const all = [...bucket.uploads.values()]
    .filter((u) => u.key.startsWith(prefix) && afterMarker(u, keyMarker, idMarker))
    .sort((a, b) => compareKeys(a.key, b.key) || compareKeys(a.uploadId, b.uploadId));
  const page = all.slice(0, maxUploads);
  const truncated = all.length > page.length;
  const last = page.at(-1);
  return xmlReply(element("ListMultipartUploadsResult", [
    element("Bucket", bucket.name),
    element("Prefix", encode(prefix)),
    element("KeyMarker", encode(keyMarker)),
    element("UploadIdMarker", idMarker),
    element("NextKeyMarker", truncated && last ? encode(last.key) : ""),
    element("NextUploadIdMarker", truncated && last ? last.uploadId : ""),
    element("MaxUploads", maxUploads),
    element("IsTruncated", truncated),
    ...page.map((u) => uploadElement(u, bucket, encode)),
  ]));
};

function afterMarker(upload: Upload, keyMarker: string, idMarker: string): boolean {
  if (keyMarker === "") return true;
  const order = compareKeys(upload.key, keyMarker);
  return order > 0 ||
    (order === 0 && idMarker !== "" && compareKeys(upload.uploadId, idMarker) > 0);
}

function uploadElement(upload: Upload, bucket: Bucket, encode: (s: string) => string): string {
  return element("Upload", [
    element("Key", encode(upload.key)),
    element("UploadId", upload.uploadId),
    element("StorageClass", "STANDARD"),
    accountElement("Initiator", bucket),
    accountElement("Owner", bucket),
    element("Initiated", upload.initiated.toISOString()),
  ]);
}
