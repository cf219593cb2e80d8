/**
 * Resume and append (issue 7): REST n + STOR and APPE keep the head of the
 * stored file and add the uploaded bytes, on local storage and on COS (the
 * emulator). On COS a head of at least 1 MiB is copied server-side
 * (UploadPartCopy) and must not be uploaded again: a byte-counting relay
 * between the gateway and the emulator measures what went up. Interrupted
 * resumes leave the old file byte-exact; keep_partial_uploads keeps what a
 * broken network delivered. Real clients (curl, lftp, ftplib, basic-ftp)
 * resume on both storages. Every check compares whole files (SHA-256).
 */

import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import { Client } from "basic-ftp";
import type { ServerConfig } from "../src/config/types.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { type ByteProxy, startByteProxy } from "./support/byte_proxy.ts";
import { needs, python, run } from "./support/clients.ts";
import type { CosEmulator } from "./support/cos_emulator.ts";
import { sdkClient } from "./support/cos_sdk.ts";
import { BUCKET, cosStorage, SECRET_ID, SECRET_KEY, startCosServer } from "./support/cos_server.ts";
import { RawClient, type RawReply, writeAllAndClose } from "./support/raw_client.ts";
import {
  eventually,
  randomBytes,
  sha256,
  startServer,
  type TestServer,
  user,
} from "./support/server.ts";
import { ftplibLogin } from "./support/kit.ts";

const MIB = 1024 * 1024;
/** A kept head COS copies server-side (at least its 1 MiB smallest part), not on a part boundary. */
const HEAD = 2 * MIB + 3;
/** Request overhead allowed on top of the uploaded tail before we call the head re-sent. */
const OVERHEAD = 128 * 1024;

// ---------------------------------------------------------------------------
// One harness over both storages
// ---------------------------------------------------------------------------

/** A running server plus direct access to what its storage holds. */
interface Env {
  backend: "local" | "COS";
  port: number;
  server: TestServer;
  put(name: string, bytes: Uint8Array): Promise<void>;
  /** The stored bytes of `name`, or undefined. */
  get(name: string): Promise<Uint8Array | undefined>;
  /** Uploads begun and neither committed nor cleaned up (staged files, open multipart uploads). */
  leftovers(): string[];
  /** COS only: the emulator and the relay that counts what the gateway sent it. */
  cos?: { emulator: CosEmulator; proxy: ByteProxy };
}

type Adjust = (config: ServerConfig) => void;

async function localEnv(adjust: Adjust): Promise<Env> {
  const server = await startServer(adjust);
  const path = (name: string) => `${server.root}/${name}`;
  return {
    backend: "local",
    port: server.port,
    server,
    put: (name, bytes) => Deno.writeFile(path(name), bytes),
    get: (name) => Deno.readFile(path(name)).catch(() => undefined),
    leftovers: () => [...Deno.readDirSync(`${server.root}/.cos-ftp-staging`)].map((e) => e.name),
  };
}

async function cosEnv(adjust: Adjust): Promise<Env> {
  let proxy: ByteProxy | undefined;
  const server = await startCosServer((config, emulator) => {
    proxy = startByteProxy(emulator.port);
    config.accounts[0].storage = { ...cosStorage(emulator), endpoint: proxy.url };
    adjust(config);
  });
  const emulator = server.emulator;
  return {
    backend: "COS",
    port: server.port,
    server: {
      ...server,
      async stop() {
        await server.stop();
        await proxy?.close();
      },
    },
    put: (name, bytes) => Promise.resolve(void emulator.putObject(BUCKET, name, bytes)),
    get: (name) => Promise.resolve(emulator.getObject(BUCKET, name)),
    leftovers: () => emulator.inflightUploads().map((u) => `${u.key} (${u.parts} parts)`),
    cos: { emulator, proxy: proxy! },
  };
}

const BACKENDS = [
  { name: "local", start: localEnv },
  { name: "COS", start: cosEnv },
] as const;

async function withEnv(
  start: (adjust: Adjust) => Promise<Env>,
  fn: (env: Env) => Promise<void>,
  adjust: Adjust = () => {},
): Promise<void> {
  const env = await start(adjust);
  try {
    await fn(env);
  } finally {
    await env.server.stop();
  }
}

