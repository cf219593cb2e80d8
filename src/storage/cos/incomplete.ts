/**
 * Incomplete multipart uploads as COS reports them (ListMultipartUploads),
 * who owns them according to the journal, and aborting one. Shared by the
 * sweeper and the `--list/--abort-incomplete-uploads` commands.
 *
 * @module
 */

import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";
import { decodeEntities } from "./listing.ts";
import type { JournalEntry, LeaseRecord } from "./journal.ts";

/** One open multipart upload. */
export interface IncompleteUpload {
  key: string;
  uploadId: string;
  /** COS's Initiated time (ms). */
  initiated: number;
}

/** Every open upload whose key starts with `prefix`, following COS's paging markers. */
export async function listIncompleteUploads(
  client: CosClient,
  prefix: string,
  pageSize = 1000,
): Promise<IncompleteUpload[]> {
  const uploads: IncompleteUpload[] = [];
  let keyMarker = "";
  let idMarker = "";
  while (true) {
    const page = await client.sdk.multipartList({
      Bucket: client.bucket,
      Region: client.region,
      Prefix: prefix,
      Delimiter: "",
      MaxUploads: pageSize,
      KeyMarker: keyMarker || undefined,
      UploadIdMarker: idMarker || undefined,
    }).catch((error: unknown) => {
      throw fromCosError(error, prefix);
    });
    for (const upload of page.Upload ?? []) {
      uploads.push({
        // The SDK leaves numeric entities (`&#x60;` for a backtick) in keys it parsed.
        key: decodeEntities(upload.Key),
        uploadId: upload.UploadId,
        initiated: Date.parse(upload.Initiated) || 0,
      });
    }
    if (page.IsTruncated !== "true" || !page.NextKeyMarker) return uploads;
    keyMarker = decodeEntities(page.NextKeyMarker);
    idMarker = page.NextUploadIdMarker ?? "";
  }
}

/** Aborts one upload; true when it was open, false when COS no longer had it. */
export async function abortUpload(client: CosClient, key: string, uploadId: string) {
  try {
    await client.sdk.multipartAbort({
      Bucket: client.bucket,
      Region: client.region,
      Key: key,
      UploadId: uploadId,
    });
    return true;
  } catch (error) {
    const failure = fromCosError(error, key);
    if (failure.kind === "not-found") return false;
    throw failure;
  }
}

/** The last sign of life of each instance in the journal: its lease or newest entry (COS time). */
export function lastSeen(entries: JournalEntry[], leases: LeaseRecord[]): Map<string, number> {
  const seen = new Map<string, number>();
  const note = (instance: string, at: number) =>
    seen.set(instance, Math.max(seen.get(instance) ?? 0, at));
  for (const lease of leases) note(lease.instance, lease.modified);
  for (const entry of entries) note(entry.instance, entry.modified);
  return seen;
}
