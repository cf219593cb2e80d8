/**
 * Errors with FTP meaning, and the one place where every failure becomes a
 * reply code.
 *
 * @module
 */

import { STORAGE_UNAVAILABLE, StorageError, type StorageErrorKind } from "../storage/errors.ts";
import { type Reply, reply } from "./reply.ts";

/** A failure the client should hear about as exactly this reply. */
export class FtpError extends Error {
  override readonly name = "FtpError";

  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/**
 * A transfer broken by the network rather than by anyone's decision: the
 * data connection reset or stalled, or the control connection was lost.
 * With keep_partial_uploads, what arrived of such an upload is stored.
 */
export class ConnectionLost extends FtpError {
  constructor(message: string) {
    super(426, message);
  }
}

const STORAGE_CODES: Record<StorageErrorKind, number> = {
  "not-found": 550,
  "exists": 550,
  "not-empty": 550,
  "not-a-directory": 550,
  "is-a-directory": 550,
  "denied": 550,
  "read-only": 550,
  "no-space": 452,
  "too-large": 552,
  "too-many": 550,
  "invalid-name": 553,
  "transient": 451,
  "aborted": 426,
  "failed": 451,
};

/** Whether an error is one we raised on purpose (as opposed to a bug or an unexpected fault). */
export function isExpected(error: unknown): error is FtpError | StorageError {
  return error instanceof FtpError || error instanceof StorageError;
}

/** Commands that create a file: RFC 959 has no 550 for them, 553 "file name not allowed" instead. */
const UPLOADS = new Set(["STOR", "STOU", "APPE"]);

/**
 * The reply a client gets for `error` raised by `command` (its name, when
 * known). Unexpected errors never leak their details.
 */
export function replyForError(error: unknown, command = ""): Reply {
  if (error instanceof FtpError) return reply(error.code, error.message);
  if (error instanceof StorageError) {
    return reply(storageCode(error.kind, command), clientText(error));
  }
  return reply(451, "Requested action aborted: local error in processing");
}

/** Text that tells of the network or the machine: an address, host:port, a URL, an errno name. */
const INTERNAL =
  /\b\d{1,3}(\.\d{1,3}){3}\b|\[[0-9a-fA-F:]+\]|\b[\w.-]+:\d{2,5}\b|\w+:\/\/|\bE[A-Z]{3,}\b/;

/**
 * What the client hears of a storage failure. Backends put the network's
 * words (`connect ECONNREFUSED 10.0.0.5:443`) in `detail`, for the log;
 * should such words still reach a transient or failed message (an unknown
 * fault's text), the client hears a plain sentence instead. Other kinds
 * carry our own text about the client's path.
 */
function clientText(error: StorageError): string {
  const unknownFault = error.kind === "transient" || error.kind === "failed";
  return unknownFault && INTERNAL.test(error.message) ? STORAGE_UNAVAILABLE : error.message;
}

/** What the log adds to a reply: the failure's own words when the client heard others. */
export function detailFor(error: unknown, told: Reply): string | undefined {
  if (!(error instanceof StorageError)) return undefined;
  if (error.detail) return error.detail;
  return told.lines.join(" ").includes(error.message) ? undefined : error.message;
}

function storageCode(kind: StorageErrorKind, command: string): number {
  if (kind === "read-only" && UPLOADS.has(command.toUpperCase())) return 553;
  return STORAGE_CODES[kind];
}

/** The storage request id behind a failure (COS `x-cos-request-id`), for the log. */
export function requestIdOf(error: unknown): string | undefined {
  return error instanceof StorageError && error.requestId ? error.requestId : undefined;
}
