/**
 * Directory listings from GET Bucket (prefix + delimiter), yielded page by
 * page as COS returns them: constant memory for any directory size.
 *
 * Every GET Bucket asks for `encoding-type=url`. Without it COS writes some
 * key characters as numeric XML entities (a backtick as `&#x60;`), which
 * the SDK's parser leaves as text while it decodes the named ones, `&amp;`
 * last: a key holding a literal `&#x60;` and one holding a backtick would
 * then read alike. Percent-encoded keys carry no entities at all. (Listings
 * no longer go through the SDK, see getBucketPage; its other listing,
 * ListMultipartUploads, still does: {@link decodeEntities}.)
 *
 * @module
 */

import { StorageError } from "../errors.ts";
import { withRetry } from "../retry.ts";
import type { Entry, ListOptions } from "../types.ts";
import { type ListBucketResult, parseListBucketResult } from "./bucket_xml.ts";
import type { CosClient } from "./client.ts";
import { signedFetch } from "./http.ts";
import { isJournalKey } from "./journal.ts";

/** Keys per request (the COS maximum). */
const PAGE_SIZE = 1000;

/** Children of the directory whose full key prefix is `prefix` ("" or ending in "/"). */
export async function* listPages(
  client: CosClient,
  prefix: string,
  options: ListOptions,
): AsyncGenerator<Entry[]> {
  let marker = "";
  while (true) {
    options.signal?.throwIfAborted();
    const page = await getBucketPage(client, {
      Prefix: prefix,
      Delimiter: "/",
      Marker: marker,
      MaxKeys: Math.min(options.pageSize ?? PAGE_SIZE, PAGE_SIZE),
    });
    const entries = [
      ...directories(page.CommonPrefixes, prefix),
      ...files(page.Contents, prefix),
    ];
    if (entries.length > 0) yield entries;
    if (page.IsTruncated !== "true") return;
    marker = page.NextMarker || lastKey(page);
    if (!marker) return;
  }
}

/** What a GET Bucket asks for (bucket and region are the client's). */
export interface BucketQuery {
  Prefix: string;
  Delimiter?: string;
  Marker?: string;
  MaxKeys: number;
}

/** One GET Bucket page with its keys, prefixes and next marker as stored, whatever COS escaped. */
export interface BucketPage {
  Contents: Array<{ Key: string; Size: string | number; LastModified: string }>;
  CommonPrefixes: Array<{ Prefix: string }>;
  IsTruncated: string;
  NextMarker: string;
}

/**
 * GET Bucket with keys URL-encoded on the wire and decoded here (see the
 * module notes); `what` names the request in errors (default: the prefix).
 * Sent with Deno's HTTP client and read by bucket_xml.ts, not the SDK (its
 * XML parser cost 68 ms per page); transient failures are retried.
 */
export function getBucketPage(
  client: CosClient,
  query: BucketQuery,
  what = query.Prefix,
): Promise<BucketPage> {
  const params: Record<string, string> = {
    prefix: query.Prefix,
    ...(query.Delimiter ? { delimiter: query.Delimiter } : {}),
    ...(query.Marker ? { marker: query.Marker } : {}),
    "max-keys": String(query.MaxKeys),
    "encoding-type": "url",
  };
  return withRetry(async () => {
    // The timeout covers the body too: a page whose bytes stop coming must not hang the session.
    const deadline = AbortSignal.timeout(client.timeoutMs);
    const response = await signedFetch(client, {
      method: "get",
      key: "",
      query: params,
      operation: "getBucket",
      what,
      timeoutMs: client.timeoutMs,
      signal: deadline,
    });
    const text = await response.text().catch(() => {
      throw new StorageError("transient", `${what || "/"}: listing interrupted`);
    });
    let page: ListBucketResult;
    try {
      page = parseListBucketResult(text);
    } catch {
      throw new StorageError(
        "failed",
        `${what || "/"}: COS answered the listing with no ListBucketResult`,
      );
    }
    // A COS that ignored encoding-type says so by leaving EncodingType out.
    const decode = page.EncodingType === "url" ? decodeUrlKey : (key: string) => key;
    return {
      Contents: page.Contents.map((c) => ({ ...c, Key: decode(c.Key) })),
      CommonPrefixes: page.CommonPrefixes.map((p) => ({ Prefix: decode(p.Prefix) })),
      IsTruncated: page.IsTruncated || "false",
      NextMarker: page.NextMarker ? decode(page.NextMarker) : "",
    };
  });
}

/**
 * A key under `encoding-type=url`: percent-encoded UTF-8 (a space may come as
 * `+`, a `+` never does). A COS-compatible server that encodes badly would
 * otherwise fail the whole listing: such a key is shown as sent.
 */
function decodeUrlKey(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", " "));
  } catch {
    return text;
  }
}

/**
 * The entities the SDK's parser leaves in text: numeric ones, decimal and
 * hex (it already decoded `&amp; &lt; &gt; &quot; &apos;`). For answers the
 * SDK parsed (ListMultipartUploads).
 */
export function decodeEntities(text: string): string {
  return text.replace(/&#(x[0-9a-fA-F]{1,6}|[0-9]{1,7});/g, (whole, ref: string) => {
    const code = ref.startsWith("x") ? parseInt(ref.slice(1), 16) : parseInt(ref, 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : whole;
  });
}

/** Implicit and explicit subdirectories; COS knows no time for a prefix. */
function directories(prefixes: Array<{ Prefix: string }>, prefix: string): Entry[] {
  return prefixes
    .filter((p) => !isJournalKey(p.Prefix))
    .map((p) => p.Prefix.slice(prefix.length, -1))
    .filter(isPlainName)
    .map((name) => ({ name, kind: "dir" as const, size: 0, modified: null }));
}

/** Objects directly in the directory; the directory's own marker is not a file. */
function files(
  contents: Array<{ Key: string; Size: string | number; LastModified: string }>,
  prefix: string,
): Entry[] {
  return contents
    .filter((c) => c.Key !== prefix && !c.Key.endsWith("/") && !isJournalKey(c.Key))
    .map((c) => ({
      name: c.Key.slice(prefix.length),
      kind: "file" as const,
      size: Number(c.Size),
      modified: c.LastModified ? new Date(c.LastModified) : null,
    }))
    .filter((e) => isPlainName(e.name));
}

/** Keys like `a//b` make empty segments; FTP cannot name them, so they are not listed. */
function isPlainName(name: string): boolean {
  return name !== "" && name !== "." && name !== "..";
}

function lastKey(page: BucketPage): string {
  const keys = [...page.Contents.map((c) => c.Key), ...page.CommonPrefixes.map((p) => p.Prefix)];
  return keys.sort().at(-1) ?? "";
}
