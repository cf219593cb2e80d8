/**
 * Storage failures as values. Backends translate their native errors (errno,
 * COS error codes) into these kinds; the FTP layer maps kinds to reply codes
 * in exactly one place (`src/ftp/errors.ts`).
 *
 * @module
 */

/** What went wrong, independent of the backend. */
export type StorageErrorKind =
  | "not-found"
  | "exists"
  | "not-empty"
  | "not-a-directory"
  | "is-a-directory"
  | "denied"
  /** The file system refuses every change (mounted read-only). */
  | "read-only"
  /** The disk (not a quota of this account) is full. */
  | "no-space"
  | "too-large"
  | "too-many"
  | "invalid-name"
  | "transient"
  | "aborted"
  | "failed";

/** An error a backend raises on purpose; anything else is a bug or an unexpected fault. */
export class StorageError extends Error {
  override readonly name = "StorageError";

  constructor(
    readonly kind: StorageErrorKind,
    message: string,
    /** Backend request id (COS `x-cos-request-id`), for the log only. */
    readonly requestId = "",
    /** The backend's or network's own words (an address, an errno name), for the log only. */
    readonly detail = "",
  ) {
    super(message);
  }
}

/** What a client is told when storage did not answer; the cause goes to the log only. */
export const STORAGE_UNAVAILABLE = "Storage unavailable, try again later";
