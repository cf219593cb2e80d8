/**
 * The multipart writer: turns a stream of uploaded bytes into a single PUT
 * (small files) or a multipart upload, with bounded memory.
 *
 * Bytes fill a part buffer taken whole from the process-wide
 * {@link PartBufferPool}; a full part is uploaded in the background while the next
 * fills, up to `parallel` parts in flight. When the pool or the in-flight
 * limit is exhausted, {@link MultipartWriter.write} waits, so the caller stops
 * reading its socket. Nothing is visible until {@link MultipartWriter.commit};
 * {@link MultipartWriter.abort} (or any failure) aborts the multipart upload
 * so no parts are left to bill.
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { DEFAULT_RETRY, type RetryPolicy, withRetry } from "../retry.ts";
import { HEAD_BYTES, PartBuffer, type PartBufferPool } from "./buffers.ts";
import { MAX_PART_BYTES, MAX_PARTS, MIN_PART_BYTES } from "./limits.ts";
import type { Entry, WriteSink } from "../types.ts";

/** Parts per size step: the part size doubles every this many parts. */
export const GROWTH_EVERY_PARTS = 100;

/** A request body: bytes over a plain ArrayBuffer, as fetch takes them. */
export type Body = Uint8Array<ArrayBuffer>;

/** What the writer needs from the object store, for one key. */
export interface ObjectTarget {
  /** Stores the whole object in one request. */
  put(body: Body): Promise<Entry>;
  /** Starts a multipart upload; returns its id. */
  initiate(): Promise<string>;
  /** Uploads one part; returns its ETag. */
  uploadPart(uploadId: string, partNumber: number, body: Body): Promise<string>;
  /** Makes the object (of `size` bytes) from the parts. */
  complete(uploadId: string, etags: string[], size: number): Promise<Entry>;
  /** Discards the upload and its parts. */
  abort(uploadId: string): Promise<void>;
  /**
   * Copies bytes `start` to `end` (inclusive) of the object now at the key
   * into part `partNumber`, server-side; returns its ETag. Needed only for
   * {@link MultipartOptions.keepBytes}.
   */
  copyPart?(uploadId: string, partNumber: number, start: number, end: number): Promise<string>;
}

/** How uploads are cut into parts. */
export interface MultipartOptions {
  pool: PartBufferPool;
  /** First part size. */
  minPartSize: number;
  /** Largest part size (at most {@link MAX_PART_BYTES} and what the pool can hold). */
  maxPartSize: number;
  /** Parts uploaded at once per file. */
  parallel: number;
  retry?: RetryPolicy;
  /** Hears about each retried request (for the log). */
  onRetry?: (error: StorageError, attempt: number) => void;
  /**
   * Resume or append: the object starts with this many bytes of the object
   * now at the key, copied server-side with {@link ObjectTarget.copyPart}
   * (at least {@link MIN_PART_BYTES}: a smaller head must be written as bytes).
   */
  keepBytes?: number;
}

/**
 * Size of part `partNumber` (1-based): `minPartSize` doubled every
 * {@link GROWTH_EVERY_PARTS} parts, capped at `maxPartSize`, so a stream of
 * unknown length is not stopped by the 10,000-part limit at
 * 10,000 x min_part_size.
 */
export function partSize(partNumber: number, minPartSize: number, maxPartSize: number): number {
  const doublings = Math.floor((partNumber - 1) / GROWTH_EVERY_PARTS);
  const size = minPartSize * 2 ** Math.min(doublings, 32);
  return Math.max(MIN_PART_BYTES, Math.min(size, maxPartSize));
}

/** The most bytes a single upload can reach under these options. */
export function maxUploadBytes(minPartSize: number, maxPartSize: number): number {
  let total = 0;
  for (let n = 1; n <= MAX_PARTS; n++) total += partSize(n, minPartSize, maxPartSize);
  return total;
}

/** A {@link WriteSink} that uploads through an {@link ObjectTarget}. */
export class MultipartWriter implements WriteSink {
  #current: PartBuffer | null = null;
  #parts = 0;
  #initiated: Promise<string> | null = null;
  readonly #inflight = new Set<Promise<void>>();
  readonly #etags: string[] = [];
  #failure: StorageError | null = null;
  #bytes = 0;
  #finished = false;

  constructor(private readonly target: ObjectTarget, private readonly options: MultipartOptions) {
    if (options.keepBytes) this.#copyHead(options.keepBytes);
  }

