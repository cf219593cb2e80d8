/**
 * Simple object operations: PUT, GET (with Range), HEAD, DELETE and the
 * multi-object delete (POST ?delete).
 */

import { cosErrors } from "./errors.ts";
import {
  checkContentMd5,
  contentTypeOf,
  crcHeader,
  crcOf,
  emptyReply,
  type Handler,
  xmlReply,
} from "./reply.ts";
import { md5Etag, nowToSecond, type StoredObject } from "./store.ts";
import type { EmuRequest } from "./types.ts";
import { childrenNamed, childText, element, parseXml, type XmlElement } from "./xml.ts";

/** The headers COS sends with an object (GET/HEAD). */
export function objectHeaders(object: StoredObject): Record<string, string> {
  return {
    "etag": object.etag,
    "last-modified": object.lastModified.toUTCString(),
    "content-type": object.contentType,
    "accept-ranges": "bytes",
    ...object.meta,
    // The whole object's CRC, on ranged GETs too (as COS does).
    ...crcHeader(object.crc64),
  };
}

/** Request headers COS keeps with an object and sends back on GET and HEAD. */
export function metaOf(req: EmuRequest): Record<string, string> {
  const kept = Object.entries(req.headers).filter(([name]) =>
    name.startsWith("x-cos-meta-") || name === "x-cos-storage-class" ||
    name.startsWith("x-cos-server-side-encryption")
  );
  return Object.fromEntries(kept);
}

/** ARCHIVE and DEEP_ARCHIVE objects must be restored before they can be read or copied. */
export function refuseArchived(object: StoredObject): void {
  const storageClass = object.meta?.["x-cos-storage-class"] ?? "";
  if (/ARCHIVE/i.test(storageClass)) throw cosErrors.invalidObjectState();
}

/** PUT Object: stores the body; ETag is the quoted MD5. */
export const putObject: Handler = (ctx, req, bucket) => {
  checkContentMd5(req);
  const object = {
    bytes: req.body,
    etag: md5Etag(req.body),
    lastModified: nowToSecond(),
    contentType: contentTypeOf(req),
    meta: metaOf(req),
    crc64: crcOf(ctx, req.body),
  };
  bucket.put(req.key, object);
  return emptyReply(200, { etag: object.etag, ...crcHeader(object.crc64) });
};

/** HEAD Object: the headers of GET without the body. */
export const headObject: Handler = (_ctx, req, bucket) => {
  const object = bucket.objects.get(req.key);
  if (!object) throw cosErrors.noSuchKey();
  return {
    status: 200,
    headers: { ...objectHeaders(object), "content-length": String(object.bytes.length) },
  };
};

/** GET Object, honouring `Range: bytes=a-b | a- | -n`. */
export const getObject: Handler = (_ctx, req, bucket) => {
  const object = bucket.objects.get(req.key);
  if (!object) throw cosErrors.noSuchKey();
  refuseArchived(object);
  const size = object.bytes.length;
  const range = parseRange(req.headers["range"], size);
  if (range === "unsatisfiable") throw cosErrors.invalidRange(size);
  if (!range) return { status: 200, headers: objectHeaders(object), body: object.bytes };
  return {
    status: 206,
    headers: {
      ...objectHeaders(object),
      "content-range": `bytes ${range.start}-${range.end}/${size}`,
    },
    body: object.bytes.subarray(range.start, range.end + 1),
  };
};

/**
 * A single byte range of an object of `size` bytes. Undefined means "serve
 * the whole object": no header, or one HTTP says to ignore (bad syntax,
 * several ranges, last < first).
 */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match || (match[1] === "" && match[2] === "")) return undefined;
  if (match[1] === "") {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const last = match[2] === "" ? Infinity : Number(match[2]);
  if (last < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return { start, end: Math.min(last, size - 1) };
}

/** DELETE Object: 204 whether or not the key existed, as COS does. */
export const deleteObject: Handler = (_ctx, req, bucket) => {
  bucket.delete(req.key);
  return emptyReply(204);
};

/** POST ?delete: deletes the listed keys; Quiet leaves out the successes. */
export const deleteMultipleObjects: Handler = (_ctx, req, bucket) => {
  checkContentMd5(req);
  const doc = parseBody(req.body, "Delete");
  const quiet = childText(doc, "Quiet")?.trim().toLowerCase() === "true";
  const deleted: string[] = [];
  for (const entry of childrenNamed(doc, "Object")) {
    const key = childText(entry, "Key");
    if (key === undefined || key === "") throw cosErrors.malformedXml();
    bucket.delete(key);
    if (!quiet) deleted.push(element("Deleted", [element("Key", key)]));
  }
  return xmlReply(element("DeleteResult", deleted));
};

/** Parses an XML request body whose root must be `root`. */
export function parseBody(body: Uint8Array, root: string): XmlElement {
  let doc: XmlElement;
  try {
    doc = parseXml(new TextDecoder("utf-8", { fatal: true }).decode(body));
  } catch {
    throw cosErrors.malformedXml();
  }
  if (doc.name !== root) throw cosErrors.malformedXml();
  return doc;
}
