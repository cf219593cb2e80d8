/**
 * An in-process, in-memory Tencent COS endpoint for tests and benchmarks.
 *
 * It speaks the COS XML API as the official Node SDK (cos-nodejs-sdk-v5)
 * uses it: virtual-hosted requests (bucket = first label of the Host
 * header), q-sign-algorithm=sha1 signatures verified against the configured
 * SecretId -> SecretKey map, simple and multipart uploads, copies, listing,
 * CRC64 headers (x-cos-hash-crc64ecma) and programmable faults (5xx,
 * connection reset, delay, corrupted bytes, wrong CRC headers).
 *
 * Layout, one job per module under ./cos_emulator/:
 * http.ts (transport), core.ts (pipeline), routing.ts, signature.ts, xml.ts,
 * store.ts (buckets), faults.ts, errors.ts, crc64.ts, and the handlers objects.ts,
 * listing.ts, multipart.ts, copy.ts.
 *
 * Point the SDK at it with tests/support/cos_sdk.ts.
 */

import { EmulatorCore, type RequestRecord } from "./cos_emulator/core.ts";
import type { FaultHandle, FaultSpec } from "./cos_emulator/faults.ts";
import { type HttpFront, listen } from "./cos_emulator/http.ts";
import { bucketHost, crcOf, encodeKeyPath } from "./cos_emulator/reply.ts";
import type { TemporaryKeys } from "./cos_emulator/signature.ts";
import { md5Etag, nowToSecond } from "./cos_emulator/store.ts";

export type { FaultHandle, FaultSpec } from "./cos_emulator/faults.ts";
export type { RequestRecord } from "./cos_emulator/core.ts";
export type { TemporaryKey, TemporaryKeys } from "./cos_emulator/signature.ts";
export { COS_OPS, type CosOp } from "./cos_emulator/types.ts";

/** Options of startCosEmulator. */
export interface CosEmulatorOptions {
  /** SecretId -> SecretKey pairs whose signatures are accepted. */
  credentials: Record<string, string>;
  /** Buckets that exist from the start (`name-appid`). */
  buckets: string[];
  /** Region used in copy sources and Location fields. Default ap-guangzhou. */
  region?: string;
  /** Minimum size of every multipart part but the last. Default 1 MiB. */
  minPartSize?: number;
  /** Largest PutObjectCopy source / UploadPartCopy range. Default 5 GiB. */
  maxCopySize?: number;
  /**
   * Whether objects and parts get `x-cos-hash-crc64ecma` (default true);
   * false plays a COS variant (or objects from before COS had CRC64) without it.
   */
  crc64?: boolean;
  /** Temporary keys (CVM role, STS), looked up per request; see TemporaryKey. */
  temporaryKeys?: TemporaryKeys;
}

/** An open multipart upload, as inflightUploads reports it. */
export interface InflightUpload {
  bucket: string;
  key: string;
  uploadId: string;
  /** Parts uploaded so far. */
  parts: number;
}

/** A running emulator. */
export interface CosEmulator {
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly region: string;
  /** Adds a fault rule; see FaultSpec. */
  injectFault(spec: FaultSpec): FaultHandle;
  /** Removes every fault rule. */
  clearFaults(): void;
  /** Open multipart uploads, of one bucket or all. */
  inflightUploads(bucket?: string): InflightUpload[];
  /** Keys of a bucket in COS (UTF-8 byte) order. */
  objects(bucket: string): string[];
  /** The stored bytes (shared, do not mutate), or undefined. */
  getObject(bucket: string, key: string): Uint8Array | undefined;
  /** Stores an object without HTTP (the bytes are kept, not copied); returns its ETag. */
  putObject(bucket: string, key: string, bytes: Uint8Array, contentType?: string): string;
  /** Creates a bucket (no-op if it exists). */
  createBucket(bucket: string): void;
  /** Requests received per op (including faulted and rejected ones; "Unknown" for others). */
  requestCounts(): Record<string, number>;
  /** The most recent requests (up to 20,000), oldest first. */
  requestLog(): RequestRecord[];
  /** TCP connections accepted so far. */
  connectionCount(): number;
  /** The `x-cos-copy-source` value naming bucket/key on this emulator. */
  copySource(bucket: string, key: string): string;
  /** Stops the server, drops connections and pending delays. */
  close(): Promise<void>;
}

/** Starts an emulator on 127.0.0.1 with an ephemeral port. */
export async function startCosEmulator(options: CosEmulatorOptions): Promise<CosEmulator> {
  const region = options.region ?? "ap-guangzhou";
  const core = new EmulatorCore(
    {
      region,
      minPartSize: options.minPartSize ?? 1024 * 1024,
      maxCopySize: options.maxCopySize ?? 5 * 1024 ** 3,
      crc64: options.crc64 ?? true,
    },
    new Map(Object.entries(options.credentials)),
    options.temporaryKeys,
  );
  for (const bucket of options.buckets) core.store.create(bucket);
  const front = await listen((raw) => core.handle(raw));
  return new RunningEmulator(core, front, region);
}

class RunningEmulator implements CosEmulator {
  readonly url: string;
  constructor(
    readonly core: EmulatorCore,
    readonly front: HttpFront,
    readonly region: string,
  ) {
    this.url = `http://127.0.0.1:${front.port}`;
  }

  get port(): number {
    return this.front.port;
  }

  injectFault(spec: FaultSpec): FaultHandle {
    return this.core.faults.inject(spec);
  }

  clearFaults(): void {
    this.core.faults.clear();
  }

  inflightUploads(bucket?: string): InflightUpload[] {
    const buckets = this.core.store.all().filter((b) => bucket === undefined || b.name === bucket);
    return buckets.flatMap((b) =>
      [...b.uploads.values()].map((u) => ({
        bucket: b.name,
        key: u.key,
        uploadId: u.uploadId,
        parts: u.parts.size,
      }))
    );
  }

  objects(bucket: string): string[] {
    return [...(this.core.store.get(bucket)?.sortedKeys() ?? [])];
  }

  getObject(bucket: string, key: string): Uint8Array | undefined {
    return this.core.store.get(bucket)?.objects.get(key)?.bytes;
  }

  putObject(bucket: string, key: string, bytes: Uint8Array, contentType?: string): string {
    const target = this.core.store.get(bucket);
    if (!target) throw new Error(`no bucket ${bucket}`);
    const etag = md5Etag(bytes);
    target.put(key, {
      bytes,
      etag,
      lastModified: nowToSecond(),
      contentType: contentType ?? "application/octet-stream",
      crc64: crcOf(this.core.ctx, bytes),
    });
    return etag;
  }

  createBucket(bucket: string): void {
    this.core.store.create(bucket);
  }

  requestCounts(): Record<string, number> {
    return Object.fromEntries(this.core.counts);
  }

  requestLog(): RequestRecord[] {
    return [...this.core.log];
  }

  connectionCount(): number {
    return this.front.connections();
  }

  copySource(bucket: string, key: string): string {
    return `${bucketHost(bucket, this.region)}/${encodeKeyPath(key)}`;
  }

  async close(): Promise<void> {
    this.core.abortDelays();
    await this.front.close();
  }
}
