/**
 * Shared shapes of the COS emulator: the operation names, a request as the
 * handlers see it (already read, decoded and routed) and a reply.
 */

/** Every COS operation the emulator knows, named as in the COS API docs. */
export const COS_OPS = [
  "PutObject",
  "GetObject",
  "HeadObject",
  "DeleteObject",
  "ListObjects",
  "InitiateMultipartUpload",
  "UploadPart",
  "CompleteMultipartUpload",
  "AbortMultipartUpload",
  "UploadPartCopy",
  "PutObjectCopy",
  "DeleteMultipleObjects",
  "HeadBucket",
  "ListParts",
  "ListMultipartUploads",
] as const;

/** A COS operation name. */
export type CosOp = typeof COS_OPS[number];

/** A request after transport: body fully read, path decoded, op routed. */
export interface EmuRequest {
  /** Upper-case HTTP method. */
  method: string;
  /** Bucket from the Host header (`name-appid`). */
  bucket: string;
  /** Decoded object key without the leading `/`; "" for bucket requests. */
  key: string;
  /** Decoded query parameters. */
  query: URLSearchParams;
  /** Request headers, names lower-cased. */
  headers: Record<string, string>;
  body: Uint8Array;
  requestId: string;
}

/** What a handler answers. */
export interface EmuReply {
  status: number;
  headers: Record<string, string>;
  body?: Uint8Array | string;
}
