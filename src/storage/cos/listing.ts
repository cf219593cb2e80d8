/**
 * Directory listings from GET Bucket (prefix + delimiter), yielded page by
 * page as COS returns them: constant memory for any directory size.
 *
 * @module
 */

import type { Entry, ListOptions } from "../types.ts";
import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";
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
    const page = await client.sdk.getBucket({
      Bucket: client.bucket,
      Region: client.region,
      Prefix: prefix,
      Delimiter: "/",
      Marker: marker,
      MaxKeys: Math.min(options.pageSize ?? PAGE_SIZE, PAGE_SIZE),
    }).catch((error: unknown) => {
      throw fromCosError(error, prefix);
    });
    const entries = [
      ...directories(page.CommonPrefixes ?? [], prefix),
      ...files(page.Contents ?? [], prefix),
    ];
    if (entries.length > 0) yield entries;
    if (page.IsTruncated !== "true") return;
    marker = page.NextMarker || lastKey(page);
    if (!marker) return;
  }
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

function lastKey(
  page: { Contents?: Array<{ Key: string }>; CommonPrefixes?: Array<{ Prefix: string }> },
): string {
  const keys = [
    ...(page.Contents ?? []).map((c) => c.Key),
    ...(page.CommonPrefixes ?? []).map((p) => p.Prefix),
  ];
  return keys.sort().at(-1) ?? "";
}
