/**
 * What keeps memory near its bound (issue 10), piece by piece: the part
 * buffer pool gives memory back, downloads reuse their buffers, and GET
 * Bucket answers are read without the SDK's parser. The whole-server
 * figures are the bench's (tools/bench/loads.ts); here each piece is
 * checked for the bytes it yields.
 */

import { QUIET_MS, workStarted } from "../src/idle_gc.ts";
import { IDLE_RELEASE_MS, PartBufferPool } from "../src/storage/cos/buffers.ts";
import { decodeXmlText, parseListBucketResult } from "../src/storage/cos/bucket_xml.ts";
import { reusedChunks, reusedChunksOf, RING_SIZE } from "../src/storage/reused_chunks.ts";
import { assert, assertEquals } from "./support/assert.ts";
import { randomBytes } from "./support/server.ts";

const MIB = 1024 * 1024;

Deno.test("memory: a dropped part buffer is freed at once (detached), not left to the GC", async () => {
  const pool = new PartBufferPool(3 * MIB);
  const small = [await pool.take(MIB), await pool.take(MIB)];
  small.forEach((buffer) => pool.give(buffer));
  assertEquals(pool.freeBytes, 2 * MIB);
  // 2 MiB does not fit beside 2 MiB of free 1 MiB buffers in 3 MiB: one is dropped.
  const large = await pool.take(2 * MIB);
  assertEquals(large.length, 2 * MIB);
  assertEquals(small.filter((buffer) => buffer.byteLength === 0).length, 1);
  assertEquals(pool.inUse, 2 * MIB);
  pool.give(large);
  pool.releaseFree();
});

Deno.test("memory: a returned buffer outgrown by the uploads is freed at once; one still in use is kept", async () => {
  const pool = new PartBufferPool(8 * MIB);
  const first = await pool.take(MIB);
  // No upload takes a 1 MiB buffer for a while; then parts are 2 MiB.
  await new Promise((resolve) => setTimeout(resolve, IDLE_RELEASE_MS + 200));
  const second = await pool.take(2 * MIB);
  const third = await pool.take(2 * MIB);
  pool.give(first);
  assertEquals(first.byteLength, 0, "outgrown: detached");
  assertEquals(pool.freeBytes, 0);
  pool.give(second);
  assertEquals(pool.freeBytes, 2 * MIB, "the current size is kept for the next part");
  const fresh = await pool.take(MIB);
  pool.give(fresh);
  assertEquals(fresh.byteLength, MIB, "a size an upload took just now is kept");
  pool.give(third);
  pool.releaseFree();
  assertEquals([second.byteLength, fresh.byteLength], [0, 0]);
  assertEquals(pool.inUse + pool.freeBytes, 0);
});

Deno.test("memory: free part buffers are freed after the pool has been idle", async () => {
  const pool = new PartBufferPool(8 * MIB);
  const buffer = await pool.take(MIB);
  pool.give(buffer);
  assertEquals(buffer.byteLength, MIB, "kept while uploads may come back for it");
  const deadline = Date.now() + IDLE_RELEASE_MS + 3000;
  while (buffer.byteLength !== 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assertEquals(buffer.byteLength, 0);
  assertEquals(pool.freeBytes, 0);
});

Deno.test("memory: reused download buffers yield every byte in order, through a byte stream too", async () => {
  const source = randomBytes(10 * 4096 + 123);
  let offset = 0;
  const buffers = new Set<ArrayBufferLike>();
  const stream = reusedChunks(
    (buffer) => {
      buffers.add(buffer.buffer);
      if (offset >= source.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, source.length - offset);
      buffer.set(source.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(buffer.subarray(0, n));
    },
    4096,
    () => {},
  );
  assertEquals(await collect(stream), source);
  assert(buffers.size <= RING_SIZE, `${buffers.size} buffers for 11 chunks`);

  let sent = 0;
  const body = new ReadableStream({
    type: "bytes",
    pull(controller: ReadableByteStreamController) {
      if (sent >= source.length) {
        // A byte stream closed under a pending BYOB read must answer it (with 0 bytes).
        controller.close();
        return controller.byobRequest?.respond(0);
      }
      const piece = source.slice(sent, sent + 7000);
      sent += piece.length;
      controller.enqueue(piece);
    },
  });
  assertEquals(await collect(reusedChunksOf(body, 4096)), source);
});

Deno.test("memory: ListBucketResult is read with entities decoded and empty fields empty", () => {
  const xml = `<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>b-1250000000</Name><Prefix>dir%2F</Prefix><Marker/>
<MaxKeys>2</MaxKeys><Delimiter>%2F</Delimiter><IsTruncated>true</IsTruncated>
<NextMarker>dir%2Fb%26c</NextMarker><EncodingType>url</EncodingType>
<CommonPrefixes><Prefix>dir%2Fsub%2F</Prefix></CommonPrefixes>
<Contents><Key>dir%2Fa%20b</Key><LastModified>2026-12-01T10:00:00.000Z</LastModified>
<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size></Contents>
<Contents><Key>dir%2Fb%26c</Key><LastModified>2026-12-01T11:00:00.000Z</LastModified>
<Size>22</Size></Contents></ListBucketResult>`;
  const page = parseListBucketResult(xml);
  assertEquals(page.Contents, [
    { Key: "dir%2Fa%20b", Size: "1", LastModified: "2026-12-01T10:00:00.000Z" },
    { Key: "dir%2Fb%26c", Size: "22", LastModified: "2026-12-01T11:00:00.000Z" },
  ]);
  assertEquals(page.CommonPrefixes, [{ Prefix: "dir%2Fsub%2F" }]);
  assertEquals([page.IsTruncated, page.NextMarker, page.EncodingType], [
    "true",
    "dir%2Fb%26c",
    "url",
  ]);
  assertEquals(
    decodeXmlText("a&amp;lt;&lt;&#x60;&#96;&#x4E2D;&apos;&quot;&bogus;"),
    "a&lt;<``中'\"&bogus;",
  );
  let threw = false;
  try {
    parseListBucketResult("<Error><Code>InternalError</Code></Error>");
  } catch {
    threw = true;
  }
  assert(threw, "a document that is not a listing is refused");
});

async function collect(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk.slice());
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) out.set(chunk, (at += chunk.length) - chunk.length);
  return out;
}

Deno.test("memory: once work has ended and the server is quiet, the heap is collected", async () => {
  const ended = workStarted();
  let garbage: string[][] | null = Array.from(
    { length: 400 },
    (_, i) => Array.from({ length: 1000 }, (_, j) => `entry ${i} ${j} ${"x".repeat(40)}`),
  );
  assertEquals(garbage.length, 400);
  garbage = null;
  const before = Deno.memoryUsage().heapUsed;
  ended();
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 1000));
  const after = Deno.memoryUsage().heapUsed;
  assert(after < before - 20 * MIB, `heap used ${before} -> ${after}`);
});

Deno.test("memory: cancelling a reused-buffer download cancels its source, with or without a reason", async () => {
  for (const reason of [undefined, new Error("ABOR")]) {
    let cancelled = false;
    const body = new ReadableStream({
      type: "bytes",
      pull(controller: ReadableByteStreamController) {
        controller.enqueue(new Uint8Array(1000).fill(1));
      },
      cancel() {
        cancelled = true;
      },
    });
    const stream = reusedChunksOf(body, 4096);
    const reader = stream.getReader();
    assertEquals((await reader.read()).value?.length, 1000);
    await reader.cancel(reason);
    assert(cancelled, `the source was cancelled (reason ${reason})`);
  }
});
