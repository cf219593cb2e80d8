/**
 * COS storage: the {@link Storage} interface over one bucket (and optional
 * key prefix) through cos-nodejs-sdk-v5.
 *
 * Directories are `dir/` marker objects or implicit (keys under a prefix).
 * Uploads go through the {@link MultipartWriter}; nothing is visible before
 * commit and aborted uploads leave no parts behind.
 *
 * @module
 */

import type { CosStorageConfig } from "../../config/types.ts";
import { StorageError } from "../errors.ts";
import { baseName } from "../keys.ts";
import { MAX_PART_BYTES, MIN_PART_BYTES } from "./limits.ts";
import { MultipartWriter } from "./multipart.ts";
import type { ObjectTarget } from "./multipart.ts";
import { withRetry } from "../retry.ts";
import type { PartBufferPool } from "./buffers.ts";
import type {
  Entry,
  ListOptions,
  ReadOptions,
  Storage,
  WriteOptions,
  WriteSink,
} from "../types.ts";
import { type CosClient, createCosClient } from "./client.ts";
import { openDownload } from "./download.ts";
import { crcWorker } from "../crc_worker.ts";
import { encodeObjectPath } from "./http.ts";
import { fromCosError } from "./errors.ts";
import { getBucketPage, listPages } from "./listing.ts";
import { cosTarget, type ResumeSource } from "./target.ts";
import type { UploadGuard } from "./guard.ts";
import { guardTarget } from "./guarded_target.ts";
import { isJournalKey } from "./journal.ts";
import type { CosRequestObserver } from "./observe.ts";

/** Server-wide settings the COS backend needs. */
export interface CosSettings {
  pool: PartBufferPool;
  minPartSize: number;
  parallelParts: number;
  timeoutMs: number;
  maxRenameObjects: number;
  /** Largest single server-side copy; bigger objects are copied part by part (COS: 5 GB). */
  maxCopyBytes?: number;
  /** Hears about retried requests and failures (for the log). */
  onRetry?: (error: StorageError, attempt: number) => void;
  /** Hears about every request (for the metrics). */
  onRequest?: CosRequestObserver;
  /** Check uploads and whole downloads against COS's CRC-64 (`verify_checksums`). */
  verifyChecksums?: boolean;
  /** Journals multipart uploads so no crash leaves them behind (released by close). */
  guard?: UploadGuard;
}

/** Headers a resumed object keeps from the one it replaces. */
const INHERITED_HEADER =
  /^(content-type|x-cos-meta-.+|x-cos-storage-class|x-cos-server-side-encryption(-cos-kms-key-id)?)$/;

/** Keys deleted per DeleteMultipleObjects request (the COS maximum). */
const DELETE_BATCH = 1000;

/** Storage in one COS bucket. */
export class CosStorage implements Storage {
  readonly description: string;
  readonly #client: CosClient;
  readonly #prefix: string;

  constructor(config: CosStorageConfig, private readonly settings: CosSettings) {
    this.#client = createCosClient(config, settings.timeoutMs, settings.onRequest);
    this.#prefix = config.prefix;
    this.description = `cos://${config.bucket}/${config.prefix}`;
    // Verified downloads share one CRC worker; holding it spares each download its start-up.
    if (settings.verifyChecksums) crcWorker.acquire();
  }