/** Per-backend tests: one Deno.test per backend. */
function bothBackends(
  name: string,
  fn: (env: Env) => Promise<void>,
  adjust?: Adjust,
): void {
  for (const backend of BACKENDS) {
    Deno.test(`${backend.name}: ${name}`, () => withEnv(backend.start, fn, adjust));
  }
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

async function hashOf(bytes: Uint8Array | undefined): Promise<string> {
  return bytes === undefined ? "(missing)" : `${bytes.length}:${await sha256(bytes.slice())}`;
}

/** Asserts `name` holds exactly `expected` (length and SHA-256). */
async function assertStored(env: Env, name: string, expected: Uint8Array, what = name) {
  assertEquals(await hashOf(await env.get(name)), await hashOf(expected), what);
}

/** Polls (bounded) until the server has cleaned up every interrupted upload. */
async function assertNoLeftovers(env: Env): Promise<void> {
  await eventually(() => env.leftovers().length === 0, 5000).catch(() => {
    throw new Error(`uploads neither committed nor cleaned up: ${env.leftovers().join(", ")}`);
  });
}

/** Runs `cmd` (STOR or APPE with its path) with `bytes` as the upload; returns the final reply. */
async function upload(c: RawClient, cmd: string, bytes: Uint8Array): Promise<RawReply> {
  const data = await c.epsv();
  await c.expect(cmd, 150);
  await writeAllAndClose(data, bytes);
  return await c.read();
}

/** Like upload, asserting 226. */
async function uploadOk(c: RawClient, cmd: string, bytes: Uint8Array): Promise<RawReply> {
  const done = await upload(c, cmd, bytes);
  assertEquals(done.code, 226, `${cmd}: ${done.text}`);
  return done;
}

/** COS request counts and relay bytes before an action, to diff after it. */
function cosMark(env: Env): () => { counts: Record<string, number>; upstream: number } {
  const emulator = env.cos!.emulator;
  const before = emulator.requestCounts();
  const upBefore = env.cos!.proxy.upstreamBytes;
  return () => {
    const after = emulator.requestCounts();
    const counts = Object.fromEntries(
      Object.entries(after).map(([op, n]) => [op, n - (before[op] ?? 0)]).filter(([, n]) =>
        n !== 0
      ),
    );
    return { counts, upstream: env.cos!.proxy.upstreamBytes - upBefore };
  };
}

/**
 * On COS: the head was copied (UploadPartCopy) and not uploaded again (the
 * gateway sent little more than the tail).
 */
function assertHeadCopied(
  env: Env,
  delta: { counts: Record<string, number>; upstream: number },
  head: number,
  tail: number,
): void {
  const copies = delta.counts.UploadPartCopy ?? 0;
  assert(copies >= 1, `UploadPartCopy expected: ${JSON.stringify(delta.counts)}`);
  assert(
    delta.upstream < tail + OVERHEAD,
    `${env.backend}: gateway sent ${delta.upstream} bytes for a ${tail}-byte tail ` +
      `(head ${head} must not be re-sent): ${JSON.stringify(delta.counts)}`,
  );
}

// ---------------------------------------------------------------------------
// 1. The basic cases, on both storages
// ---------------------------------------------------------------------------

bothBackends(
  "REST n + STOR keeps the first n bytes and adds the upload (head copied on COS)",
  async (env) => {
    const old = randomBytes(3 * MIB + 5);
    const tail = randomBytes(700_000);
    await env.put("r.bin", old);
    const c = await RawClient.login(env.port);
    const mark = env.cos ? cosMark(env) : null;
    await c.expect(`REST ${HEAD}`, 350);
    const done = await uploadOk(c, "STOR r.bin", tail);
    assertMatch(done.text, new RegExp(`${HEAD + tail.length} bytes stored`));
    await assertStored(env, "r.bin", concat(old.subarray(0, HEAD), tail));
    if (mark) assertHeadCopied(env, mark(), HEAD, tail.length);
    assertEquals((await c.expect("SIZE r.bin", 213)).text, `213 ${HEAD + tail.length}`);
    assertEquals(await hashOf(await c.retrieve("r.bin")), await hashOf(await env.get("r.bin")));
    await assertNoLeftovers(env);
    c.close();
  },
);

bothBackends("APPE adds to the whole file (head copied on COS), in several parts", async (env) => {
  const old = randomBytes(HEAD);
  const tail = randomBytes(2 * MIB + 12_345);
  await env.put("a.bin", old);
  const c = await RawClient.login(env.port);
  const mark = env.cos ? cosMark(env) : null;
  const done = await uploadOk(c, "APPE a.bin", tail);
  assertMatch(done.text, new RegExp(`${HEAD + tail.length} bytes stored`));
  await assertStored(env, "a.bin", concat(old, tail));
  if (mark) assertHeadCopied(env, mark(), HEAD, tail.length);
  await assertNoLeftovers(env);
  c.close();
});

bothBackends("a head under 1 MiB is kept too (read into the first part on COS)", async (env) => {
  const old = randomBytes(300_001);
  await env.put("s.bin", old);
  const c = await RawClient.login(env.port);
  // One part in all (a single PUT on COS), then more than one part, resumed at the end.
  const steps: [(size: number) => number, number][] = [[() => 123_457, 5000], [
    (n) => n,
    1_500_000,
  ]];
  for (const [at, size] of steps) {
    const before = (await env.get("s.bin"))!.slice();
    const offset = at(before.length);
    const tail = randomBytes(size);
    const mark = env.cos ? cosMark(env) : null;
    await c.expect(`REST ${offset}`, 350);
    await uploadOk(c, "STOR s.bin", tail);
    await assertStored(env, "s.bin", concat(before.subarray(0, offset), tail), `REST ${offset}`);
    if (mark) assertEquals(mark().counts.UploadPartCopy ?? 0, 0, "no copy for a small head");
  }
  await assertNoLeftovers(env);
  c.close();
});

bothBackends("APPE to a missing file creates it; APPE onto an empty file", async (env) => {
  const c = await RawClient.login(env.port);
  const first = randomBytes(1_234_567);
  await uploadOk(c, "APPE new.bin", first);
  await assertStored(env, "new.bin", first);
  await env.put("empty.bin", new Uint8Array());
  const second = randomBytes(10);
  await uploadOk(c, "APPE empty.bin", second);
  await assertStored(env, "empty.bin", second);
  await uploadOk(c, "APPE empty.bin", new Uint8Array());
  await assertStored(env, "empty.bin", second, "an empty APPE changes nothing");
  await c.expect("APPE nodir/x.bin", 550);
  c.close();
});

bothBackends(
  "REST 0 + STOR is a plain overwrite; REST applies to one transfer only",
  async (env) => {
    await env.put("o.bin", randomBytes(HEAD));
    const c = await RawClient.login(env.port);
    const fresh = randomBytes(400_000);
    const mark = env.cos ? cosMark(env) : null;
    await c.expect("REST 0", 350);
    await uploadOk(c, "STOR o.bin", fresh);
    await assertStored(env, "o.bin", fresh);
    if (mark) assertEquals(mark().counts.UploadPartCopy ?? 0, 0, "nothing copied");
    await c.expect("REST 1000", 350);
    await uploadOk(c, "STOR o.bin", fresh.subarray(1000));
    await assertStored(env, "o.bin", fresh, "resumed at 1000");
    const other = randomBytes(5000);
    await uploadOk(c, "STOR o.bin", other);
    await assertStored(env, "o.bin", other, "the REST was used up");
    c.close();
  },
);

bothBackends(
  "REST past the end is 554 and changes nothing; REST at the end + STOR appends",
  async (env) => {
    const old = randomBytes(HEAD);
    await env.put("p.bin", old);
    const c = await RawClient.login(env.port);
    await c.expect(`REST ${HEAD + 1}`, 350);
    const refused = await c.command("STOR p.bin");
    assertEquals(refused.code, 554, refused.text);
    assertMatch(refused.text, new RegExp(`past the end .*${HEAD} bytes`));
    await c.expect("REST 1", 350);
    await c.expect("STOR missing.bin", 554);
    await assertStored(env, "p.bin", old);
    assertEquals(await env.get("missing.bin"), undefined);
    const tail = randomBytes(33);
    await c.expect(`REST ${HEAD}`, 350);
    await uploadOk(c, "STOR p.bin", tail);
    await assertStored(env, "p.bin", concat(old, tail));
    await assertNoLeftovers(env);
    c.close();
  },
);

// ---------------------------------------------------------------------------
// 2. Interrupted resumes and keep_partial_uploads
// ---------------------------------------------------------------------------

/** Bytes sent before interrupting: several 1 MiB COS parts, so a multipart upload is open. */
const PARTIAL = 3 * MIB;

const keepPartial: Adjust = (config) => {
  config.keepPartialUploads = true;
};

for (const keep of [false, true]) {
  bothBackends(
    `ABOR mid-resume leaves the old file byte-exact and no upload (keep_partial_uploads=${keep})`,
    async (env) => {
      const old = randomBytes(HEAD + 100);
      await env.put("ab.bin", old);
      const c = await RawClient.login(env.port);
      for (const start of [`REST ${HEAD}`, null]) {
        if (start) await c.expect(start, 350);
        const data = await c.epsv();
        await c.expect(start ? "STOR ab.bin" : "APPE ab.bin", 150);
        await data.write(randomBytes(PARTIAL));
        const replies = [await c.command("ABOR"), await c.read()];
        assertEquals(replies.map((r) => r.code), [426, 226], replies.map((r) => r.text).join("|"));
        assert(!/kept/.test(replies[0].text), `ABOR keeps nothing: ${replies[0].text}`);
        data.close();
        await assertNoLeftovers(env);
        await assertStored(env, "ab.bin", old, `after ABOR of ${start ?? "APPE"}`);
      }
      c.close();
    },
    keep ? keepPartial : undefined,
  );
}

/**
 * Starts `cmd` and sends `tail` on the data connection from python3, which
 * then resets it (SO_LINGER 0: Deno cannot send a TCP RST). Returns the final reply.
 */
async function uploadThenReset(c: RawClient, cmd: string, tail: Uint8Array): Promise<RawReply> {
  const reply = await c.expect("EPSV", 229);
  const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
  const file = await Deno.makeTempFile({ prefix: "resume-tail-" });
  try {
    await Deno.writeFile(file, tail);
    await c.send(cmd);
    const sent = python(
      `
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", ${port}))
s.sendall(open(sys.argv[1], "rb").read())
time.sleep(0.4)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`,
      [file],
    );
    assertEquals((await c.read()).code, 150);
    const ran = await sent;
    assertEquals(ran.code, 0, ran.stderr);
    return await c.read();
  } finally {
    await Deno.remove(file);
  }
}

/** The byte count a keep_partial_uploads reply reports. */
function keptBytes(reply: RawReply): number {
  const m = /(\d+) bytes kept \(keep_partial_uploads\)/.exec(reply.text);
  assert(m, `426 should say what was kept: ${reply.text}`);
  return Number(m[1]);
}

for (const keep of [false, true]) {
  bothBackends(
    `a reset data connection during APPE (keep_partial_uploads=${keep})`,
    async (env) => {
      const old = randomBytes(HEAD);
      await env.put("rs.bin", old);
      const c = await RawClient.login(env.port);
      const tail = randomBytes(300_000);
      const final = await uploadThenReset(c, "APPE rs.bin", tail);
      assertEquals(final.code, 426, final.text);
      await assertNoLeftovers(env);
      if (!keep) {
        assert(!/kept/.test(final.text), final.text);
        await assertStored(env, "rs.bin", old, "nothing kept");
      } else {
        const kept = keptBytes(final);
        assert(kept > HEAD && kept <= HEAD + tail.length, `kept ${kept}`);
        await assertStored(env, "rs.bin", concat(old, tail.subarray(0, kept - HEAD)));
      }
      c.close();
    },
    keep ? keepPartial : undefined,
  );
}

bothBackends(
  "keep_partial_uploads: a data timeout mid-resume keeps the head and every byte sent",
  async (env) => {
    const old = randomBytes(HEAD + 50);
    await env.put("dt.bin", old);
    const c = await RawClient.login(env.port);
    const tail = randomBytes(PARTIAL + 17);
    await c.expect(`REST ${HEAD}`, 350);
    const data = await c.epsv();
    await c.expect("STOR dt.bin", 150);
    await data.write(tail);
    // Then silence: the data timeout ends the transfer.
    const final = await c.read();
    data.close();
    assertEquals(final.code, 426, final.text);
    assertEquals(keptBytes(final), HEAD + tail.length);
    await assertStored(env, "dt.bin", concat(old.subarray(0, HEAD), tail));
    await assertNoLeftovers(env);
    c.close();
  },
  (config) => {
    config.keepPartialUploads = true;
    config.dataTimeoutMs = 700;
  },
);

bothBackends(
  "keep_partial_uploads: a lost control connection keeps what arrived after the head",
  async (env) => {
    const old = randomBytes(HEAD);
    await env.put("lc.bin", old);
    const c = await RawClient.login(env.port);
    const tail = randomBytes(PARTIAL);
    const data = await c.epsv();
    await c.expect("APPE lc.bin", 150);
    await data.write(tail);
    await new Promise((r) => setTimeout(r, 200));
    c.close();
    await eventually(() => env.server.server.sessionCount === 0);
    data.close();
    await assertNoLeftovers(env);
    const stored = (await env.get("lc.bin"))!;
    assert(stored.length > HEAD, `something kept beyond the head: ${stored.length}`);
    await assertStored(env, "lc.bin", concat(old, tail.subarray(0, stored.length - HEAD)));
  },
  keepPartial,
);

bothBackends("keep_partial_uploads: a 552 size-limit refusal keeps nothing", async (env) => {
  const old = randomBytes(HEAD);
  await env.put("big.bin", old);
  const c = await RawClient.login(env.port);
  const final = await upload(c, "APPE big.bin", randomBytes(2 * MIB));
  assertEquals(final.code, 552, final.text);
  await assertNoLeftovers(env);
  await assertStored(env, "big.bin", old);
  c.close();
}, (config) => {
  config.keepPartialUploads = true;
  config.singleFileMaxSize = HEAD + MIB;
});

// ---------------------------------------------------------------------------
// 3. Rights
// ---------------------------------------------------------------------------

const withUsers: Adjust = (config) => {
  config.users.push(
    user("nodel", "nodel", { canDelete: false }),
    user("ro", "ro", { canWrite: false }),
  );
};

bothBackends(
  "delete_enable=false: APPE and REST at the end + STOR pass; REST before the end is 550",
  async (env) => {
    const old = randomBytes(HEAD);
    await env.put("d.bin", old);
    const c = await RawClient.login(env.port, "nodel", "nodel");
    const tail = randomBytes(1000);
    await uploadOk(c, "APPE d.bin", tail);
    const after = concat(old, tail);
    await assertStored(env, "d.bin", after);
    await c.expect(`REST ${after.length}`, 350);
    await uploadOk(c, "STOR d.bin", tail);
    const grown = concat(after, tail);
    await assertStored(env, "d.bin", grown);
    for (const offset of [0, 1, grown.length - 1]) {
      await c.expect(`REST ${offset}`, 350);
      await c.expect("STOR d.bin", 550);
    }
    await c.expect("STOR d.bin", 550);
    await assertStored(env, "d.bin", grown, "refused resumes change nothing");
    await uploadOk(c, "APPE fresh.bin", tail);
    await assertStored(env, "fresh.bin", tail);
    await assertNoLeftovers(env);
    c.close();
  },
  withUsers,
);

bothBackends("no write permission: APPE and REST + STOR are 550", async (env) => {
  const old = randomBytes(1000);
  await env.put("w.bin", old);
  const c = await RawClient.login(env.port, "ro", "ro");
  await c.expect("APPE w.bin", 550);
  await c.expect("REST 1000", 350);
  await c.expect("STOR w.bin", 550);
  await c.expect("APPE new.bin", 550);
  await assertStored(env, "w.bin", old);
  assertEquals(await env.get("new.bin"), undefined);
  c.close();
}, withUsers);

// ---------------------------------------------------------------------------
// 4. COS only: inherited headers, archived objects, a replaced source, size
// ---------------------------------------------------------------------------

/** A test on COS only. */
function cosTest(name: string, fn: (env: Env) => Promise<void>, adjust?: Adjust): void {
  Deno.test(`COS: ${name}`, () => withEnv(cosEnv, fn, adjust));
}

/** Headers an object is created with, and that a resumed upload must keep. */
const OBJECT_HEADERS = {
  "x-cos-meta-owner": "alice",
  "x-cos-meta-project": "issue-7",
  "x-cos-storage-class": "STANDARD_IA",
  "x-cos-server-side-encryption": "AES256",
};

/** Puts `bytes` at `key` through the SDK with `headers` (the emulator keeps them). */
async function putWithHeaders(
  env: Env,
  key: string,
  bytes: Uint8Array,
  headers: Record<string, string>,
): Promise<void> {
  const sdk = sdkClient(env.cos!.emulator, SECRET_ID, SECRET_KEY);
  const at = { Bucket: BUCKET, Region: env.cos!.emulator.region, Key: key };
  await sdk.putObject({
    ...at,
    Body: Buffer.from(bytes),
    ContentType: "text/x-log",
    // The SDK adds to the Headers object it is given: pass a copy.
    Headers: { ...headers },
  });
}

async function headersOf(env: Env, key: string): Promise<Record<string, string>> {
  const sdk = sdkClient(env.cos!.emulator, SECRET_ID, SECRET_KEY);
  const at = { Bucket: BUCKET, Region: env.cos!.emulator.region, Key: key };
  return (await sdk.headObject(at)).headers ?? {};
}

cosTest(
  "APPE and REST + STOR keep x-cos-meta-*, storage class, encryption and content type",
  async (env) => {
    const c = await RawClient.login(env.port);
    // A copied head with a multipart tail, a small head read into one PUT, a small head + parts.
    const cases: [string, number, number, string][] = [
      ["copied.log", HEAD, 1_500_000, "APPE"],
      ["small-put.log", 1000, 2000, "APPE"],
      ["small-parts.log", 500_000, 1_800_000, "REST 400000"],
    ];
    for (const [key, oldSize, tailSize, how] of cases) {
      const old = randomBytes(oldSize);
      await putWithHeaders(env, key, old, OBJECT_HEADERS);
      const tail = randomBytes(tailSize);
      if (how !== "APPE") await c.expect(how, 350);
      await uploadOk(c, `${how === "APPE" ? "APPE" : "STOR"} ${key}`, tail);
      const head = how === "APPE" ? old : old.subarray(0, Number(how.split(" ")[1]));
      await assertStored(env, key, concat(head, tail), key);
      const headers = await headersOf(env, key);
      const kept = Object.fromEntries(
        Object.keys(OBJECT_HEADERS).map((name) => [name, headers[name]]),
      );
      assertEquals(kept, OBJECT_HEADERS, `${key} headers`);
      assertEquals(headers["content-type"], "text/x-log", `${key} content type`);
    }
    await assertNoLeftovers(env);
    c.close();
  },
);

cosTest("an ARCHIVE or DEEP_ARCHIVE object refuses APPE and REST + STOR with 550", async (env) => {
  const c = await RawClient.login(env.port);
  for (const storageClass of ["ARCHIVE", "DEEP_ARCHIVE"]) {
    const key = `${storageClass}.bin`;
    const old = randomBytes(HEAD);
    await putWithHeaders(env, key, old, { "x-cos-storage-class": storageClass });
    const mark = cosMark(env);
    const appe = await c.command(`APPE ${key}`);
    assertEquals(appe.code, 550, appe.text);
    assertMatch(appe.text, /restore it/);
    await c.expect("REST 10", 350);
    const stor = await c.command(`STOR ${key}`);
    assertEquals(stor.code, 550, stor.text);
    assertMatch(stor.text, new RegExp(`${storageClass}.*restore`));
    const counts = mark().counts;
    assertEquals(
      [counts.InitiateMultipartUpload, counts.UploadPartCopy, counts.GetObject],
      [undefined, undefined, undefined],
      JSON.stringify(counts),
    );
    await assertStored(env, key, old);
  }
  await assertNoLeftovers(env);
  c.close();
});

cosTest(
  "a source replaced between APPE and the copy fails cleanly (the copy is pinned to its ETag)",
  async (env) => {
    const emulator = env.cos!.emulator;
    const old = randomBytes(HEAD);
    await env.put("swap.bin", old);
    const c = await RawClient.login(env.port);
    const delay = emulator.injectFault({ op: "UploadPartCopy", kind: "delay", ms: 600 });
    const data = await c.epsv();
    await c.expect("APPE swap.bin", 150);
    const replacement = randomBytes(HEAD + 1000);
    await eventually(() => delay.seen === 1);
    emulator.putObject(BUCKET, "swap.bin", replacement);
    await writeAllAndClose(data, randomBytes(500_000));
    const final = await c.read();
    assert(final.code >= 400, `the APPE must fail: ${final.text}`);
    await assertNoLeftovers(env);
    await assertStored(env, "swap.bin", replacement, "the replacement stays, unmixed");
    assert(
      emulator.requestLog().some((r) => r.op === "UploadPartCopy" && r.status === 412),
      "the copy was refused by its precondition",
    );
    c.close();
  },
);

cosTest(
  "APPE onto a 40 MiB object: copied server-side in well under a few seconds",
  async (env) => {
    const old = randomBytes(40 * MIB + 11);
    await env.put("large.bin", old);
    const c = await RawClient.login(env.port);
    const tail = randomBytes(3 * MIB + 5);
    const mark = cosMark(env);
    const started = performance.now();
    await uploadOk(c, "APPE large.bin", tail);
    const ms = performance.now() - started;
    const delta = mark();
    assertHeadCopied(env, delta, old.length, tail.length);
    assertEquals(delta.counts.UploadPartCopy, 1, "40 MiB is one copied part");
    assert(ms < 3000, `APPE took ${ms.toFixed(0)} ms`);
    console.log(
      `APPE of ${tail.length} bytes onto 40 MiB: ${
        ms.toFixed(0)
      } ms, ${delta.upstream} bytes sent to COS`,
    );
    await assertStored(env, "large.bin", concat(old, tail));
    c.close();
  },
);

cosTest(
  "keep_partial_uploads: control lost after the data ended (last part still uploading) keeps it all",
  async (env) => {
    const emulator = env.cos!.emulator;
    const old = randomBytes(HEAD);
    await env.put("late.bin", old);
    const c = await RawClient.login(env.port);
    const tail = randomBytes(PARTIAL);
    // Parts take a while: the data has ended and the commit waits for them when the client goes.
    emulator.injectFault({ op: "UploadPart", kind: "delay", ms: 400, every: true });
    const data = await c.epsv();
    await c.expect("APPE late.bin", 150);
    await writeAllAndClose(data, tail);
    await new Promise((r) => setTimeout(r, 250));
    c.close();
    await eventually(() => env.server.server.sessionCount === 0);
    await assertNoLeftovers(env);
    await assertStored(env, "late.bin", concat(old, tail), "every byte had arrived");
  },
  keepPartial,
);

// ---------------------------------------------------------------------------
// 5. Real clients resuming, on both storages
// ---------------------------------------------------------------------------

/** A per-backend test that needs external `tools`; `local` is a scratch directory. */
function clientTest(
  name: string,
  tools: string[],
  fn: (env: Env, local: string) => Promise<void>,
  adjust?: Adjust,
): void {
  for (const backend of BACKENDS) {
    Deno.test({
      name: `${backend.name}: ${name}`,
      ...needs(...tools),
      fn: () =>
        withEnv(backend.start, async (env) => {
          const local = await Deno.makeTempDir({ prefix: "resume-client-" });
          try {
            await fn(env, local);
          } finally {
            await Deno.remove(local, { recursive: true });
          }
        }, adjust),
    });
  }
}

function ftpUrl(env: Env, path: string): string {
  return `ftp://demo:demo@127.0.0.1:${env.port}/${path}`;
}

/** The whole file a client should end up with, and the truncated copy already on the server. */
async function truncatedOnServer(env: Env, name: string, size = HEAD + 1_000_000) {
  const whole = randomBytes(size);
  await env.put(name, whole.subarray(0, HEAD));
  return whole;
}

clientTest(
  "curl -T -C - resumes an upload; curl -C - resumes a download",
  ["curl"],
  async (env, local) => {
    const whole = await truncatedOnServer(env, "cu.bin");
    await Deno.writeFile(`${local}/cu.bin`, whole);
    const mark = env.cos ? cosMark(env) : null;
    const up = await run("curl", [
      "-sS",
      "-v",
      "-T",
      `${local}/cu.bin`,
      "-C",
      "-",
      ftpUrl(env, "cu.bin"),
    ]);
    assertEquals(up.code, 0, up.stderr);
    // curl asks SIZE, then appends the rest with APPE (curl 7.88: no REST + STOR for uploads).
    assertMatch(up.stderr, /^> SIZE cu\.bin\r?$/m);
    assertMatch(up.stderr, /^> APPE cu\.bin\r?$/m);
    await assertStored(env, "cu.bin", whole);
    if (mark) assertHeadCopied(env, mark(), HEAD, whole.length - HEAD);

    await Deno.writeFile(`${local}/down.bin`, whole.subarray(0, 1_234_567));
    const down = await run("curl", [
      "-sS",
      "-v",
      "-C",
      "-",
      "-o",
      `${local}/down.bin`,
      ftpUrl(env, "cu.bin"),
    ]);
    assertEquals(down.code, 0, down.stderr);
    assertMatch(down.stderr, /^> REST 1234567\r?$/m);
    assertEquals(await hashOf(await Deno.readFile(`${local}/down.bin`)), await hashOf(whole));
    await assertNoLeftovers(env);
  },
);

/** Runs an lftp script against the server with protocol debug output on stderr. */
function lftp(env: Env, script: string, cwd: string) {
  return run("lftp", [
    "-d",
    "-c",
    `set net:max-retries 1; set net:timeout 10; set xfer:clobber on; ` +
    `open -u demo,demo ftp://127.0.0.1:${env.port}; ${script}`,
  ], { cwd, timeoutMs: 30_000 });
}

clientTest(
  "lftp put -c continues a truncated upload with REST + STOR",
  ["lftp"],
  async (env, local) => {
    const whole = await truncatedOnServer(env, "lp.bin");
    await Deno.writeFile(`${local}/lp.bin`, whole);
    const mark = env.cos ? cosMark(env) : null;
    const r = await lftp(env, "put -c lp.bin", local);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stderr, new RegExp(`---> REST ${HEAD}\\r?$`, "m"));
    assertMatch(r.stderr, /---> STOR lp\.bin\r?$/m);
    await assertStored(env, "lp.bin", whole);
    if (mark) assertHeadCopied(env, mark(), HEAD, whole.length - HEAD);
    await assertNoLeftovers(env);
  },
);

