/**
 * Bucket-level reads: HEAD Bucket and GET Bucket (List Objects, v1).
 */

import {
  accountElement,
  emptyReply,
  type Handler,
  intParam,
  keyEncoder,
  xmlReply,
} from "./reply.ts";
import type { Bucket, StoredObject } from "./store.ts";
import { element } from "./xml.ts";

/** HEAD Bucket: the bucket exists (missing buckets are rejected upstream). */
export const headBucket: Handler = () => emptyReply(200);

/**
 * GET Bucket: keys in UTF-8 byte order after `marker`, under `prefix`,
 * rolled up at `delimiter`, at most `max-keys` (default and cap 1000)
 * entries, where a common prefix counts as one entry.
 */
export const listObjects: Handler = (_ctx, req, bucket) => {
  const q = req.query;
  const query = {
    prefix: q.get("prefix") ?? "",
    delimiter: q.get("delimiter") ?? "",
    marker: q.get("marker") ?? "",
    maxKeys: intParam(q, "max-keys", 1000, 1000),
  };
  const encode = keyEncoder(q);
  const page = bucket.list(query);
  return xmlReply(element("ListBucketResult", [
    element("Name", bucket.name),
    q.get("encoding-type") ? element("EncodingType", "url") : "",
    element("Prefix", encode(query.prefix)),
    element("Marker", encode(query.marker)),
    element("MaxKeys", query.maxKeys),
    query.delimiter ? element("Delimiter", encode(query.delimiter)) : "",
    element("IsTruncated", page.isTruncated),
    page.nextMarker !== undefined ? element("NextMarker", encode(page.nextMarker)) : "",
    ...page.commonPrefixes.map((p) => element("CommonPrefixes", [element("Prefix", encode(p))])),
    ...page.keys.map((key) => contentsElement(key, bucket.objects.get(key)!, bucket, encode)),
  ]));
};

function contentsElement(
  key: string,
  object: StoredObject,
  bucket: Bucket,
  encode: (text: string) => string,
): string {
  return element("Contents", [
    element("Key", encode(key)),
    element("LastModified", object.lastModified.toISOString()),
    element("ETag", object.etag),
    element("Size", object.bytes.length),
    accountElement("Owner", bucket),
    element("StorageClass", "STANDARD"),
  ]);
}
