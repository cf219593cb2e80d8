/**
 * The in-memory bucket store: objects, open multipart uploads, and key
 * listing in COS order (UTF-8 byte order of the keys).
 */

import { createHash } from "node:crypto";

/** A stored object. `bytes` is shared, never copied on read: don't mutate. */
export interface StoredObject {
  bytes: Uint8Array;
  /** Quoted, as COS sends it: `"<md5 hex>"` or `"<hex>-<parts>"`. */
  etag: string;
  /** Whole seconds, as COS keeps them. */
  lastModified: Date;
  contentType: string;
  /** Headers kept with the object: x-cos-meta-*, storage class, server-side encryption. */
  meta?: Record<string, string>;
  /** `x-cos-hash-crc64ecma` (decimal); absent for objects older than COS's CRC64. */
  crc64?: string;
}

/** One uploaded part of a multipart upload. */
export interface StoredPart {
  bytes: Uint8Array;
  etag: string;
  lastModified: Date;
  crc64?: string;
}

/** An open multipart upload. */
export interface Upload {
  uploadId: string;
  key: string;
  initiated: Date;
  contentType: string;
  meta?: Record<string, string>;
  parts: Map<number, StoredPart>;
}

/** One page of a ListObjects walk. */
export interface ListPage {
  keys: string[];
  commonPrefixes: string[];
  isTruncated: boolean;
  /** The last key or common prefix returned, when truncated. */
  nextMarker?: string;
}

/** What a ListObjects walk asks for. */
export interface ListQuery {
  prefix: string;
  delimiter: string;
  marker: string;
  maxKeys: number;
}

/** Quoted MD5 hex of `bytes`: the ETag of a simple upload. */
export function md5Etag(bytes: Uint8Array): string {
  return `"${createHash("md5").update(bytes).digest("hex")}"`;
}

/** Now, truncated to whole seconds like COS's Last-Modified. */
export function nowToSecond(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}

/**
 * Compares by Unicode code point, which is the same order as UTF-8 bytes.
 * Plain `<` compares UTF-16 units, which puts astral characters (surrogate
 * pairs, 0xD800-0xDFFF) below U+E000-U+FFFF; shifting the two ranges fixes it.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

function codeUnitRank(unit: number): number {
  if (unit < 0xd800) return unit;
  return unit >= 0xe000 ? unit - 0x800 : unit + 0x2000;
}

/** One bucket: objects by key and uploads by id. */
export class Bucket {
  readonly objects = new Map<string, StoredObject>();
  readonly uploads = new Map<string, Upload>();
  #sorted: string[] | undefined;

  constructor(readonly name: string) {}

  /** The AppId part of `name-appid`, used as owner id in listings. */
  get appId(): string {
    return this.name.slice(this.name.lastIndexOf("-") + 1);
  }

  put(key: string, object: StoredObject): void {
    if (!this.objects.has(key)) this.#sorted = undefined;
    this.objects.set(key, object);
  }

  delete(key: string): void {
    if (this.objects.delete(key)) this.#sorted = undefined;
  }

  /** All keys in COS order; cached until the key set changes. */
  sortedKeys(): string[] {
    this.#sorted ??= [...this.objects.keys()].sort(compareKeys);
    return this.#sorted;
  }

  /** One page of keys and common prefixes, as ListObjects (v1) returns it. */
  list(query: ListQuery): ListPage {
    const keys = this.sortedKeys();
    const page: ListPage = { keys: [], commonPrefixes: [], isTruncated: false };
    let count = 0;
    let last = "";
    for (let i = firstCandidate(keys, query); i < keys.length; i++) {
      const key = keys[i];
      if (!key.startsWith(query.prefix)) break;
      const entry = groupOf(key, query);
      if (entry.isPrefix && (entry.name === last || compareKeys(entry.name, query.marker) <= 0)) {
        continue;
      }
      if (count === query.maxKeys) {
        page.isTruncated = true;
        page.nextMarker = last;
        break;
      }
      (entry.isPrefix ? page.commonPrefixes : page.keys).push(entry.name);
      last = entry.name;
      count++;
    }
    return page;
  }
}

/** Index of the first key that is >= prefix and > marker. */
function firstCandidate(keys: string[], query: ListQuery): number {
  const atPrefix = lowerBound(keys, query.prefix, false);
  return query.marker === "" ? atPrefix : Math.max(atPrefix, lowerBound(keys, query.marker, true));
}

/** First index whose key is >= probe (or > probe when `strict`). */
function lowerBound(keys: string[], probe: string, strict: boolean): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const cmp = compareKeys(keys[mid], probe);
    if (cmp < 0 || (strict && cmp === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The key itself, or the common prefix it rolls up into under a delimiter. */
function groupOf(key: string, query: ListQuery): { name: string; isPrefix: boolean } {
  if (query.delimiter === "") return { name: key, isPrefix: false };
  const at = key.indexOf(query.delimiter, query.prefix.length);
  if (at < 0) return { name: key, isPrefix: false };
  return { name: key.slice(0, at + query.delimiter.length), isPrefix: true };
}

/** All buckets of one emulator. */
export class Store {
  readonly #buckets = new Map<string, Bucket>();

  /** Creates the bucket if it does not exist yet. */
  create(name: string): Bucket {
    let bucket = this.#buckets.get(name);
    if (!bucket) this.#buckets.set(name, bucket = new Bucket(name));
    return bucket;
  }

  get(name: string): Bucket | undefined {
    return this.#buckets.get(name);
  }

  all(): Bucket[] {
    return [...this.#buckets.values()];
  }
}
