/**
 * Resolving one journal entry: abort the multipart upload it stands for (if
 * COS still has it), then delete the entry. Idempotent, so the sweepers of
 * several instances, or retries of the same one, may run it concurrently.
 *
 * @module
 */

import type { CosClient } from "./client.ts";
import { abortUpload, listIncompleteUploads } from "./incomplete.ts";
import type { Journal } from "./journal.ts";

/** One journal entry to resolve. */
export interface Orphan {
  instance: string;
  entry: string;
  /** Known once claimed. */
  uploadId?: string;
  /** The object key, when known without reading the entry. */
  key?: string;
}

/**
 * Slack below an intent's Last-Modified for the Initiated times it may match:
 * Last-Modified is truncated to the second, and the two come from different COS hosts.
 */
const INITIATED_SLACK_MS = 2000;

/** Aborts what an entry stands for and deletes the entry. */
export class Resolver {
  /**
   * `initiateWindowMs`: how long after an intent its InitiateMultipartUpload can
   * have taken effect (one request, including its timeout).
   */
  constructor(
    private readonly client: CosClient,
    private readonly journal: Journal,
    private readonly initiateWindowMs: number,
  ) {}

  /** Resolves `orphan`; returns the upload ids aborted. */
  async resolve(orphan: Orphan): Promise<string[]> {
    const { instance, entry, uploadId } = orphan;
    const read = await this.journal.readEntry(instance, entry, uploadId);
    const key = read?.body.key ?? orphan.key;
    const aborted: string[] = [];
    if (uploadId !== undefined && key !== undefined) {
      if (await abortUpload(this.client, key, uploadId)) aborted.push(uploadId);
    } else if (read) {
      for (const id of await this.#unclaimed(read.body.key, read.modified)) {
        if (await abortUpload(this.client, read.body.key, id)) aborted.push(id);
      }
    }
    await this.journal.removeEntry(instance, entry, uploadId);
    return aborted;
  }

  /**
   * The uploads an intent without a claim may have started (the process died
   * between InitiateMultipartUpload and the claim): same key, initiated in the
   * intent's window, claimed by no instance. Uploads are listed before the
   * journal, so an upload another instance starts meanwhile is either not
   * listed or already claimed.
   */
  async #unclaimed(key: string, intentModified: number): Promise<string[]> {
    const uploads = await listIncompleteUploads(this.client, key);
    const from = intentModified - INITIATED_SLACK_MS;
    const to = intentModified + this.initiateWindowMs;
    const candidates = uploads.filter((u) =>
      u.key === key && u.initiated >= from && u.initiated <= to
    );
    if (candidates.length === 0) return [];
    const { entries } = await this.journal.entries();
    const claimed = new Set(entries.map((e) => e.uploadId).filter((id) => id !== undefined));
    return candidates.filter((u) => !claimed.has(u.uploadId)).map((u) => u.uploadId);
  }
}