clientTest("lftp mirror -R --continue finishes a truncated file and uploads a missing one", [
  "lftp",
], async (env, local) => {
  await Deno.mkdir(`${local}/tree`);
  const whole = randomBytes(HEAD + 700_000);
  const other = randomBytes(300_000);
  await Deno.writeFile(`${local}/tree/big.bin`, whole);
  await Deno.writeFile(`${local}/tree/other.bin`, other);
  // lftp continues only a target newer than its source: the interrupted upload came later.
  const hourAgo = new Date(Date.now() - 3_600_000);
  await Deno.utime(`${local}/tree/big.bin`, hourAgo, hourAgo);
  const r0 = await lftp(env, "mkdir -p tree", local);
  assertEquals(r0.code, 0, r0.stderr);
  await env.put("tree/big.bin", whole.subarray(0, HEAD));
  const r = await lftp(env, "mirror -R --continue tree tree", local);
  assertEquals(r.code, 0, r.stderr);
  assertMatch(r.stderr, new RegExp(`---> REST ${HEAD}\\r?$`, "m"));
  await assertStored(env, "tree/big.bin", whole);
  await assertStored(env, "tree/other.bin", other);
  await assertNoLeftovers(env);
});

clientTest(
  "ftplib: storbinary with rest= (REST + STOR) and APPE",
  ["python3"],
  async (env, local) => {
    const whole = await truncatedOnServer(env, "py.bin");
    await Deno.writeFile(`${local}/py.bin`, whole);
    const extra = randomBytes(400_000);
    await Deno.writeFile(`${local}/extra.bin`, extra);
    const r = await python(
      `
import ftplib, sys
port, local, head = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
${ftplibLogin("port")}
ftp.voidcmd("TYPE I")  # SIZE is refused in TYPE A (as vsftpd, proftpd, pyftpdlib do)
size = ftp.size("py.bin")
assert size == head, size
with open(local + "/py.bin", "rb") as f:
    f.seek(size)
    print(ftp.storbinary("STOR py.bin", f, rest=size))
with open(local + "/extra.bin", "rb") as f:
    print(ftp.storbinary("APPE py.bin", f))
with open(local + "/extra.bin", "rb") as f:
    print(ftp.storbinary("APPE fresh.bin", f))
ftp.quit()
`,
      [String(env.port), local, String(HEAD)],
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout.split("\n").filter((l) => l.startsWith("226")).length, 3, r.stdout);
    await assertStored(env, "py.bin", concat(whole, extra));
    await assertStored(env, "fresh.bin", extra);
    await assertNoLeftovers(env);
  },
);

