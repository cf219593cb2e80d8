/**
 * What every handler shares: its context, reply builders and the few COS
 * conventions that appear in many responses (hosts, owners, key encoding).
 */

import { createHash } from "node:crypto";
import { crc64Decimal } from "./crc64.ts";
import { cosErrors } from "./errors.ts";
import { camSafeUrlEncode } from "./signature.ts";
import type { Bucket, Store } from "./store.ts";
import type { EmuReply, EmuRequest } from "./types.ts";
import { element, xmlDocument } from "./xml.ts";

/** Settings and state a handler may use. */
export interface HandlerContext {
  store: Store;
  region: string;
  /** Smallest size allowed for a multipart part other than the last. */
  minPartSize: number;
  /** Largest source PutObjectCopy / one UploadPartCopy may copy. */
  maxCopySize: number;
  /** Whether new objects and parts get a CRC64 (false: a COS variant without it). */
  crc64: boolean;
}

/** The CRC64 COS keeps for `bytes`, or none when the emulator plays a COS without CRC64. */
export function crcOf(ctx: HandlerContext, bytes: Uint8Array): string | undefined {
  return ctx.crc64 ? crc64Decimal(bytes) : undefined;
}

/** The `x-cos-hash-crc64ecma` header of something stored with `crc64`, when it has one. */
export function crcHeader(crc64: string | undefined): Record<string, string> {
  return crc64 === undefined ? {} : { "x-cos-hash-crc64ecma": crc64 };
}

/** A request handler; throws CosApiError for COS errors. */
export type Handler = (ctx: HandlerContext, req: EmuRequest, bucket: Bucket) => EmuReply;

/** A 200 with an XML document. */
export function xmlReply(root: string, status = 200): EmuReply {
  return { status, headers: { "content-type": "application/xml" }, body: xmlDocument(root) };
}

/** A reply without a body. */
export function emptyReply(status: number, headers: Record<string, string> = {}): EmuReply {
  return { status, headers };
}

/** The virtual-hosted host name of a bucket. */
export function bucketHost(bucket: string, region: string): string {
  return `${bucket}.cos.${region}.myqcloud.com`;
}

/** A key as it appears in a URL path, the way the SDK encodes it. */
export function encodeKeyPath(key: string): string {
  return camSafeUrlEncode(key).replace(/%2F/g, "/");
}

/** `<Owner>` / `<Initiator>`-style element for the bucket's account. */
export function accountElement(name: string, bucket: Bucket): string {
  return element(name, [
    element("ID", `qcs::cam::uin/${bucket.appId}:uin/${bucket.appId}`),
    element("DisplayName", bucket.appId),
  ]);
}

/** Rejects a body whose Content-MD5 header does not match it. */
export function checkContentMd5(req: EmuRequest): void {
  const declared = req.headers["content-md5"];
  if (!declared) return;
  const actual = createHash("md5").update(req.body).digest("base64");
  if (declared !== actual) throw cosErrors.badDigest();
}

/** A non-negative integer query parameter, capped; `fallback` when absent. */
export function intParam(
  query: URLSearchParams,
  name: string,
  fallback: number,
  cap = Infinity,
): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  if (!/^\d+$/.test(raw)) throw cosErrors.invalidArgument(`Invalid ${name}: ${raw}`);
  return Math.min(Number(raw), cap);
}

/** Checks `encoding-type`; returns the encoder for keys in the reply. */
export function keyEncoder(query: URLSearchParams): (text: string) => string {
  const type = query.get("encoding-type");
  if (type === null || type === "") return (text) => text;
  if (type !== "url") throw cosErrors.invalidArgument(`Invalid encoding-type: ${type}`);
  return encodeURIComponent;
}

/** Content type for a new object: the header unless empty. */
export function contentTypeOf(req: EmuRequest): string {
  return req.headers["content-type"] || "application/octet-stream";
}
