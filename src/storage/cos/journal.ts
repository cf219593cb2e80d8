/**
 * The upload journal: small objects under the bucket's hidden
 * `.cos-ftp-server/` prefix that say which multipart uploads are ours and
 * which process started them. ListMultipartUploads returns no metadata, so
 * this is the only way to tell our uploads from other tools' and a live
 * instance's from a dead one's.
 *
 * Layout (names only; bodies are small JSON):
 * - `instances/<instance>`: the lease, rewritten every heartbeat; its
 *   Last-Modified (COS's clock) says when the instance was last alive.
 * - `uploads/<instance>/<entry>`: the intent, written before
 *   InitiateMultipartUpload, holding the object key. Its Last-Modified
 *   bounds the upload's Initiated time if the process dies before the claim.
 * - `uploads/<instance>/<entry>.<uploadId>`: the claim, written right after
 *   the upload id is known. Upload ids in names let one listing tell every
 *   claimed upload without reading bodies.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { StorageError } from "../errors.ts";
import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";

/** The hidden prefix at the bucket root. */
export const JOURNAL_PREFIX = ".cos-ftp-server/";
const INSTANCES = `${JOURNAL_PREFIX}instances/`;
const UPLOADS = `${JOURNAL_PREFIX}uploads/`;

/** Whether a full object key lies in the hidden prefix (or is its directory name). */
export function isJournalKey(key: string): boolean {
  return key === JOURNAL_PREFIX.slice(0, -1) || key.startsWith(JOURNAL_PREFIX);
}

/** One journal object of an upload, as a listing shows it. */
export interface JournalEntry {
  instance: string;
  /** The entry id shared by intent and claim. */
  entry: string;
  /** Set on a claim. */
  uploadId?: string;
  /** COS's Last-Modified (ms). */
  modified: number;
}

/** One lease, as a listing shows it. */
export interface LeaseRecord {
  instance: string;
  modified: number;
}

/** A snapshot of the journal, with COS's clock at the time of the listing. */
export interface JournalSnapshot {
  entries: JournalEntry[];
  /** COS time (the response Date header; the local clock when absent). */
  now: number;
}

/** What an intent or claim body holds. */
export interface EntryBody {
  key: string;
  uploadId?: string;
}

/** An entry read back. */
export interface EntryRead {
  body: EntryBody;
  /** COS's Last-Modified (ms). */
  modified: number;
}

/** Journal requests for one bucket. */
export class Journal {
  constructor(readonly client: CosClient) {}

  /** A fresh entry id: time-ordered, unique enough without coordination. */
  static newEntryId(): string {
    const random = crypto.getRandomValues(new Uint8Array(6));
    return `${Date.now().toString(36)}-${Buffer.from(random).toString("hex")}`;
  }

  writeLease(instance: string, body: Record<string, unknown>): Promise<void> {
    return this.#put(`${INSTANCES}${instance}`, body);
  }

  deleteLease(instance: string): Promise<void> {
    return this.#delete([`${INSTANCES}${instance}`]);
  }

  writeIntent(instance: string, entry: string, key: string): Promise<void> {
    return this.#put(`${UPLOADS}${instance}/${entry}`, { key });
  }

  writeClaim(instance: string, entry: string, key: string, uploadId: string): Promise<void> {
    return this.#put(`${UPLOADS}${instance}/${entry}.${uploadId}`, { key, uploadId });
  }

  /**
   * Deletes the intent and claim (whichever exist) of one entry in one
   * request, and the instance's lease with them when `withLease` (its last upload).
   */
  removeEntry(instance: string, entry: string, uploadId?: string, withLease = false) {
    const intent = `${UPLOADS}${instance}/${entry}`;
    const keys = uploadId ? [intent, `${intent}.${uploadId}`] : [intent];
    return this.#delete(withLease ? [...keys, `${INSTANCES}${instance}`] : keys);
  }

