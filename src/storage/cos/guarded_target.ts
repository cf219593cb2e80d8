/**
 * An {@link ObjectTarget} decorator that journals multipart uploads through
 * the bucket's {@link UploadGuard}, so the generic writer knows nothing of
 * journals: intent before Initiate, claim after it, entry removed after
 * Complete or Abort, and an Abort that fails handed to the retry queue.
 * Single PUTs (files smaller than one part) pass straight through.
 *
 * @module
 */

import type { ObjectTarget } from "./multipart.ts";
import { StorageError } from "../errors.ts";
import type { UploadGuard } from "./guard.ts";

/** `inner` (the target of full key `key`) with its multipart uploads journaled. */
export function guardTarget(inner: ObjectTarget, key: string, guard: UploadGuard): ObjectTarget {
  return {
    ...inner,
    put: (body) => inner.put(body),
    uploadPart: (uploadId, partNumber, body) => inner.uploadPart(uploadId, partNumber, body),
    async initiate() {
      const entry = await guard.beginUpload(key);
      let uploadId: string;
      try {
        uploadId = await inner.initiate();
      } catch (error) {
        guard.abandon(entry);
        throw error;
      }
      guard.claim(entry, uploadId);
      return uploadId;
    },
    async complete(uploadId, etags, size) {
      const entry = await inner.complete(uploadId, etags, size);
      await guard.finish(uploadId);
      return entry;
    },
    async abort(uploadId) {
      try {
        await inner.abort(uploadId);
      } catch (error) {
        const gone = error instanceof StorageError && error.kind === "not-found";
        if (!gone) return guard.abortLater(uploadId, error);
      }
      await guard.finish(uploadId);
    },
  };
}
