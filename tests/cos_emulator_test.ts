/**
 * Drives the COS emulator with the real cos-nodejs-sdk-v5 client and checks
 * content, COS semantics, signature checks and fault injection.
 */

import COS from "cos-nodejs-sdk-v5";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import http from "node:http";
import { Readable } from "node:stream";
import { assert, assertEquals, assertMatch, assertRejects } from "./support/assert.ts";
import {
  type CosEmulator,
  type CosEmulatorOptions,
  startCosEmulator,
} from "./support/cos_emulator.ts";
import { sdkClient } from "./support/cos_sdk.ts";

const SECRET_ID = "AKIDemulatorTestKey";
const SECRET_KEY = "emulator-secret-key";
const BUCKET = "test-1250000000";
const MiB = 1024 * 1024;

/** What each test gets: a fresh emulator, a client for it, and the bucket params. */
interface Ctx {
  emu: CosEmulator;
  cos: COS;
  b: { Bucket: string; Region: string };
}

/** A test on a fresh emulator, failed if it runs longer than `timeoutMs`. */
function emuTest(
  name: string,
  fn: (ctx: Ctx) => Promise<void>,
  opts: { timeoutMs?: number; emulator?: Partial<CosEmulatorOptions> } = {},
): void {
  Deno.test(`cos emulator: ${name}`, async () => {
    const emu = await startCosEmulator({
      credentials: { [SECRET_ID]: SECRET_KEY },
      buckets: [BUCKET],
      ...opts.emulator,
    });
    try {
      const ctx = { emu, cos: sdkClient(emu, SECRET_ID, SECRET_KEY), b: b(emu) };
      await bounded(fn(ctx), opts.timeoutMs ?? 30_000, name);
    } finally {
      await emu.close();
    }
  });
}

function b(emu: CosEmulator) {
  return { Bucket: BUCKET, Region: emu.region };
}

async function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Deterministic, non-periodic bytes (xorshift32). */
function bytesOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function buf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function md5Hex(bytes: Uint8Array): string {
  return createHash("md5").update(bytes).digest("hex");
}

/** The SDK's error for a rejected call. */
async function sdkError(call: () => Promise<unknown>): Promise<COS.CosSdkError> {
  return await assertRejects(call) as unknown as COS.CosSdkError;
}

