/**
 * File-system failures of the local backend as {@link StorageError}s: the
 * kind by errno code, and the reason in plain words. The OS's own message
 * names host paths ("mkdir '/srv/ftp/a'") and the code is jargon (EROFS), so
 * neither reaches a client; messages name only the key the client used.
 *
 * @module
 */

import { StorageError, type StorageErrorKind } from "./errors.ts";

interface Meaning {
  kind: StorageErrorKind;
  reason: string;
}

const DISK = "on the server's disk";

/** What each errno means to a client. Codes not listed are a plain "error on the server's disk". */
const BY_CODE: Readonly<Record<string, Meaning>> = {
  ENOENT: { kind: "not-found", reason: "No such file or directory" },
  EEXIST: { kind: "exists", reason: "Already exists" },
  ENOTEMPTY: { kind: "not-empty", reason: "Directory not empty" },
  ENOTDIR: { kind: "not-a-directory", reason: "Not a directory" },
  EISDIR: { kind: "is-a-directory", reason: "Is a directory" },
  EACCES: { kind: "denied", reason: `Permission denied ${DISK}` },
  EPERM: { kind: "denied", reason: `Operation not permitted ${DISK}` },
  EROFS: { kind: "read-only", reason: "Not allowed: the server's file system is read-only" },
  ENOSPC: { kind: "no-space", reason: "Insufficient storage space: the server's disk is full" },
  // A quota is an allocation for this account, which RFC 959 answers with 552.
  EDQUOT: { kind: "too-large", reason: "Exceeded storage allocation: disk quota reached" },
  EFBIG: { kind: "too-large", reason: "File too large for the server's file system" },
  EINVAL: { kind: "invalid-name", reason: "Invalid argument or name" },
  ENAMETOOLONG: { kind: "invalid-name", reason: "File name too long" },
  EILSEQ: { kind: "invalid-name", reason: "File name not allowed by the server's file system" },
  ELOOP: { kind: "failed", reason: "Too many levels of symbolic links" },
  EMLINK: { kind: "too-many", reason: "Too many links (entries) in the directory" },
  EXDEV: { kind: "failed", reason: "Cannot move across file systems on the server" },
  EIO: { kind: "failed", reason: `Input/output error ${DISK}` },
  ESTALE: { kind: "failed", reason: `Stale file handle ${DISK}; try again` },
  EBUSY: { kind: "transient", reason: "File or directory busy; try again" },
  ETXTBSY: { kind: "transient", reason: "File busy; try again" },
  EAGAIN: { kind: "transient", reason: "Resource temporarily unavailable; try again" },
  EINTR: { kind: "transient", reason: "Interrupted; try again" },
  EMFILE: { kind: "transient", reason: "Too many open files on the server; try again" },
  ENFILE: { kind: "transient", reason: "Too many open files on the server; try again" },
  ENOMEM: { kind: "transient", reason: "Server out of memory; try again" },
};

const OTHER: Meaning = { kind: "failed", reason: `Error ${DISK}` };

/** Translates a file-system error met while working on `key` into a storage kind and plain words. */
export function toStorageError(error: unknown, key: string): StorageError {
  if (error instanceof StorageError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const meaning = (typeof code === "string" && Object.hasOwn(BY_CODE, code))
    ? BY_CODE[code]
    : OTHER;
  return new StorageError(meaning.kind, `${key || "/"}: ${meaning.reason}`);
}
