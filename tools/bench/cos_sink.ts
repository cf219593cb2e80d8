/**
 * A COS-compatible endpoint for memory benchmarks that keeps only sizes:
 * request bodies are read as they stream in and dropped (only their byte
 * count is kept), so a 50 GiB upload costs the sink no memory and no hashing
 * CPU. It serves what the gateway sends for a STOR (its start-up probes, the
 * journal under `.cos-ftp-server/`, PUT Object, multipart initiate / part /
 * complete / abort, HEAD, GET, listings, deletes), checks no signatures and
 * sends no `x-cos-hash-crc64ecma` (so the gateway skips its CRC checks).
 *
 * A synthetic directory (`listing: {prefix, count}`) holds `count` objects
 * `<prefix>f000001`... that exist only as a formula: each GET Bucket page is
 * generated on the fly, so a listing of any size costs the sink nothing.
 *
 * Bodies of at most {@link KEPT_BODY_BYTES} are kept: the journal's JSON
 * entries must read back. GET of anything else returns zero bytes of the
 * recorded size.
 *
 * As a process: `cos_sink.ts [prefix count]` prints `{"port": N, "region": R}`
 * once listening on 127.0.0.1 and runs until SIGTERM.
 */

import { type EndpointProcess, spawnEndpoint } from "./child.ts";
import { createHash } from "node:crypto";
import { CosApiError, cosErrors, errorXml } from "../../tests/support/cos_emulator/errors.ts";
import { parseRange } from "../../tests/support/cos_emulator/objects.ts";
import { intParam, keyEncoder } from "../../tests/support/cos_emulator/reply.ts";
import { classifyOp, parseTarget } from "../../tests/support/cos_emulator/routing.ts";
import { compareKeys } from "../../tests/support/cos_emulator/store.ts";
import type { CosOp } from "../../tests/support/cos_emulator/types.ts";
import {
  childrenNamed,
  childText,
  element,
  parseXml,
  xmlDocument,
} from "../../tests/support/cos_emulator/xml.ts";

/** Largest body kept in memory (journal entries are a few hundred bytes of JSON). */
const KEPT_BODY_BYTES = 4096;
/** Largest XML request body read (Complete with 10,000 parts is about 1 MiB). */
const MAX_XML_BYTES = 4 * 1024 * 1024;
const REGION = "ap-guangzhou";
/** Every synthetic object's Last-Modified. */
const SYNTHETIC_DATE = new Date("2026-01-02T03:04:05.000Z");

/** A directory of generated objects. */
export interface SyntheticListing {
  /** Full key prefix, ending in "/". */
  prefix: string;
  count: number;
}

export interface SinkOptions {
  listing?: SyntheticListing;
}

/** A running sink. */
export interface CosSink {
  port: number;
  region: string;
  /** Size of a stored (or synthetic) object, undefined when there is none. */
  sizeOf(bucket: string, key: string): number | undefined;
  close(): Promise<void>;
}

interface SinkObject {
  size: number;
  etag: string;
  lastModified: Date;
  /** The body, when small enough to keep. */
  body?: Uint8Array;
}

interface SinkUpload {
  key: string;
  initiated: Date;
  parts: Map<number, { size: number; etag: string }>;
}

/** One bucket: real objects by key, open uploads by id. */
class SinkBucket {
  readonly objects = new Map<string, SinkObject>();
  readonly uploads = new Map<string, SinkUpload>();
  #sorted: string[] | undefined;

  put(key: string, object: SinkObject): void {
    if (!this.objects.has(key)) this.#sorted = undefined;
    this.objects.set(key, object);
  }

  delete(key: string): void {
    if (this.objects.delete(key)) this.#sorted = undefined;
  }

  sortedKeys(): string[] {
    this.#sorted ??= [...this.objects.keys()].sort(compareKeys);
    return this.#sorted;
  }
}