  get bytesWritten(): number {
    return this.#bytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#throwIfFailed();
    let offset = 0;
    while (offset < chunk.length) {
      // A full part is sent only when more bytes come, so a file of exactly one part is one PUT.
      if (this.#current?.room === 0) {
        if (this.#current.pooled) await this.#submitCurrent();
        else await this.#outgrowHead();
      }
      this.#current ??= await this.#reserve(this.#parts + 1);
      offset += this.#current.append(chunk.subarray(offset));
      this.#throwIfFailed();
    }
    this.#bytes += chunk.length;
  }

  async commit(confirm?: () => Promise<void>): Promise<Entry> {
    this.#throwIfFailed();
    this.#finished = true;
    if (this.#initiated === null) return await this.#putWhole(confirm);
    if (this.#current && this.#current.length > 0) await this.#submitCurrent();
    else this.#release();
    await Promise.all(this.#inflight);
    if (this.#failure) throw this.#failure;
    const uploadId = await this.#initiated;
    await confirm?.();
    return await this.#retry(() => this.target.complete(uploadId, this.#etags, this.#bytes));
  }

  async abort(): Promise<void> {
    this.#finished = true;
    this.#failure ??= new StorageError("aborted", "upload aborted");
    await Promise.allSettled(this.#inflight);
    this.#release();
    const initiated = this.#initiated;
    this.#initiated = null;
    const uploadId = await initiated?.catch(() => null);
    if (uploadId) await this.#retry(() => this.target.abort(uploadId));
  }

  /** Everything fit in the first part: one PUT, no multipart upload at all. */
  async #putWhole(confirm?: () => Promise<void>): Promise<Entry> {
    try {
      await confirm?.();
      const body = this.#current?.bytes() ?? new Uint8Array(0);
      return await this.#retry(() => this.target.put(body));
    } finally {
      this.#release();
    }
  }

  /** Starts the multipart upload once, for the first part (or the kept head). */
  #initiate(): Promise<string> {
    this.#initiated ??= this.#retry(() => this.target.initiate());
    return this.#initiated;
  }

  /**
   * Copies the kept head into the first parts, in the background while the
   * client's bytes arrive: as few parts as the copy limit allows, of equal
   * size, so none falls under COS's minimum.
   */
  #copyHead(bytes: number): void {
    const count = Math.ceil(bytes / MAX_PART_BYTES);
    this.#parts = count;
    this.#bytes = bytes;
    const initiated = this.#initiate();
    const copies = Array.from({ length: count }, async (_, i) => {
      const start = Math.floor((bytes * i) / count);
      const end = Math.floor((bytes * (i + 1)) / count) - 1;
      try {
        const uploadId = await initiated;
        this.#etags[i] = await this.#retry(() =>
          this.target.copyPart!(uploadId, i + 1, start, end)
        );
      } catch (error) {
        this.#failure ??= asStorageError(error);
      }
    });
    const all = Promise.all(copies).then(() => {}).finally(() => this.#inflight.delete(all));
    this.#inflight.add(all);
  }

  async #reserve(partNumber: number): Promise<PartBuffer> {
    if (partNumber > MAX_PARTS) {
      throw new StorageError(
        "too-large",
        `upload exceeds ${MAX_PARTS} parts (the object size limit)`,
      );
    }
    const { minPartSize, maxPartSize, pool } = this.options;
    const size = partSize(partNumber, minPartSize, maxPartSize);
    // The head is only for a fresh upload's first bytes (a resumed one starts at a later part).
    if (partNumber === 1 && size > HEAD_BYTES) return PartBuffer.head();
    return await PartBuffer.fromPool(pool, size);
  }

  /** The upload is larger than its head buffer: its bytes move into the first part buffer. */
  async #outgrowHead(): Promise<void> {
    const head = this.#current!;
    const { minPartSize, maxPartSize, pool } = this.options;
    const part = await PartBuffer.fromPool(pool, partSize(1, minPartSize, maxPartSize));
    part.append(head.bytes());
    head.giveBack(pool);
    this.#current = part;
  }

  async #submitCurrent(): Promise<void> {
    const part = this.#current!;
    this.#current = null;
    const partNumber = ++this.#parts;
    let uploadId: string;
    try {
      uploadId = await this.#initiate();
      while (this.#inflight.size >= this.options.parallel) await Promise.race(this.#inflight);
    } catch (error) {
      part.giveBack(this.options.pool);
      throw error;
    }
    const upload = this.#uploadPart(uploadId, partNumber, part)
      .finally(() => this.#inflight.delete(upload));
    this.#inflight.add(upload);
  }

  async #uploadPart(uploadId: string, partNumber: number, part: PartBuffer): Promise<void> {
    try {
      const body = part.bytes();
      this.#etags[partNumber - 1] = await this.#retry(() =>
        this.target.uploadPart(uploadId, partNumber, body)
      );
    } catch (error) {
      this.#failure ??= asStorageError(error);
    } finally {
      part.giveBack(this.options.pool);
    }
  }

  #retry<T>(action: () => Promise<T>): Promise<T> {
    return withRetry(action, this.options.retry ?? DEFAULT_RETRY, this.options.onRetry);
  }

  #release(): void {
    this.#current?.giveBack(this.options.pool);
    this.#current = null;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
    if (this.#finished) throw new StorageError("failed", "upload already finished");
  }
}

function asStorageError(error: unknown): StorageError {
  return error instanceof StorageError ? error : new StorageError("failed", String(error));
}