  /**
   * HEAD on the bucket: proves endpoint, credentials and bucket (for `--check`).
   * A HEAD reply has no body, so on failure one GET Bucket fetches COS's own
   * error code and message for the report.
   */
  async probe(): Promise<void> {
    const what = `bucket ${this.#client.bucket}`;
    // Keys first: a CVM role's metadata service failing is reported in its own words.
    await this.#client.sign("get", "");
    try {
      await this.#client.sdk.headBucket(this.#bucketParams());
    } catch (headError) {
      await this.#client.sdk.getBucket({ ...this.#bucketParams(), MaxKeys: 1 }).catch((error) => {
        throw fromCosError(error, what);
      });
      throw fromCosError(headError, what);
    }
  }

  list(dir: string, options: ListOptions = {}): AsyncIterable<Entry[]> {
    return listPages(this.#client, this.#key(dir), options);
  }

  async stat(key: string): Promise<Entry | null> {
    try {
      const head = await this.#client.sdk.headObject(this.#objectParams(key));
      const headers = head.headers ?? {};
      const modified = headers["last-modified"] ? new Date(headers["last-modified"]) : null;
      return {
        name: baseName(key),
        kind: "file",
        size: Number(headers["content-length"] ?? 0),
        modified,
      };
    } catch (error) {
      const failure = fromCosError(error, key);
      if (failure.kind === "not-found") return null;
      throw failure;
    }
  }

  /** One request: is there the marker or any key under the prefix? */
  async isDirectory(dir: string): Promise<boolean> {
    if (dir === "") return true;
    const result = await getBucketPage(this.#client, { Prefix: this.#key(dir), MaxKeys: 1 }, dir);
    return result.Contents.length > 0;
  }

  read(key: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    const { timeoutMs, verifyChecksums } = this.settings;
    return openDownload(
      this.#client,
      this.#key(key),
      options.offset ?? 0,
      timeoutMs,
      verifyChecksums,
    );
  }

  /**
   * A file may not take a directory's name (COS would show both): refused
   * before the upload starts and again just before commit, since a MKD may
   * land meanwhile. One listing of at most one key each time.
   */
  async write(key: string, options: WriteOptions = {}): Promise<WriteSink> {
    await this.#refuseDirectory(key);
    const keep = options.keepBytes ?? 0;
    const source = keep > 0 ? await this.#resumeSource(key) : undefined;
    const { pool, minPartSize, parallelParts, onRetry } = this.settings;
    const target = cosTarget(
      this.#client,
      this.#key(key),
      baseName(key),
      this.settings.timeoutMs,
      source,
      this.settings.verifyChecksums,
    );
    // Half the budget at most: one part filling while another uploads.
    const maxPartSize = Math.min(MAX_PART_BYTES, Math.floor(pool.capacity / 2));
    const copyHead = keep >= MIN_PART_BYTES;
    const writer = new MultipartWriter(this.#guarded(key, target), {
      pool,
      minPartSize,
      maxPartSize,
      parallel: parallelParts,
      onRetry,
      keepBytes: copyHead ? keep : 0,
    });
    // A head below COS's smallest part cannot be a copied part: its bytes lead the first part.
    if (keep > 0 && !copyHead) await this.#writeHead(writer, key, keep);
    return this.#checkedAtCommit(writer, key);
  }

  async #refuseDirectory(key: string): Promise<void> {
    if (await this.isDirectory(`${key}/`)) {
      throw new StorageError("is-a-directory", `${key}: is a directory`);
    }
  }

  /** `sink`, whose commit first checks that no directory took the name during the upload. */
  #checkedAtCommit(sink: WriteSink, key: string): WriteSink {
    return {
      write: (chunk) => sink.write(chunk),
      commit: (confirm) =>
        sink.commit(async () => {
          await this.#refuseDirectory(key);
          await confirm?.();
        }),
      abort: () => sink.abort(),
      get bytesWritten() {
        return sink.bytesWritten;
      },
    };
  }

  async delete(key: string): Promise<void> {
    if (!(await this.stat(key))) {
      const dir = await this.isDirectory(`${key}/`);
      throw new StorageError(dir ? "is-a-directory" : "not-found", `${key}: No such file`);
    }
    await this.#deleteKeys([this.#key(key)], key);
  }

  async mkdir(dir: string): Promise<void> {
    if (await this.isDirectory(dir)) throw new StorageError("exists", `${dir} already exists`);
    await this.#retry(
      () => this.#client.sdk.putObject({ ...this.#objectParams(dir), Body: "" }),
      dir,
    );
  }

  /** Removes the marker of an empty directory; one listing decides empty, missing or not. */
  async rmdir(dir: string): Promise<void> {
    const marker = this.#key(dir);
    const result = await getBucketPage(this.#client, { Prefix: marker, MaxKeys: 2 }, dir);
    const keys = result.Contents.map((c) => c.Key);
    if (keys.length === 0) throw new StorageError("not-found", `${dir}: No such directory`);
    if (keys.some((k) => k !== marker)) {
      throw new StorageError("not-empty", `${dir}: Directory not empty`);
    }
    await this.#deleteKeys([marker], dir);
  }

  async rename(from: string, to: string): Promise<void> {
    // Copy-then-delete onto itself would delete the object.
    if (from === to) return;
    if (from.endsWith("/")) return await this.#renameDirectory(from, to);
    await this.#copy(this.#key(from), this.#key(to));
    await this.#deleteKeys([this.#key(from)], from);
  }

  async close(): Promise<void> {
    if (this.settings.verifyChecksums) crcWorker.release();
    this.#client.http.close();
    await this.settings.guard?.release();
  }

  /** The target with its multipart uploads journaled, when the server runs a guard. */
  #guarded(key: string, target: ObjectTarget): ObjectTarget {
    const guard = this.settings.guard;
    return guard ? guardTarget(target, this.#key(key), guard) : target;
  }

  /**
   * What a resumed upload of `key` inherits: the ETag its copies are pinned
   * to, and the headers that make the new object like the old one. An
   * archived object cannot be copied or read until it is restored.
   */
  async #resumeSource(key: string): Promise<ResumeSource> {
    const head = await this.#client.sdk.headObject(this.#objectParams(key)).catch((error) => {
      throw fromCosError(error, key);
    });
    const headers: Record<string, string> = head.headers ?? {};
    const storageClass = headers["x-cos-storage-class"] ?? "";
    if (/ARCHIVE/i.test(storageClass)) {
      throw new StorageError(
        "denied",
        `${key} is in ${storageClass} storage: restore it before resuming or appending`,
      );
    }
    const inherited = Object.entries(headers).filter(([name]) => INHERITED_HEADER.test(name));
    return { etag: headers.etag ?? "", headers: Object.fromEntries(inherited) };
  }

  /** Writes the first `bytes` bytes of the object at `key` into `writer`. */
  async #writeHead(writer: WriteSink, key: string, bytes: number): Promise<void> {
    const stream = await this.read(key);
    let left = bytes;
    for await (const chunk of stream) {
      const piece = chunk.subarray(0, Math.min(left, chunk.length));
      await writer.write(piece);
      left -= piece.length;
      if (left === 0) break;
    }
    if (left > 0) {
      await writer.abort();
      throw new StorageError("failed", `${key} changed while its head was read; try again`);
    }
  }

  /** Copies every key under `from` to `to`, then deletes the originals; refuses past the limit. */
  async #renameDirectory(from: string, to: string): Promise<void> {
    const limit = this.settings.maxRenameObjects;
    const keys = await this.#allKeys(this.#key(from), limit);
    const copied: string[] = [];
    try {
      for (const key of keys) {
        const target = this.#key(to) + key.slice(this.#key(from).length);
        await this.#copy(key, target);
        copied.push(target);
      }
    } catch (error) {
      // Roll back so a failed rename leaves the tree as it was.
      await this.#deleteKeys(copied, to).catch(() => {});
      throw error;
    }
    await this.#deleteKeys(keys, from);
  }

  /** Every key under `prefix`, refusing with `too-many` past `limit` (0 refuses all). */
  async #allKeys(prefix: string, limit: number): Promise<string[]> {
    const keys: string[] = [];
    let marker = "";
    while (true) {
      const page = await getBucketPage(this.#client, {
        Prefix: prefix,
        Marker: marker,
        MaxKeys: 1000,
      });
      for (const item of page.Contents) keys.push(item.Key);
      if (keys.length > limit) {
        throw new StorageError(
          "too-many",
          `directory holds more than ${limit} objects (max_rename_objects); not renamed`,
        );
      }
      if (page.IsTruncated !== "true") return keys;
      marker = page.NextMarker || keys[keys.length - 1];
    }
  }

  /** Server-side copy; part by part above {@link CosSettings.maxCopyBytes} (COS's single-copy limit). */
  async #copy(sourceKey: string, targetKey: string): Promise<void> {
    const { bucket, region } = this.#client;
    const limit = this.settings.maxCopyBytes ?? MAX_PART_BYTES;
    await this.#client.sdk.sliceCopyFile({
      ...this.#bucketParams(),
      Key: targetKey,
      CopySource: `${bucket}.cos.${region}.myqcloud.com/${encodeObjectPath(sourceKey)}`,
      CopySliceSize: limit,
      CopyChunkSize: limit,
    }).catch((error: unknown) => {
      throw fromCosError(error, sourceKey);
    });
  }

  async #deleteKeys(keys: string[], what: string): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const Objects = keys.slice(i, i + DELETE_BATCH).map((Key) => ({ Key }));
      const result = await this.#retry(
        () => this.#client.sdk.deleteMultipleObject({ ...this.#bucketParams(), Objects }),
        what,
      );
      const failed = result.Error ?? [];
      if (failed.length > 0) {
        throw new StorageError(
          "failed",
          `${what}: COS could not delete ${failed[0].Key}: ${failed[0].Message}`,
        );
      }
    }
  }

  #retry<T>(action: () => Promise<T>, what: string): Promise<T> {
    return withRetry(
      async () => {
        try {
          return await action();
        } catch (error) {
          throw fromCosError(error, what);
        }
      },
      undefined,
      this.settings.onRetry,
    );
  }

  /** The full object key; the journal's hidden prefix is no user's to touch. */
  #key(key: string): string {
    const full = this.#prefix + key;
    if (isJournalKey(full)) {
      throw new StorageError("denied", `${key}: name reserved for the server's upload journal`);
    }
    return full;
  }

  #bucketParams() {
    return { Bucket: this.#client.bucket, Region: this.#client.region };
  }

  #objectParams(key: string) {
    return { ...this.#bucketParams(), Key: this.#key(key) };
  }
}
