/**
 * Routing: bucket from the virtual-hosted Host header, key from the raw
 * request path, and the COS operation from method, key, query and headers.
 */

import { cosErrors } from "./errors.ts";
import type { CosOp } from "./types.ts";

/** Where a request points. */
export interface Target {
  bucket: string;
  key: string;
  query: URLSearchParams;
}

/**
 * Splits the raw request target. The path is decoded here and only here: a
 * URL parser would fold `..` segments and so change keys such as `a/../b`.
 */
export function parseTarget(rawUrl: string, host: string): Target {
  const q = rawUrl.indexOf("?");
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const rawQuery = q < 0 ? "" : rawUrl.slice(q + 1);
  let key: string;
  try {
    key = decodeURIComponent(rawPath.replace(/^\//, ""));
  } catch {
    throw cosErrors.invalidArgument("The request path is not valid URL encoding.");
  }
  return { bucket: bucketOfHost(host), key, query: new URLSearchParams(rawQuery) };
}

/** `{Bucket}.cos.{Region}.myqcloud.com[:port]` -> `{Bucket}`: the first label. */
export function bucketOfHost(host: string): string {
  const withoutPort = host.replace(/:\d+$/, "");
  const dot = withoutPort.indexOf(".");
  return dot < 0 ? withoutPort : withoutPort.slice(0, dot);
}

/** Sub-resources of buckets and objects that the emulator does not serve. */
const UNSUPPORTED_SUBRESOURCES = [
  "acl",
  "cors",
  "policy",
  "lifecycle",
  "tagging",
  "versions",
  "versioning",
  "location",
  "website",
  "referer",
  "logging",
  "inventory",
  "replication",
  "domain",
  "origin",
  "accelerate",
  "encryption",
  "restore",
  "append",
  "select",
];

/** The operation a request asks for, or undefined when not supported. */
export function classifyOp(
  method: string,
  target: Target,
  headers: Record<string, string>,
): CosOp | undefined {
  if (UNSUPPORTED_SUBRESOURCES.some((name) => target.query.has(name))) return undefined;
  return target.key === ""
    ? bucketOp(method, target.query)
    : objectOp(method, target.query, "x-cos-copy-source" in headers);
}

function bucketOp(method: string, query: URLSearchParams): CosOp | undefined {
  if (method === "HEAD") return "HeadBucket";
  if (method === "GET") return query.has("uploads") ? "ListMultipartUploads" : "ListObjects";
  if (method === "POST" && query.has("delete")) return "DeleteMultipleObjects";
  return undefined;
}

function objectOp(method: string, query: URLSearchParams, copy: boolean): CosOp | undefined {
  const uploadId = query.has("uploadId");
  switch (method) {
    case "HEAD":
      return "HeadObject";
    case "GET":
      return uploadId ? "ListParts" : "GetObject";
    case "PUT":
      if (uploadId && query.has("partNumber")) return copy ? "UploadPartCopy" : "UploadPart";
      return copy ? "PutObjectCopy" : "PutObject";
    case "POST":
      if (query.has("uploads")) return "InitiateMultipartUpload";
      return uploadId ? "CompleteMultipartUpload" : undefined;
    case "DELETE":
      return uploadId ? "AbortMultipartUpload" : "DeleteObject";
  }
  return undefined;
}