  /** The body and Last-Modified of an intent (or claim, given its upload id); null when gone. */
  async readEntry(instance: string, entry: string, uploadId?: string): Promise<EntryRead | null> {
    const key = `${UPLOADS}${instance}/${entry}${uploadId ? `.${uploadId}` : ""}`;
    try {
      const result = await this.client.sdk.getObject({ ...this.#bucket(), Key: key });
      const body = JSON.parse(Buffer.from(result.Body).toString("utf8"));
      if (typeof body?.key !== "string") throw new Error("no key");
      const modified = Date.parse(result.headers?.["last-modified"] ?? "") || Date.now();
      return { body: body as EntryBody, modified };
    } catch (error) {
      if (error instanceof SyntaxError || (error as Error)?.message === "no key") {
        throw new StorageError("failed", `${key}: unreadable journal entry`);
      }
      const failure = fromCosError(error, key);
      if (failure.kind === "not-found") return null;
      throw failure;
    }
  }

  /** Every upload entry of every instance. */
  async entries(): Promise<JournalSnapshot> {
    const { objects, now } = await this.#listAll(UPLOADS);
    const entries: JournalEntry[] = [];
    for (const { key, modified } of objects) {
      const match = /^([^/]+)\/([a-z0-9-]+)(?:\.([^/]+))?$/.exec(key.slice(UPLOADS.length));
      if (!match) continue;
      entries.push({ instance: match[1], entry: match[2], uploadId: match[3], modified });
    }
    return { entries, now };
  }

  /** Every lease. */
  async leases(): Promise<{ leases: LeaseRecord[]; now: number }> {
    const { objects, now } = await this.#listAll(INSTANCES);
    const leases = objects
      .map(({ key, modified }) => ({ instance: key.slice(INSTANCES.length), modified }))
      .filter((lease) => lease.instance !== "" && !lease.instance.includes("/"));
    return { leases, now };
  }

  async #listAll(prefix: string): Promise<{ objects: ListedObject[]; now: number }> {
    const objects: ListedObject[] = [];
    let marker = "";
    let now = Date.now();
    while (true) {
      const page = await this.client.sdk.getBucket({
        ...this.#bucket(),
        Prefix: prefix,
        Marker: marker,
        MaxKeys: 1000,
      }).catch((error: unknown) => {
        throw fromCosError(error, prefix);
      });
      now = cosNow(page.headers);
      for (const item of page.Contents ?? []) {
        objects.push({ key: item.Key, modified: Date.parse(item.LastModified) || 0 });
      }
      if (page.IsTruncated !== "true" || objects.length === 0) return { objects, now };
      marker = page.NextMarker || objects[objects.length - 1].key;
    }
  }

  async #put(key: string, body: Record<string, unknown>): Promise<void> {
    await this.client.sdk.putObject({
      ...this.#bucket(),
      Key: key,
      Body: JSON.stringify(body),
      ContentType: "application/json",
    }).catch((error: unknown) => {
      throw fromCosError(error, key);
    });
  }

  async #delete(keys: string[]): Promise<void> {
    const result = await this.client.sdk.deleteMultipleObject({
      ...this.#bucket(),
      Objects: keys.map((Key) => ({ Key })),
    }).catch((error: unknown) => {
      throw fromCosError(error, keys[0]);
    });
    const failed = result.Error ?? [];
    if (failed.length > 0) {
      throw new StorageError("transient", `${failed[0].Key}: COS could not delete it`);
    }
  }

  #bucket() {
    return { Bucket: this.client.bucket, Region: this.client.region };
  }
}

interface ListedObject {
  key: string;
  modified: number;
}

/** COS's clock from a response's Date header, so staleness does not depend on ours. */
export function cosNow(headers: Record<string, string> | undefined): number {
  const date = Date.parse(headers?.date ?? "");
  return Number.isNaN(date) ? Date.now() : date;
}
