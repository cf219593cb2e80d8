/**
 * The multipart writer against a scripted object target: single PUT versus
 * multipart, parallelism, the memory budget, retries, failures and aborts.
 */

import { StorageError } from "../src/storage/errors.ts";
import {
  maxUploadBytes,
  MultipartWriter,
  type ObjectTarget,
  partSize,
} from "../src/storage/cos/multipart.ts";
import { HEAD_BYTES, PartBufferPool } from "../src/storage/cos/buffers.ts";
import type { Entry } from "../src/storage/types.ts";
import { assert, assertEquals, assertRejects } from "./support/assert.ts";
import { randomBytes } from "./support/server.ts";

const MIB = 1024 * 1024;

/** An in-memory target that records calls and can fail on purpose. */
class FakeTarget implements ObjectTarget {
  calls: string[] = [];
  parts = new Map<number, Uint8Array>();
  stored: Uint8Array | null = null;
  inflight = 0;
  maxInflight = 0;
  failPart: { number: number; times: number; kind: StorageError["kind"] } | null = null;
  aborted = false;

  put(body: Uint8Array): Promise<Entry> {
    this.calls.push(`put ${body.length}`);
    this.stored = body.slice();
    return Promise.resolve({ name: "k", kind: "file", size: body.length, modified: new Date() });
  }

  initiate(): Promise<string> {
    this.calls.push("initiate");
    return Promise.resolve("upload-1");
  }

  async uploadPart(_id: string, n: number, body: Uint8Array): Promise<string> {
    this.inflight++;
    this.maxInflight = Math.max(this.maxInflight, this.inflight);
    try {
      await new Promise((r) => setTimeout(r, 5));
      if (this.failPart?.number === n && this.failPart.times > 0) {
        this.failPart.times--;
        throw new StorageError(this.failPart.kind, `injected failure on part ${n}`);
      }
      this.calls.push(`part ${n} ${body.length}`);
      this.parts.set(n, body.slice()); // the writer reuses its buffers: copy, as COS would
      return `etag-${n}`;
    } finally {
      this.inflight--;
    }
  }

  complete(_id: string, etags: string[], _size: number): Promise<Entry> {
    this.calls.push(`complete ${etags.join(",")}`);
    const numbers = [...this.parts.keys()].sort((a, b) => a - b);
    this.stored = concat(numbers.map((n) => this.parts.get(n)!));
    return Promise.resolve({
      name: "k",
      kind: "file",
      size: this.stored.length,
      modified: new Date(),
    });
  }

  abort(): Promise<void> {
    this.calls.push("abort");
    this.aborted = true;
    return Promise.resolve();
  }
}

function concat(views: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(views.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const v of views) {
    out.set(v, offset);
    offset += v.length;
  }
  return out;
}

function writer(target: FakeTarget, pool = new PartBufferPool(64 * MIB), parallel = 2) {
  return new MultipartWriter(target, {
    pool,
    minPartSize: 2 * MIB,
    maxPartSize: 64 * MIB,
    parallel,
    retry: { attempts: 3, baseDelayMs: 1 },
  });
}

async function feed(sink: MultipartWriter, bytes: Uint8Array, chunk = 100_000): Promise<void> {
  for (let i = 0; i < bytes.length; i += chunk) await sink.write(bytes.subarray(i, i + chunk));
}

Deno.test("multipart: files up to one part are a single PUT (0 B, 1 B, exactly one part)", async () => {
  for (const size of [0, 1, 2 * MIB]) {
    const target = new FakeTarget();
    const sink = writer(target);
    const bytes = randomBytes(size);
    await feed(sink, bytes);
    const entry = await sink.commit();
    assertEquals(target.calls, [`put ${size}`]);
    assertEquals(entry.size, size);
    assertEquals(target.stored, bytes);
  }
});

Deno.test("multipart: one part + 1 byte goes multipart, reassembled byte-exact", async () => {
  const target = new FakeTarget();
  const pool = new PartBufferPool(64 * MIB);
  const sink = writer(target, pool);
  const bytes = randomBytes(2 * MIB + 1);
  await feed(sink, bytes);
  await sink.commit();
  assertEquals(target.calls, [
    "initiate",
    `part 1 ${2 * MIB}`,
    "part 2 1",
    "complete etag-1,etag-2",
  ]);
  assertEquals(target.stored, bytes);
  assertEquals(pool.inUse, 0);
});