clientTest("basic-ftp appendFrom appends (APPE) and creates a missing file", [], async (env) => {
  const old = randomBytes(HEAD);
  await env.put("bf.bin", old);
  const client = new Client(15_000);
  try {
    await client.access({ host: "127.0.0.1", port: env.port, user: "demo", password: "demo" });
    const tail = randomBytes(1_100_000);
    const mark = env.cos ? cosMark(env) : null;
    await client.appendFrom(Readable.from(Buffer.from(tail)), "bf.bin");
    await assertStored(env, "bf.bin", concat(old, tail));
    if (mark) assertHeadCopied(env, mark(), HEAD, tail.length);
    const fresh = randomBytes(5000);
    await client.appendFrom(Readable.from(Buffer.from(fresh)), "bf-new.bin");
    await assertStored(env, "bf-new.bin", fresh);
    assertEquals(await client.size("bf.bin"), HEAD + tail.length);
  } finally {
    client.close();
  }
  await assertNoLeftovers(env);
});

clientTest(
  "keep_partial_uploads: lftp killed mid-upload, then put -c finishes from what was kept",
  ["lftp"],
  async (env, local) => {
    // Larger than what socket buffers take at once, so the kill lands mid-upload.
    const whole = randomBytes(16 * MIB);
    await Deno.writeFile(`${local}/k.bin`, whole);
    const child = new Deno.Command("lftp", {
      args: [
        "-c",
        `set net:limit-rate 2500000; open -u demo,demo ftp://127.0.0.1:${env.port}; put k.bin`,
      ],
      cwd: local,
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((r) => setTimeout(r, 1200));
    child.kill("SIGKILL");
    await child.status;
    await eventually(() => env.server.server.sessionCount === 0);
    await assertNoLeftovers(env);
    const partial = await env.get("k.bin");
    assert(
      partial && partial.length > 0 && partial.length < whole.length,
      `kept ${partial?.length}`,
    );
    await assertStored(
      env,
      "k.bin",
      whole.subarray(0, partial.length),
      "the kept bytes are a prefix",
    );
    const r = await lftp(env, "put -c k.bin", local);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stderr, new RegExp(`---> REST ${partial.length}\\r?$`, "m"));
    await assertStored(env, "k.bin", whole);
    await assertNoLeftovers(env);
  },
  keepPartial,
);