/** Checks the fields every COS service error carries through the SDK. */
function assertServiceError(err: COS.CosSdkError, status: number, code: string): void {
  assertEquals(err.statusCode, status, `status of ${err.code}`);
  assertEquals(err.code, code);
  assert(err.RequestId, "error carries RequestId");
  assertEquals(err.RequestId, err.headers?.["x-cos-request-id"]);
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

emuTest("putObject/getObject/headObject/deleteObject round trip", async ({ emu, cos, b }) => {
  const data = bytesOf(300 * 1024 + 7);
  const put = await cos.putObject({ ...b, Key: "dir/file.bin", Body: buf(data) });
  assertEquals(put.ETag, `"${md5Hex(data)}"`);
  const got = await cos.getObject({ ...b, Key: "dir/file.bin" });
  assertEquals(new Uint8Array(got.Body), data);
  assertEquals(emu.getObject(BUCKET, "dir/file.bin"), data);
  const head = await cos.headObject({ ...b, Key: "dir/file.bin" });
  assertEquals(head.headers?.["content-length"], String(data.length));
  assertEquals(head.ETag, put.ETag);
  const lastModified = String(head.headers?.["last-modified"]);
  assertMatch(lastModified, /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
  assert(Math.abs(Date.parse(lastModified) - Date.now()) < 60_000, "recent Last-Modified");
  assertEquals((await cos.deleteObject({ ...b, Key: "dir/file.bin" })).statusCode, 204);
  assertEquals(emu.objects(BUCKET), []);
  assertEquals((await cos.deleteObject({ ...b, Key: "dir/file.bin" })).statusCode, 204);
  const missing = await sdkError(() => cos.getObject({ ...b, Key: "dir/file.bin" }));
  assertServiceError(missing, 404, "NoSuchKey");
  // HEAD errors have no body, so the SDK can only report the status.
  const headMissing = await sdkError(() => cos.headObject({ ...b, Key: "dir/file.bin" }));
  assertEquals([headMissing.statusCode, headMissing.code], [404, "404"]);
});

emuTest("Range reads: a-b, a-, -n, and 416 past the end", async ({ emu, cos, b }) => {
  const data = bytesOf(1000, 7);
  emu.putObject(BUCKET, "r", data);
  const mid = await cos.getObject({ ...b, Key: "r", Range: "bytes=10-19" });
  assertEquals(mid.statusCode, 206);
  assertEquals(mid.headers?.["content-range"], "bytes 10-19/1000");
  assertEquals(new Uint8Array(mid.Body), data.slice(10, 20));
  const tail = await cos.getObject({ ...b, Key: "r", Range: "bytes=990-" });
  assertEquals(new Uint8Array(tail.Body), data.slice(990));
  const suffix = await cos.getObject({ ...b, Key: "r", Range: "bytes=-5" });
  assertEquals(new Uint8Array(suffix.Body), data.slice(995));
  const clamped = await cos.getObject({ ...b, Key: "r", Range: "bytes=900-5000" });
  assertEquals(clamped.headers?.["content-range"], "bytes 900-999/1000");
  const past = await sdkError(() => cos.getObject({ ...b, Key: "r", Range: "bytes=1000-" }));
  assertServiceError(past, 416, "InvalidRange");
  assertEquals(past.headers?.["content-range"], "bytes */1000");
});

emuTest("headBucket: 200, 404 for a missing bucket", async ({ cos, b }) => {
  assertEquals((await cos.headBucket(b)).statusCode, 200);
  const missing = { ...b, Bucket: "missing-1250000000" };
  assertEquals((await sdkError(() => cos.headBucket(missing))).statusCode, 404);
  assertServiceError(await sdkError(() => cos.getBucket(missing)), 404, "NoSuchBucket");
});

/** 2,000 under logs/2024/, 400 under data/<n>/, 100 at the root. */
function seed2500(emu: CosEmulator): string[] {
  const keys: string[] = [];
  const pad = (n: number, w: number) => String(n).padStart(w, "0");
  for (let i = 0; i < 2000; i++) keys.push(`logs/2024/${pad(i, 4)}.txt`);
  for (let i = 0; i < 400; i++) keys.push(`data/${pad(i, 3)}/part`);
  for (let i = 0; i < 100; i++) keys.push(`root-${pad(i, 3)}`);
  const tiny = new Uint8Array([1]);
  for (const key of keys) emu.putObject(BUCKET, key, tiny);
  return keys.sort(byteOrder);
}

/** Follows NextMarker until IsTruncated is false; returns the pages. */
async function listAll(cos: COS, params: COS.GetBucketParams): Promise<COS.GetBucketResult[]> {
  const pages: COS.GetBucketResult[] = [];
  let marker: string | undefined;
  for (;;) {
    const page = await cos.getBucket({ ...params, Marker: marker });
    pages.push(page);
    if (page.IsTruncated !== "true") return pages;
    assert(page.NextMarker, "a truncated page has NextMarker");
    marker = page.NextMarker;
  }
}

emuTest("getBucket pages 2,500 keys in byte order", async ({ emu, cos, b }) => {
  const all = seed2500(emu);
  const pages = await listAll(cos, b);
  assertEquals(pages.map((p) => p.Contents.length), [1000, 1000, 500]);
  assertEquals(pages.map((p) => p.IsTruncated), ["true", "true", "false"]);
  assertEquals(pages[0].NextMarker, pages[0].Contents[999].Key);
  assertEquals(pages[2].NextMarker, undefined);
  assertEquals(pages.flatMap((p) => p.Contents.map((c) => c.Key)), all);
  const capped = await cos.getBucket({ ...b, MaxKeys: 5000 });
  assertEquals([capped.MaxKeys, capped.Contents.length], ["1000", 1000]);
  const logs = await listAll(cos, { ...b, Prefix: "logs/2024/", MaxKeys: 700 });
  assertEquals(logs.map((p) => p.Contents.length), [700, 700, 600]);
  assert(logs.every((p) => p.Prefix === "logs/2024/"), "Prefix echoed");
});

emuTest(
  "getBucket with delimiter: CommonPrefixes, NextMarker a prefix",
  async ({ emu, cos, b }) => {
    seed2500(emu);
    const top = await cos.getBucket({ ...b, Delimiter: "/" });
    assertEquals(top.CommonPrefixes.map((p) => p.Prefix), ["data/", "logs/"]);
    assertEquals(top.Contents.length, 100);
    assertEquals(top.IsTruncated, "false");
    const pages = await listAll(cos, { ...b, Prefix: "data/", Delimiter: "/", MaxKeys: 150 });
    assertEquals(pages.map((p) => p.CommonPrefixes.length), [150, 150, 100]);
    assertEquals(pages[0].NextMarker, "data/149/");
    const prefixes = pages.flatMap((p) => p.CommonPrefixes.map((c) => c.Prefix));
    assertEquals(new Set(prefixes).size, 400);
    assertEquals(prefixes[150], "data/150/");
    assert(pages.every((p) => p.Contents.length === 0), "no keys directly under data/");
    const afterMarker = await cos.getBucket({ ...b, Marker: "logs/2024/1997.txt" });
    assertEquals(afterMarker.Contents.map((c) => c.Key).slice(0, 3), [
      "logs/2024/1998.txt",
      "logs/2024/1999.txt",
      "root-000",
    ]);
  },
);

const AWKWARD_KEYS = [
  "目录/中文 文件.txt",
  "a b/c  d.bin",
  "plus+and%percent#hash?q=1&x=2.txt",
  "emoji 😀/ü é.txt",
  "quote's (paren) *star* !bang~.txt",
  "trailing space ",
];

emuTest("Chinese, spaced and URL-special keys round trip", async ({ emu, cos, b }) => {
  for (const [i, key] of AWKWARD_KEYS.entries()) {
    const data = bytesOf(100 + i, i + 3);
    await cos.putObject({ ...b, Key: key, Body: buf(data) });
    assertEquals(emu.getObject(BUCKET, key), data, `stored under ${key}`);
    assertEquals(new Uint8Array((await cos.getObject({ ...b, Key: key })).Body), data);
    assertEquals((await cos.headObject({ ...b, Key: key })).ETag, `"${md5Hex(data)}"`);
  }
  const expected = [...AWKWARD_KEYS].sort(byteOrder);
  const listed = await cos.getBucket(b);
  assertEquals(listed.Contents.map((c) => c.Key), expected);
  const encoded = await cos.getBucket({ ...b, EncodingType: "url" });
  assertEquals(encoded.Contents.map((c) => decodeURIComponent(c.Key)), expected);
  const chinese = await cos.getBucket({ ...b, Prefix: "目录/" });
  assertEquals(chinese.Contents.map((c) => c.Key), ["目录/中文 文件.txt"]);
});

/** Initiates, uploads `parts`, returns the upload id and part ETags. */
async function uploadParts(
  cos: COS,
  params: { Bucket: string; Region: string; Key: string },
  parts: Uint8Array[],
): Promise<{ uploadId: string; etags: string[] }> {
  const init = await cos.multipartInit(params);
  const etags: string[] = [];
  for (const [i, part] of parts.entries()) {
    const res = await cos.multipartUpload({
      ...params,
      UploadId: init.UploadId,
      PartNumber: i + 1,
      Body: buf(part),
    });
    etags.push(res.ETag);
  }
  return { uploadId: init.UploadId, etags };
}

function multipartEtag(parts: Uint8Array[]): string {
  const hash = createHash("md5");
  for (const part of parts) hash.update(createHash("md5").update(part).digest());
  return `"${hash.digest("hex")}-${parts.length}"`;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((offset, p) => (out.set(p, offset), offset + p.length), 0);
  return out;
}

emuTest("multipart: initiate, 3 parts, list, complete, read back", async ({ emu, cos, b }) => {
  const key = "big/多段 object.bin";
  const parts = [bytesOf(MiB, 11), bytesOf(MiB, 12), bytesOf(12345, 13)];
  const { uploadId, etags } = await uploadParts(cos, { ...b, Key: key }, parts);
  assertEquals(etags, parts.map((p) => `"${md5Hex(p)}"`));
  assertEquals(emu.inflightUploads(BUCKET), [{ bucket: BUCKET, key, uploadId, parts: 3 }]);
  const listed = await cos.multipartListPart({ ...b, Key: key, UploadId: uploadId });
  assertEquals(listed.Part.map((p) => [String(p.PartNumber), String(p.Size), p.ETag]), [
    ["1", String(MiB), etags[0]],
    ["2", String(MiB), etags[1]],
    ["3", "12345", etags[2]],
  ]);
  const uploads = await cos.multipartList({ ...b, Prefix: "big/", Delimiter: "" });
  assertEquals(uploads.Upload.map((u) => [u.Key, u.UploadId]), [[key, uploadId]]);
  const none = await cos.multipartList({ ...b, Prefix: "other/", Delimiter: "" });
  assertEquals(none.Upload, []);
  const done = await cos.multipartComplete({
    ...b,
    Key: key,
    UploadId: uploadId,
    Parts: etags.map((ETag, i) => ({ PartNumber: i + 1, ETag })),
  });
  assertMatch(done.ETag, /^"[0-9a-f]{32}-3"$/);
  assertEquals(done.ETag, multipartEtag(parts));
  assertEquals(new Uint8Array((await cos.getObject({ ...b, Key: key })).Body), concat(parts));
  assertEquals((await cos.headObject({ ...b, Key: key })).ETag, done.ETag);
  assertEquals(emu.inflightUploads(), []);
});

emuTest("multipart: EntityTooSmall, InvalidPart, InvalidPartOrder, NoSuchUpload", async (ctx) => {
  const { cos, b } = ctx;
  const params = { ...b, Key: "bad" };
  const parts = [bytesOf(100 * 1024, 1), bytesOf(10, 2)];
  const { uploadId, etags } = await uploadParts(cos, params, parts);
  const complete = (Parts: COS.Part[], UploadId = uploadId) =>
    sdkError(() => cos.multipartComplete({ ...params, UploadId, Parts }));
  const good = etags.map((ETag, i) => ({ PartNumber: i + 1, ETag }));
  assertServiceError(await complete(good), 400, "EntityTooSmall");
  const wrongTag = [{ PartNumber: 1, ETag: `"${"0".repeat(32)}"` }];
  assertServiceError(await complete(wrongTag), 400, "InvalidPart");
  assertServiceError(await complete([good[1], good[0]]), 400, "InvalidPartOrder");
  assertServiceError(await complete(good, "no-such-upload"), 404, "NoSuchUpload");
  const part = () =>
    cos.multipartUpload({ ...params, UploadId: "nope", PartNumber: 1, Body: Buffer.from("x") });
  assertServiceError(await sdkError(part), 404, "NoSuchUpload");
  // A single part may be small: only parts before the last have a minimum.
  const ok = await cos.multipartComplete({ ...params, UploadId: uploadId, Parts: [good[0]] });
  assertMatch(ok.ETag, /-1"$/);
});

emuTest("multipart: abort leaves no upload behind", async ({ emu, cos, b }) => {
  const params = { ...b, Key: "aborted" };
  const { uploadId } = await uploadParts(cos, params, [bytesOf(1000)]);
  assertEquals(emu.inflightUploads().length, 1);
  const aborted = await cos.multipartAbort({ ...params, UploadId: uploadId });
  assertEquals(aborted.statusCode, 204);
  assertEquals(emu.inflightUploads(), []);
  assertEquals((await cos.multipartList({ ...b, Prefix: "", Delimiter: "" })).Upload, []);
  const again = await sdkError(() => cos.multipartAbort({ ...params, UploadId: uploadId }));
  assertServiceError(again, 404, "NoSuchUpload");
  assertEquals(emu.objects(BUCKET), []);
});

emuTest("putObjectCopy of a Chinese key with spaces and plus signs", async ({ emu, cos, b }) => {
  const data = bytesOf(64 * 1024, 5);
  const source = "源 目录/中文 文件+1.txt";
  emu.putObject(BUCKET, source, data, "text/plain");
  const copied = await cos.putObjectCopy({
    ...b,
    Key: "copy/目标 +.txt",
    CopySource: emu.copySource(BUCKET, source),
  });
  assertEquals(copied.ETag, `"${md5Hex(data)}"`);
  const got = await cos.getObject({ ...b, Key: "copy/目标 +.txt" });
  assertEquals(new Uint8Array(got.Body), data);
  assertEquals(got.headers?.["content-type"], "text/plain");
  const missing = () =>
    cos.putObjectCopy({ ...b, Key: "x", CopySource: emu.copySource(BUCKET, "源 目录/nope") });
  assertServiceError(await sdkError(missing), 404, "NoSuchKey");
  // A raw "+" in the copy source is a plus, not a space.
  emu.putObject(BUCKET, "a+b c", data);
  const rawPlus = `${BUCKET}.cos.${emu.region}.myqcloud.com/a+b%20c`;
  await cos.putObjectCopy({ ...b, Key: "plus-copy", CopySource: rawPlus });
  assertEquals(emu.getObject(BUCKET, "plus-copy"), data);
});

emuTest("putObjectCopy above the copy limit: EntityTooLarge", async ({ emu, cos, b }) => {
  emu.putObject(BUCKET, "large", bytesOf(2048));
  const call = () =>
    cos.putObjectCopy({ ...b, Key: "copy", CopySource: emu.copySource(BUCKET, "large") });
  assertServiceError(await sdkError(call), 400, "EntityTooLarge");
}, { emulator: { maxCopySize: 1024 } });

emuTest("uploadPartCopy with a source range", async ({ emu, cos, b }) => {
  const source = bytesOf(3 * MiB, 9);
  emu.putObject(BUCKET, "源/big source", source);
  const params = { ...b, Key: "assembled" };
  const init = await cos.multipartInit(params);
  const copySource = emu.copySource(BUCKET, "源/big source");
  const part1 = await cos.uploadPartCopy({
    ...params,
    UploadId: init.UploadId,
    PartNumber: 1,
    CopySource: copySource,
    CopySourceRange: `bytes=${MiB}-${2 * MiB - 1}`,
  });
  assertEquals(part1.ETag, `"${md5Hex(source.subarray(MiB, 2 * MiB))}"`);
  const tail = bytesOf(777, 4);
  const part2 = await cos.multipartUpload({
    ...params,
    UploadId: init.UploadId,
    PartNumber: 2,
    Body: buf(tail),
  });
  await cos.multipartComplete({
    ...params,
    UploadId: init.UploadId,
    Parts: [{ PartNumber: 1, ETag: part1.ETag }, { PartNumber: 2, ETag: part2.ETag }],
  });
  assertEquals(emu.getObject(BUCKET, "assembled"), concat([source.subarray(MiB, 2 * MiB), tail]));
  const wrongKey = () =>
    cos.uploadPartCopy({
      ...params,
      Key: "other",
      UploadId: init.UploadId,
      PartNumber: 1,
      CopySource: copySource,
      CopySourceRange: `bytes=0-${3 * MiB}`,
    });
  assertServiceError(await sdkError(wrongKey), 404, "NoSuchUpload");
  const next = await cos.multipartInit(params);
  const outOfRange = () =>
    cos.uploadPartCopy({
      ...params,
      UploadId: next.UploadId,
      PartNumber: 1,
      CopySource: copySource,
      CopySourceRange: `bytes=0-${3 * MiB}`,
    });
  assertServiceError(await sdkError(outOfRange), 400, "InvalidArgument");
});

emuTest("deleteMultipleObject, verbose and quiet", async ({ emu, cos, b }) => {
  const keys = ["a", "中文 key", "x&y<z>", "keep/1", "keep/2"];
  for (const key of keys) emu.putObject(BUCKET, key, new Uint8Array([1]));
  const verbose = await cos.deleteMultipleObject({
    ...b,
    Objects: [{ Key: "a" }, { Key: "中文 key" }, { Key: "x&y<z>" }, { Key: "never-existed" }],
  });
  assertEquals(verbose.Deleted.map((d) => d.Key), ["a", "中文 key", "x&y<z>", "never-existed"]);
  assertEquals(verbose.Error, []);
  assertEquals(emu.objects(BUCKET), ["keep/1", "keep/2"]);
  const quiet = await cos.deleteMultipleObject({ ...b, Objects: [{ Key: "keep/1" }], Quiet: true });
  assertEquals(quiet.Deleted, []);
  assertEquals(emu.objects(BUCKET), ["keep/2"]);
});

emuTest("signature: wrong secret, unknown id, and the Host is signed", async ({ emu, b }) => {
  const wrong = sdkClient(emu, SECRET_ID, "not-the-secret");
  assertServiceError(await sdkError(() => wrong.getBucket(b)), 403, "SignatureDoesNotMatch");
  const wrongPut = () => wrong.putObject({ ...b, Key: "k", Body: Buffer.from("x") });
  assertServiceError(await sdkError(wrongPut), 403, "SignatureDoesNotMatch");
  assertEquals(emu.objects(BUCKET), []);
  const unknown = sdkClient(emu, "AKIDunknown", SECRET_KEY);
  assertServiceError(await sdkError(() => unknown.getBucket(b)), 403, "InvalidAccessKeyId");
  // A signature made for one bucket's Host does not open another bucket.
  emu.createBucket("other-1250000000");
  const auth = COS.getAuthorization({ SecretId: SECRET_ID, SecretKey: SECRET_KEY, ...b });
  const res = await rawRequest(emu, "GET", "/", {
    host: `other-1250000000.cos.${emu.region}.myqcloud.com`,
    authorization: auth,
  });
  assertEquals(res.status, 403);
  assertMatch(res.body, /<Code>SignatureDoesNotMatch<\/Code>/);
});

emuTest("signature: missing Authorization, expired, and SDK clock correction", async (ctx) => {
  const { emu, b } = ctx;
  const host = `${BUCKET}.cos.${emu.region}.myqcloud.com`;
  const anonymous = await rawRequest(emu, "GET", "/", { host });
  assertEquals(anonymous.status, 403);
  assertMatch(anonymous.body, /<Code>AccessDenied<\/Code>/);
  const requestId = anonymous.headers["x-cos-request-id"];
  assert(requestId, "x-cos-request-id on errors");
  assertMatch(anonymous.body, new RegExp(`<RequestId>${escapeRegExp(requestId)}</RequestId>`));
  const past = Math.floor(Date.now() / 1000) - 7200;
  const expiredAuth = COS.getAuthorization({
    SecretId: SECRET_ID,
    SecretKey: SECRET_KEY,
    ...b,
    KeyTime: `${past};${past + 900}`,
  });
  const expired = await rawRequest(emu, "GET", "/", { host, authorization: expiredAuth });
  assertEquals(expired.status, 403);
  assertMatch(expired.body, /<Message>Request has expired<\/Message>/);
  // The SDK reads the Date header and the error XML ("Request has expired"),
  // fixes its clock offset and retries. (HEAD errors have no XML: no fix.)
  const skewed = sdkClient(emu, SECRET_ID, SECRET_KEY, { SystemClockOffset: -7_200_000 });
  assertEquals((await skewed.getBucket(b)).statusCode, 200);
  assertEquals(emu.requestLog().slice(-2).map((r) => [r.status, r.sdkRetry]), [
    [403, false],
    [200, true],
  ]);
});

/** Polls `done` every 10 ms (the caller's test bound limits the wait). */
async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 10));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** A request outside the SDK, to control every header. */
function rawRequest(
  emu: CosEmulator,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port: emu.port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers as Record<string, string>,
            body: Buffer.concat(chunks).toString("utf8"),
          }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

emuTest(
  "fault: one 503 on the 2nd UploadPart is retried inside the SDK",
  async ({ emu, cos, b }) => {
    emu.injectFault({ op: "UploadPart", nth: 2, kind: "status", status: 503 });
    const parts = [bytesOf(MiB, 1), bytesOf(MiB, 2), bytesOf(100, 3)];
    await uploadParts(cos, { ...b, Key: "k" }, parts);
    assertEquals(emu.requestCounts().UploadPart, 4);
    const partLog = emu.requestLog().filter((r) => r.op === "UploadPart");
    assertEquals(partLog.map((r) => [r.status, r.sdkRetry]), [
      [200, false],
      [503, false],
      [200, true],
      [200, false],
    ]);
  },
);

emuTest("fault: a persistent 503 on the 2nd UploadPart surfaces after 4 tries", async (ctx) => {
  const { emu, cos, b } = ctx;
  const params = { ...b, Key: "k" };
  const init = await cos.multipartInit(params);
  const fault = emu.injectFault({
    op: "UploadPart",
    nth: 2,
    times: 4,
    kind: "status",
    status: 503,
  });
  const part = (n: number) =>
    cos.multipartUpload({
      ...params,
      UploadId: init.UploadId,
      PartNumber: n,
      Body: buf(bytesOf(10)),
    });
  await part(1);
  const err = await sdkError(() => part(2));
  assertServiceError(err, 503, "ServiceUnavailable");
  assertEquals([fault.seen, fault.hits], [5, 4]);
  assertEquals(emu.requestCounts().UploadPart, 5);
  await part(2);
  assertEquals(emu.inflightUploads()[0].parts, 2);
});

emuTest("fault: reset drops the connection; the SDK retries Buffer bodies", async (ctx) => {
  const { emu, cos, b } = ctx;
  emu.injectFault({ op: "PutObject", kind: "reset", times: 4 });
  const err = await sdkError(() => cos.putObject({ ...b, Key: "k", Body: Buffer.from("abc") }));
  assertEquals(err.code, "ECONNRESET");
  assertEquals(err.statusCode, undefined);
  assertEquals(emu.requestCounts().PutObject, 4);
  assertEquals(emu.objects(BUCKET), []);
  emu.injectFault({ op: "HeadObject", kind: "reset", every: true });
  emu.putObject(BUCKET, "h", new Uint8Array(3));
  assertEquals((await sdkError(() => cos.headObject({ ...b, Key: "h" }))).code, "ECONNRESET");
});

emuTest("fault: a reset on a pooled connection is re-sent by Deno's node:http", async (ctx) => {
  const { emu, cos, b } = ctx;
  emu.putObject(BUCKET, "h", new Uint8Array(3));
  await cos.headObject({ ...b, Key: "h" });
  emu.injectFault({ op: "HeadObject", kind: "reset" });
  // Not the SDK (no x-cos-sdk-retry): the HTTP client itself replays the
  // request once on a new connection when a reused one dies without answer.
  assertEquals((await cos.headObject({ ...b, Key: "h" })).statusCode, 200);
  assertEquals(emu.requestLog().map((r) => [r.status, r.sdkRetry]), [
    [200, false],
    ["reset", false],
    [200, false],
  ]);
  assertEquals(emu.connectionCount(), 2);
});

emuTest("fault: reset is not retried for stream bodies", async ({ emu, cos, b }) => {
  emu.injectFault({ op: "PutObject", kind: "reset" });
  const body = Readable.from([Buffer.from("stream "), Buffer.from("body")]);
  const err = await sdkError(() => cos.putObject({ ...b, Key: "s", Body: body }));
  assertEquals(err.code, "ECONNRESET");
  assertEquals(emu.requestCounts().PutObject, 1);
});

emuTest("fault: reset after Complete committed; the SDK retry sees NoSuchUpload", async (ctx) => {
  const { emu, cos, b } = ctx;
  const params = { ...b, Key: "k" };
  const parts = [bytesOf(2000)];
  const { uploadId, etags } = await uploadParts(cos, params, parts);
  emu.injectFault({ op: "CompleteMultipartUpload", kind: "reset", phase: "after" });
  const complete = () =>
    cos.multipartComplete({
      ...params,
      UploadId: uploadId,
      Parts: [{ PartNumber: 1, ETag: etags[0] }],
    });
  assertServiceError(await sdkError(complete), 404, "NoSuchUpload");
  assertEquals(emu.getObject(BUCKET, "k"), parts[0]);
});

emuTest("fault: delay, and the SDK Timeout option", async ({ emu, cos, b }) => {
  emu.putObject(BUCKET, "d", new Uint8Array(1));
  emu.injectFault({ op: "HeadObject", kind: "delay", ms: 300 });
  const start = performance.now();
  assertEquals((await cos.headObject({ ...b, Key: "d" })).statusCode, 200);
  assert(performance.now() - start >= 290, "delayed by about 300 ms");
  emu.injectFault({ op: "HeadBucket", kind: "delay", ms: 1000, every: true });
  const impatient = sdkClient(emu, SECRET_ID, SECRET_KEY, { Timeout: 150 });
  const err = await sdkError(() => impatient.headBucket(b));
  assertMatch(err.code, /^E(SOCKET)?TIMEDOUT$/);
  assertEquals(err.statusCode, undefined);
  // Timeouts are retried like network errors: 1 try + 3 SDK retries. (Deno's
  // node:http client may re-send the first one too, so count retries only.)
  // Records are written when the delayed replies finish, so wait for them.
  const retries = () => emu.requestLog().filter((r) => r.op === "HeadBucket" && r.sdkRetry);
  await waitFor(() => retries().length >= 3);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assertEquals(retries().length, 3);
});

emuTest("fault matching: nth, times, every, op lists, remove", async ({ emu, cos, b }) => {
  emu.putObject(BUCKET, "g", new Uint8Array(1));
  // 4xx faults are not retried by the SDK, so each call is one request.
  const fault = emu.injectFault({
    op: ["GetObject", "HeadObject"],
    kind: "status",
    status: 400,
    code: "InvalidArgument",
    nth: 2,
    times: 2,
  });
  const outcome = () =>
    cos.getObject({ ...b, Key: "g" }).then(() => "ok", (e: COS.CosSdkError) => e.code);
  const results = [];
  for (let i = 0; i < 5; i++) results.push(await outcome());
  assertEquals(results, ["ok", "InvalidArgument", "InvalidArgument", "ok", "ok"]);
  assertEquals([fault.seen, fault.hits], [5, 2]);
  const always = emu.injectFault({
    kind: "status",
    status: 403,
    code: "AccessDenied",
    every: true,
  });
  assertEquals(await outcome(), "AccessDenied");
  assertEquals((await sdkError(() => cos.getBucket(b))).code, "AccessDenied");
  always.remove();
  assertEquals(await outcome(), "ok");
});

emuTest("emulator API: seed, inspect, count, keep-alive", async ({ emu, cos, b }) => {
  const etag = emu.putObject(BUCKET, "seeded", new Uint8Array([1, 2, 3]), "text/plain");
  assertEquals(etag, `"${md5Hex(new Uint8Array([1, 2, 3]))}"`);
  assertEquals(emu.getObject(BUCKET, "missing"), undefined);
  emu.createBucket("second-1250000000");
  await cos.putObject({ ...b, Bucket: "second-1250000000", Key: "x", Body: Buffer.from("x") });
  assertEquals(emu.objects("second-1250000000"), ["x"]);
  // A stream without ContentLength goes out chunked.
  const parts = [bytesOf(70_000, 1), bytesOf(5, 2), bytesOf(100_000, 3)];
  await cos.putObject({ ...b, Key: "chunked", Body: Readable.from(parts.map(buf)) });
  assertEquals(emu.getObject(BUCKET, "chunked"), concat(parts));
  for (let i = 0; i < 5; i++) await cos.headObject({ ...b, Key: "seeded" });
  assertEquals(emu.requestCounts(), { PutObject: 2, HeadObject: 5 });
  assertEquals(emu.connectionCount(), 1);
  assert(emu.url.endsWith(`:${emu.port}`), "url has the port");
});

emuTest("a 1 GiB object streams in and reads back by range", async ({ emu, cos, b }) => {
  const size = 1024 * MiB;
  const hash = createHash("md5");
  function* chunks() {
    for (let i = 0; i < size / MiB; i++) {
      const chunk = Buffer.alloc(MiB, i & 0xff);
      chunk.writeUInt32BE(i, 0);
      hash.update(chunk);
      yield chunk;
    }
  }
  const put = await cos.putObject({
    ...b,
    Key: "huge",
    Body: Readable.from(chunks()),
    ContentLength: size,
  });
  assertEquals(put.ETag, `"${hash.digest("hex")}"`);
  const stored = emu.getObject(BUCKET, "huge");
  assertEquals(stored?.length, size);
  const at = (offset: number) => stored?.[offset];
  assertEquals([at(5 * MiB + 3), at(5 * MiB + 100), at(1023 * MiB + 2), at(size - 1)], [
    5,
    5,
    3,
    255,
  ]);
  const last = await cos.getObject({ ...b, Key: "huge", Range: `bytes=${size - MiB}-` });
  assertEquals(last.Body.length, MiB);
  assertEquals(last.Body.readUInt32BE(0), 1023);
}, { timeoutMs: 180_000 });