Deno.test("multipart: parallel limit and memory budget hold; waits instead of allocating", async () => {
  const target = new FakeTarget();
  const pool = new PartBufferPool(6 * MIB); // three 2 MiB parts at most
  const sink = writer(target, pool, 4);
  let peak = 0;
  const bytes = randomBytes(21 * MIB);
  for (let i = 0; i < bytes.length; i += 256 * 1024) {
    await sink.write(bytes.subarray(i, i + 256 * 1024));
    peak = Math.max(peak, pool.inUse);
  }
  await sink.commit();
  assertEquals(target.stored, bytes);
  assert(peak <= pool.capacity, `bytes in use ${peak} > ${pool.capacity}`);
  assert(target.maxInflight <= 3, `${target.maxInflight} parts in flight: the budget holds 3`);
  assert(target.maxInflight >= 2, "parts do go up in parallel");
  assertEquals(pool.inUse, 0);
});

Deno.test("multipart: a transient part failure is retried; a persistent one fails and aborts", async () => {
  const target = new FakeTarget();
  target.failPart = { number: 2, times: 2, kind: "transient" };
  const sink = writer(target);
  const bytes = randomBytes(7 * MIB);
  await feed(sink, bytes);
  await sink.commit();
  assertEquals(target.stored, bytes);

  const broken = new FakeTarget();
  broken.failPart = { number: 2, times: 99, kind: "transient" };
  const pool = new PartBufferPool(64 * MIB);
  const failing = writer(broken, pool);
  const error = await assertRejects(async () => {
    await feed(failing, randomBytes(9 * MIB));
    await failing.commit();
  });
  assert(error instanceof StorageError && error.kind === "transient", String(error));
  await failing.abort();
  assert(broken.aborted, "the multipart upload is aborted");
  assert(!broken.calls.some((c) => c.startsWith("complete")), "never completed");
  assertEquals(pool.inUse, 0);
});

Deno.test("multipart: abort mid-stream releases memory and aborts; nothing completes", async () => {
  const target = new FakeTarget();
  const pool = new PartBufferPool(64 * MIB);
  const sink = writer(target, pool);
  await feed(sink, randomBytes(5 * MIB));
  await sink.abort();
  await sink.abort();
  assertEquals(target.calls.filter((c) => c === "abort").length, 1);
  assert(!target.calls.some((c) => c.startsWith("complete") || c.startsWith("put")));
  assertEquals(pool.inUse, 0);
  await assertRejects(() => sink.write(new Uint8Array(1)), "no writes after abort");
});

Deno.test("multipart: part sizes grow so 10,000 parts reach far beyond 10,000 x min_part_size", () => {
  assertEquals(partSize(1, 8 * MIB, 5 * 1024 * MIB), 8 * MIB);
  assertEquals(partSize(100, 8 * MIB, 5 * 1024 * MIB), 8 * MIB);
  assertEquals(partSize(101, 8 * MIB, 5 * 1024 * MIB), 16 * MIB);
  assertEquals(partSize(10_000, 8 * MIB, 5 * 1024 * MIB), 5 * 1024 * MIB);
  assertEquals(partSize(10_000, 8 * MIB, 1024 * MIB), 1024 * MIB);
  const reach = maxUploadBytes(8 * MIB, 5 * 1024 * MIB);
  assert(reach > 44 * 1024 ** 4, `reach ${reach / 1024 ** 4} TiB`);
});

Deno.test("multipart: small files take no part budget; one that outgrows its head moves into a part", async () => {
  // A budget of one part: were heads taken from it, the second small upload would wait.
  const pool = new PartBufferPool(2 * MIB);
  const targets = Array.from({ length: 20 }, () => new FakeTarget());
  const sinks = targets.map((target) => writer(target, pool));
  const files = targets.map((_, i) => randomBytes(HEAD_BYTES - i * 1000));
  await Promise.all(sinks.map((sink, i) => feed(sink, files[i])));
  assertEquals(pool.inUse, 0, "heads are not budget");
  await Promise.all(sinks.map((sink) => sink.commit()));
  targets.forEach((target, i) => assertEquals(target.stored, files[i]));

  const target = new FakeTarget();
  const sink = writer(target, pool);
  const bytes = randomBytes(HEAD_BYTES + 1);
  await feed(sink, bytes, 10_000);
  assertEquals(pool.inUse, 2 * MIB, "past its head, the upload holds a whole part");
  await sink.commit();
  assertEquals(target.calls, [`put ${HEAD_BYTES + 1}`]);
  assertEquals(target.stored, bytes);
});