/** Starts the sink on 127.0.0.1 with an ephemeral port. */
export function startCosSink(options: SinkOptions = {}): CosSink {
  const buckets = new Map<string, SinkBucket>();
  const bucketOf = (name: string) => {
    let bucket = buckets.get(name);
    if (!bucket) buckets.set(name, bucket = new SinkBucket());
    return bucket;
  };
  const synthetic = options.listing ? syntheticKeys(options.listing) : undefined;
  let requests = 0;
  const handler = async (req: Request): Promise<Response> => {
    const requestId = `sink-${++requests}`;
    const url = req.url.slice(req.url.indexOf("/", req.url.indexOf("//") + 2));
    const host = req.headers.get("host") ?? "";
    try {
      const target = parseTarget(url, host);
      const op = classifyOp(req.method, target, Object.fromEntries(req.headers));
      const bucket = bucketOf(target.bucket);
      const call: Call = { req, key: target.key, query: target.query, bucket, synthetic };
      const handle = op === undefined ? undefined : HANDLERS[op];
      if (!handle) throw cosErrors.notImplemented();
      const response = await handle(call);
      response.headers.set("x-cos-request-id", requestId);
      return response;
    } catch (error) {
      await req.body?.cancel().catch(() => {});
      if (!(error instanceof CosApiError)) throw error;
      return new Response(req.method === "HEAD" ? null : errorXml(error, url, requestId), {
        status: error.status,
        headers: { "content-type": "application/xml", "x-cos-request-id": requestId },
      });
    }
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handler);
  return {
    port: server.addr.port,
    region: REGION,
    sizeOf: (bucket, key) => buckets.get(bucket)?.objects.get(key)?.size ?? synthetic?.sizeOf(key),
    close: () => server.shutdown(),
  };
}

/** What a handler gets. */
interface Call {
  req: Request;
  key: string;
  query: URLSearchParams;
  bucket: SinkBucket;
  synthetic: SyntheticKeys | undefined;
}

type SinkHandler = (call: Call) => Response | Promise<Response>;

const HANDLERS: Partial<Record<CosOp, SinkHandler>> = {
  HeadBucket: () => new Response(null, { status: 200 }),
  ListObjects: listObjects,
  ListMultipartUploads: listUploads,
  HeadObject: headObject,
  GetObject: getObject,
  PutObject: putObject,
  DeleteObject: ({ key, bucket }) => {
    bucket.delete(key);
    return new Response(null, { status: 204 });
  },
  DeleteMultipleObjects: deleteObjects,
  InitiateMultipartUpload: initiate,
  UploadPart: uploadPart,
  CompleteMultipartUpload: complete,
  AbortMultipartUpload: ({ query, bucket }) => {
    if (!bucket.uploads.delete(query.get("uploadId") ?? "")) throw cosErrors.noSuchUpload();
    return new Response(null, { status: 204 });
  },
};

/** A stored or synthetic object. */
function findObject(call: Call): SinkObject {
  const object = call.bucket.objects.get(call.key) ?? call.synthetic?.object(call.key);
  if (!object) throw cosErrors.noSuchKey();
  return object;
}

function objectHeaders(object: SinkObject): Record<string, string> {
  return {
    "etag": object.etag,
    "last-modified": object.lastModified.toUTCString(),
    "content-type": "application/octet-stream",
    "accept-ranges": "bytes",
  };
}

function headObject(call: Call): Response {
  const object = findObject(call);
  const headers = { ...objectHeaders(object), "content-length": String(object.size) };
  return new Response(null, { status: 200, headers });
}

function getObject(call: Call): Response {
  const object = findObject(call);
  const range = parseRange(call.req.headers.get("range") ?? undefined, object.size);
  if (range === "unsatisfiable") throw cosErrors.invalidRange(object.size);
  const start = range?.start ?? 0;
  const end = range?.end ?? object.size - 1;
  const headers: Record<string, string> = {
    ...objectHeaders(object),
    "content-length": String(end - start + 1),
  };
  if (range) headers["content-range"] = `bytes ${start}-${end}/${object.size}`;
  const body = object.body ? object.body.slice(start, end + 1) : zeros(end - start + 1);
  return new Response(body, { status: range ? 206 : 200, headers });
}

/** `length` zero bytes, made as they are read. */
function zeros(length: number): ReadableStream<Uint8Array> {
  const CHUNK = 256 * 1024;
  let left = length;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(CHUNK, left);
      left -= n;
      controller.enqueue(new Uint8Array(n));
    },
  });
}

