/**
 * COS and network failures as {@link StorageError} kinds: the only place that
 * reads SDK errors. Messages carry COS's code and text, never credentials.
 *
 * @module
 */

import { STORAGE_UNAVAILABLE, StorageError, type StorageErrorKind } from "../errors.ts";

/** The parts of an SDK error we read (it is a plain object or an Error with these fields). */
interface SdkError {
  code?: string;
  statusCode?: number;
  message?: string;
  headers?: Record<string, string>;
  RequestId?: string;
  error?: { Code?: string; Message?: string; RequestId?: string } | string;
}

const BY_CODE: Record<string, StorageErrorKind> = {
  NoSuchKey: "not-found",
  NoSuchUpload: "not-found",
  NoSuchBucket: "denied",
  AccessDenied: "denied",
  SignatureDoesNotMatch: "denied",
  InvalidAccessKeyId: "denied",
  EntityTooLarge: "too-large",
  InvalidObjectName: "invalid-name",
  KeyTooLong: "invalid-name",
};

/** Network-level failures worth retrying. */
const TRANSIENT_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
  "ENOTFOUND",
  "RequestTimeout",
  "SlowDown",
  // Content-MD5 differed: the body was damaged on its way; it is sent again from memory.
  "BadDigest",
  "InternalError",
  "ServiceUnavailable",
]);

/** Translates anything the SDK threw while working on `what` (a key, for messages). */
export function fromCosError(raw: unknown, what: string): StorageError {
  if (raw instanceof StorageError) return raw;
  const error = (raw ?? {}) as SdkError;
  const body = typeof error.error === "object" ? error.error : undefined;
  const code = body?.Code ?? error.code ?? "";
  const status = error.statusCode ?? (Number(code) || 0);
  const requestId = body?.RequestId ?? error.RequestId ?? error.headers?.["x-cos-request-id"] ?? "";
  const kind = kindOf(code, status);
  const text = body?.Message ?? error.message ?? "";
  const detail = /^\d+$/.test(code) || code === ""
    ? `HTTP ${status || code} ${text}`.trim()
    : [code, text].filter(Boolean).join(": ");
  const full = `${what || "/"}: COS ${detail}`;
  // No HTTP answer: the words are the network's (`connect ECONNREFUSED 10.0.0.5:443`).
  if (!error.statusCode && !body) {
    return new StorageError(kind, `${what || "/"}: ${STORAGE_UNAVAILABLE}`, requestId, full);
  }
  return new StorageError(kind, full, requestId);
}

function kindOf(code: string, status: number): StorageErrorKind {
  if (BY_CODE[code]) return BY_CODE[code];
  if (TRANSIENT_CODES.has(code) || status >= 500 || status === 429 || status === 0) {
    return "transient";
  }
  if (status === 404) return "not-found";
  if (status === 403) return "denied";
  return "failed";
}