/** Reads a body to its end, counting; keeps it only when at most `keep` bytes. */
async function drain(
  req: Request,
  keep = KEPT_BODY_BYTES,
): Promise<{ size: number; body?: Uint8Array }> {
  let size = 0;
  const kept: Uint8Array[] = [];
  if (req.body) {
    for await (const chunk of req.body) {
      size += chunk.length;
      if (size <= keep) kept.push(chunk);
    }
  }
  return { size, body: size <= keep ? concat(kept, size) : undefined };
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** A small XML request body (Complete, Delete), parsed. */
async function xmlBody(req: Request, root: string) {
  const { body } = await drain(req, MAX_XML_BYTES);
  if (!body) throw cosErrors.malformedXml();
  const text = new TextDecoder().decode(body);
  try {
    const doc = parseXml(text);
    if (doc.name === root) return doc;
  } catch {
    // Answered below as COS does.
  }
  throw cosErrors.malformedXml();
}

/** An ETag that looks like COS's (quoted 32 hex digits), made without hashing the bytes. */
function randomEtag(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `"${[...bytes].map((b) => b.toString(16).padStart(2, "0")).join("")}"`;
}

function nowToSecond(): Date {
  return new Date(Math.floor(Date.now() / 1000) * 1000);
}

async function putObject(call: Call): Promise<Response> {
  const { size, body } = await drain(call.req);
  const object = { size, body, etag: randomEtag(), lastModified: nowToSecond() };
  call.bucket.put(call.key, object);
  return new Response(null, { status: 200, headers: { etag: object.etag } });
}

async function deleteObjects(call: Call): Promise<Response> {
  const doc = await xmlBody(call.req, "Delete");
  const quiet = childText(doc, "Quiet")?.trim().toLowerCase() === "true";
  const deleted: string[] = [];
  for (const entry of childrenNamed(doc, "Object")) {
    const key = childText(entry, "Key") ?? "";
    call.bucket.delete(key);
    if (!quiet) deleted.push(element("Deleted", [element("Key", key)]));
  }
  return xml(element("DeleteResult", deleted));
}

function initiate(call: Call): Response {
  const uploadId = `${Math.floor(Date.now() / 1000)}${randomEtag().slice(1, -1)}`;
  call.bucket.uploads.set(uploadId, { key: call.key, initiated: new Date(), parts: new Map() });
  return xml(element("InitiateMultipartUploadResult", [
    element("Bucket", bucketName(call.req)),
    element("Key", call.key),
    element("UploadId", uploadId),
  ]));
}

function findUpload(call: Call): SinkUpload {
  const upload = call.bucket.uploads.get(call.query.get("uploadId") ?? "");
  if (!upload || upload.key !== call.key) throw cosErrors.noSuchUpload();
  return upload;
}

async function uploadPart(call: Call): Promise<Response> {
  const upload = findUpload(call);
  const partNumber = Number(call.query.get("partNumber"));
  const { size } = await drain(call.req);
  const etag = randomEtag();
  upload.parts.set(partNumber, { size, etag });
  return new Response(null, { status: 200, headers: { etag } });
}

async function complete(call: Call): Promise<Response> {
  const upload = findUpload(call);
  const listed = childrenNamed(await xmlBody(call.req, "CompleteMultipartUpload"), "Part");
  let size = 0;
  const etags: string[] = [];
  for (const entry of listed) {
    const part = upload.parts.get(Number(childText(entry, "PartNumber")?.trim()));
    if (!part || unquote(childText(entry, "ETag") ?? "") !== unquote(part.etag)) {
      throw cosErrors.invalidPart();
    }
    size += part.size;
    etags.push(unquote(part.etag));
  }
  if (listed.length === 0) throw cosErrors.malformedXml();
  const etag = multipartEtag(etags);
  call.bucket.put(upload.key, { size, etag, lastModified: nowToSecond() });
  call.bucket.uploads.delete(call.query.get("uploadId")!);
  return xml(element("CompleteMultipartUploadResult", [
    element("Location", `${call.req.headers.get("host")}/${call.key}`),
    element("Bucket", bucketName(call.req)),
    element("Key", call.key),
    element("ETag", etag),
  ]));
}

function unquote(etag: string): string {
  return etag.trim().replace(/^"|"$/g, "").toLowerCase();
}

/** COS's multipart ETag: MD5 of the parts' binary MD5s, "-", the part count. */
function multipartEtag(hexes: string[]): string {
  const joined = new Uint8Array(hexes.length * 16);
  hexes.forEach((hex, i) => {
    for (let j = 0; j < 16; j++) joined[i * 16 + j] = parseInt(hex.slice(2 * j, 2 * j + 2), 16);
  });
  return `"${createHash("md5").update(joined).digest("hex")}-${hexes.length}"`;
}

function listUploads(call: Call): Response {
  const prefix = call.query.get("prefix") ?? "";
  const encode = keyEncoder(call.query);
  const uploads = [...call.bucket.uploads.entries()]
    .filter(([, upload]) => upload.key.startsWith(prefix))
    .map(([id, upload]) =>
      element("Upload", [
        element("Key", encode(upload.key)),
        element("UploadId", id),
        element("StorageClass", "STANDARD"),
        element("Initiated", upload.initiated.toISOString()),
      ])
    );
  return xml(element("ListMultipartUploadsResult", [
    element("Bucket", bucketName(call.req)),
    element("Prefix", encode(prefix)),
    element("MaxUploads", 1000),
    element("IsTruncated", false),
    ...uploads,
  ]));
}

/**
 * GET Bucket (v1) over the real keys and the synthetic ones merged: keys
 * after `marker` under `prefix`, rolled up at `delimiter`, at most
 * `max-keys` entries. Each step seeks, so a page costs O(max-keys x log n).
 */
function listObjects(call: Call): Response {
  const q = call.query;
  const prefix = q.get("prefix") ?? "";
  const delimiter = q.get("delimiter") ?? "";
  const marker = q.get("marker") ?? "";
  const maxKeys = intParam(q, "max-keys", 1000, 1000);
  const encode = keyEncoder(q);
  const real = call.bucket.sortedKeys();
  const next = (probe: string, strict: boolean): string | undefined => {
    const a = real[lowerBound(real.length, (i) => real[i], probe, strict)];
    const b = call.synthetic?.first(probe, strict);
    if (a === undefined || b === undefined) return a ?? b;
    return compareKeys(a, b) <= 0 ? a : b;
  };
  const contents: string[] = [];
  const prefixes: string[] = [];
  let truncated = false;
  let last = "";
  let key = compareKeys(marker, prefix) < 0 ? next(prefix, false) : next(marker, true);
  while (key !== undefined && key.startsWith(prefix)) {
    const at = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
    const rolled = at < 0 ? undefined : key.slice(0, at + delimiter.length);
    if (rolled !== undefined && compareKeys(rolled, marker) <= 0) {
      // Already returned on an earlier page: skip everything under it.
      key = next(rolled + "\u{10FFFF}", false);
      continue;
    }
    if (contents.length + prefixes.length === maxKeys) {
      truncated = true;
      break;
    }
    if (rolled !== undefined) {
      prefixes.push(element("CommonPrefixes", [element("Prefix", encode(rolled))]));
      last = rolled;
      key = next(rolled + "\u{10FFFF}", false);
    } else {
      contents.push(contentsElement(key, call, encode));
      last = key;
      key = next(key, true);
    }
  }
  return xml(element("ListBucketResult", [
    element("Name", bucketName(call.req)),
    q.get("encoding-type") ? element("EncodingType", "url") : "",
    element("Prefix", encode(prefix)),
    element("Marker", encode(marker)),
    element("MaxKeys", maxKeys),
    delimiter ? element("Delimiter", encode(delimiter)) : "",
    element("IsTruncated", truncated),
    truncated ? element("NextMarker", encode(last)) : "",
    ...prefixes,
    ...contents,
  ]));
}

function contentsElement(key: string, call: Call, encode: (text: string) => string): string {
  const object = findObject({ ...call, key });
  return element("Contents", [
    element("Key", encode(key)),
    element("LastModified", object.lastModified.toISOString()),
    element("ETag", object.etag),
    element("Size", object.size),
    element("StorageClass", "STANDARD"),
  ]);
}

/** First index in 0..length whose key is >= probe (> probe when `strict`). */
function lowerBound(
  length: number,
  keyAt: (i: number) => string,
  probe: string,
  strict: boolean,
): number {
  let lo = 0;
  let hi = length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const cmp = compareKeys(keyAt(mid), probe);
    if (cmp < 0 || (strict && cmp === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The synthetic directory: keys, sizes and ETags computed from the index. */
interface SyntheticKeys {
  /** First synthetic key >= probe (> probe when `strict`). */
  first(probe: string, strict: boolean): string | undefined;
  object(key: string): SinkObject | undefined;
  sizeOf(key: string): number | undefined;
}

function syntheticKeys({ prefix, count }: SyntheticListing): SyntheticKeys {
  const width = Math.max(6, String(count).length);
  const keyAt = (i: number) => `${prefix}f${String(i + 1).padStart(width, "0")}`;
  const indexOf = (key: string): number | undefined => {
    const digits = key.slice(prefix.length + 1);
    if (!key.startsWith(`${prefix}f`) || digits.length !== width || !/^\d+$/.test(digits)) {
      return undefined;
    }
    const n = Number(digits);
    return n >= 1 && n <= count ? n - 1 : undefined;
  };
  // Sizes spread over 1 B to 1 MiB, so the listing's size column varies like a real one.
  const sizeAt = (i: number) => (i * 7919 + 1) % (1024 * 1024) + 1;
  return {
    first(probe, strict) {
      const i = lowerBound(count, keyAt, probe, strict);
      return i < count ? keyAt(i) : undefined;
    },
    object(key) {
      const i = indexOf(key);
      if (i === undefined) return undefined;
      const etag = `"${(i + 1).toString(16).padStart(32, "0")}"`;
      return { size: sizeAt(i), etag, lastModified: SYNTHETIC_DATE };
    },
    sizeOf(key) {
      const i = indexOf(key);
      return i === undefined ? undefined : sizeAt(i);
    },
  };
}

/** The sink as a child process (so it shares no event loop with the gateway or the bench). */
export interface SinkProcess extends EndpointProcess {
  /** Size of an object as the sink has it (a HEAD Object), undefined when there is none. */
  sizeOf(bucket: string, key: string): Promise<number | undefined>;
}

/** Starts `cos_sink.ts` as its own process, with a synthetic directory when given. */
export async function spawnCosSink(listing?: SyntheticListing): Promise<SinkProcess> {
  const args = listing ? [listing.prefix, String(listing.count)] : [];
  const endpoint = await spawnEndpoint(["--allow-net", import.meta.filename!, ...args]);
  const { url, region } = endpoint;
  // Deno's fetch sends our Host header (the bucket's virtual host) only with allowHost.
  const http = Deno.createHttpClient({ allowHost: true });
  return {
    url,
    region,
    async sizeOf(bucket, key) {
      const response = await fetch(`${url}/${key.split("/").map(encodeURIComponent).join("/")}`, {
        method: "HEAD",
        client: http,
        headers: { host: `${bucket}.cos.${region}.myqcloud.com` },
      });
      return response.ok ? Number(response.headers.get("content-length")) : undefined;
    },
    async stop() {
      http.close();
      await endpoint.stop();
    },
  };
}

function bucketName(req: Request): string {
  const host = (req.headers.get("host") ?? "").replace(/:\d+$/, "");
  return host.split(".")[0];
}

function xml(root: string): Response {
  return new Response(xmlDocument(root), {
    status: 200,
    headers: { "content-type": "application/xml" },
  });
}

if (import.meta.main) {
  const [prefix, count] = Deno.args;
  const listing = prefix ? { prefix, count: Number(count) } : undefined;
  const sink = startCosSink({ listing });
  console.log(JSON.stringify({ port: sink.port, region: sink.region }));
  await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
  await sink.close();
}
