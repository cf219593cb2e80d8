/**
 * Verified bytes: the CRC-64 itself (known vectors, xz's own CRC-64, the
 * emulator's separate implementation, combining), and end to end on COS:
 * corrupted uploads fail 451 leaving nothing behind, corrupted downloads
 * end 426, responses without a CRC are not checked, and the switch works.
 */

import { Crc64, crc64, crc64Combine, parseCrc64 } from "../src/storage/crc64.ts";
import { PartCrcs } from "../src/storage/cos/verify.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, run } from "./support/clients.ts";
import { crc64Decimal } from "./support/cos_emulator/crc64.ts";
import { BUCKET } from "./support/cos_server.ts";
import { RawClient, readAll, writeAllAndClose } from "./support/raw_client.ts";
import { randomBytes, sha256 } from "./support/server.ts";
import { withServer, withSession } from "./support/kit.ts";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();

Deno.test("CRC-64/XZ: check value, empty input, and the emulator's separate implementation", () => {
  assertEquals(crc64(encoder.encode("123456789")), 0x995dc9bbdf1939fan);
  assertEquals(crc64(new Uint8Array(0)), 0n);
  const bytes = randomBytes(100_003);
  // Every start offset mod 4 and odd lengths exercise the word loop's edges.
  for (let start = 0; start < 8; start++) {
    for (const length of [0, 1, 15, 16, 17, 63, 4096 + 5, bytes.length - start]) {
      const piece = bytes.subarray(start, start + length);
      assertEquals(crc64(piece).toString(), crc64Decimal(piece), `start ${start} length ${length}`);
    }
  }
});

Deno.test("CRC-64/XZ: pieces fed one by one give the CRC of the whole", () => {
  const bytes = randomBytes(70_001);
  const whole = crc64(bytes);
  for (const step of [1, 3, 16, 1000, 65_536]) {
    const running = new Crc64();
    for (let i = 0; i < bytes.length; i += step) running.update(bytes.subarray(i, i + step));
    assertEquals(running.value, whole, `step ${step}`);
    assertEquals(running.length, bytes.length);
  }
});

Deno.test({
  name: "CRC-64/XZ: matches xz's own CRC-64 of a 3 MiB file",
  ...needs("xz"),
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const bytes = randomBytes(3 * MIB + 11);
      await Deno.writeFile(`${dir}/f`, bytes);
      const packed = await run("xz", ["-C", "crc64", "-0", "-k", `${dir}/f`]);
      assertEquals(packed.code, 0, packed.stderr);
      const listed = await run("xz", ["-lvv", "--robot", `${dir}/f.xz`]);
      const block = listed.stdout.split("\n").find((line) => line.startsWith("block\t"));
      assert(block, listed.stdout);
      assertEquals(BigInt(`0x${block.split("\t")[10]}`), crc64(bytes));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("CRC-64/XZ: combining part CRCs gives the object's", () => {
  const bytes = randomBytes(5 * 65_536 + 123);
  const whole = crc64(bytes);
  for (const cut of [0, 1, 65_536, 200_000, bytes.length]) {
    const a = crc64(bytes.subarray(0, cut));
    const b = crc64(bytes.subarray(cut));
    assertEquals(crc64Combine(a, b, bytes.length - cut), whole, `cut ${cut}`);
  }
  const parts = new PartCrcs();
  const size = 65_536;
  for (let n = 1; n * size - size < bytes.length; n++) {
    const part = bytes.subarray((n - 1) * size, n * size);
    parts.record(n, crc64(part), part.length);
  }
  const count = Math.ceil(bytes.length / size);
  assertEquals(parts.combined(count), whole);
  // An unknown part (a copy COS sent no CRC for) or a missing one: no object check.
  assertEquals(parts.combined(count + 1), null);
  parts.record(2, null, size);
  assertEquals(parts.combined(count), null);
});

Deno.test("CRC-64/XZ: COS header values parse; anything else is no CRC", () => {
  assertEquals(parseCrc64("15060521397700495958"), 15060521397700495958n);
  assertEquals(parseCrc64(" 0 "), 0n);
  assertEquals(parseCrc64("18446744073709551615"), 2n ** 64n - 1n);
  for (const bad of [undefined, null, "", "-1", "0x10", "18446744073709551616", "12a"]) {
    assertEquals(parseCrc64(bad), null, String(bad));
  }
});

/** STOR that must fail: returns the final reply after sending every byte. */
async function failedStore(c: RawClient, path: string, bytes: Uint8Array) {
  const data = await c.epsv();
  await c.expect(`STOR ${path}`, 150);
  await writeAllAndClose(data, bytes).catch(() => {});
  return await c.read();
}

/** RETR whose final reply is returned (with the bytes that came). */
async function retrieveRaw(c: RawClient, path: string) {
  const data = await c.epsv();
  await c.expect(`RETR ${path}`, 150);
  const bytes = await readAll(data).catch(() => new Uint8Array());
  return { bytes, reply: await c.read() };
}

Deno.test("verify: uploads carry COS's CRC; a part COS stored corrupt once is sent again", async () => {
  await withSession({ storage: "cos" }, async (c, s) => {
    const bytes = randomBytes(3 * MIB + 7);
    const fault = s.emulator.injectFault({ op: "UploadPart", kind: "corrupt", nth: 2 });
    await c.store("once.bin", bytes);
    assertEquals(fault.hits, 1);
    const stored = s.emulator.getObject(BUCKET, "once.bin")!;
    assertEquals(await sha256(stored.slice()), await sha256(bytes));
    assertEquals(await c.retrieve("once.bin"), bytes);
    assertEquals(s.emulator.inflightUploads(), []);
  });
});

Deno.test("verify: a part stored corrupt every time is 451, the upload aborted, the older object intact", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    const older = randomBytes(1000);
    s.emulator.putObject(BUCKET, "keep.bin", older);
    const c = await RawClient.login(s.port);
    s.emulator.injectFault({ op: "UploadPart", kind: "corrupt", nth: 1, every: true });
    const done = await failedStore(c, "keep.bin", randomBytes(3 * MIB));
    assertEquals(done.code, 451, done.text);
    assertMatch(done.text, /CRC64 mismatch/);
    s.emulator.clearFaults();
    assertEquals(s.emulator.inflightUploads(), []);
    assertEquals(s.emulator.getObject(BUCKET, "keep.bin"), older);
    await c.expect("NOOP", 200);
    c.close();
  });
});

Deno.test("verify: a wrong object CRC at complete is 451 and no object is left", async () => {
  await withSession({ storage: "cos" }, async (c, s) => {
    const complete = s.emulator.injectFault({ op: "CompleteMultipartUpload", kind: "bad-crc" });
    const done = await failedStore(c, "big.bin", randomBytes(2 * MIB + 1));
    assertEquals(done.code, 451, done.text);
    assertEquals(complete.hits, 1);
    assertEquals(s.emulator.getObject(BUCKET, "big.bin"), undefined);
    assertEquals(s.emulator.inflightUploads(), []);
  });
});

Deno.test("verify: a single PUT damaged on the wire is refused by COS (Content-MD5): sent again, or 451 with the older object intact", async () => {
  await withSession({ storage: "cos" }, async (c, s) => {
    const once = s.emulator.injectFault({ op: "PutObject", kind: "corrupt" });
    const bytes = randomBytes(5000);
    await c.store("small.bin", bytes);
    assertEquals(once.hits, 1);
    assertEquals(s.emulator.getObject(BUCKET, "small.bin"), bytes);

    s.emulator.injectFault({ op: "PutObject", kind: "corrupt", every: true });
    const done = await failedStore(c, "small.bin", randomBytes(5000));
    assertEquals(done.code, 451, done.text);
    assertMatch(done.text, /BadDigest/);
    assertEquals(s.emulator.getObject(BUCKET, "small.bin"), bytes);
  });
});

Deno.test("verify: a corrupt whole-file download ends 426, not 226; REST downloads are not checked", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    const bytes = randomBytes(2 * MIB + 3);
    s.emulator.putObject(BUCKET, "d.bin", bytes);
    const c = await RawClient.login(s.port);
    s.emulator.injectFault({ op: "GetObject", kind: "corrupt" });
    let got = await retrieveRaw(c, "d.bin");
    assertEquals(got.reply.code, 426, got.reply.text);
    assertMatch(got.reply.text, /CRC64 mismatch/);
    s.emulator.injectFault({ op: "GetObject", kind: "bad-crc" });
    got = await retrieveRaw(c, "d.bin");
    assertEquals(got.reply.code, 426, got.reply.text);
    // A ranged GET carries the whole object's CRC: it cannot be checked, so it is not.
    s.emulator.injectFault({ op: "GetObject", kind: "bad-crc" });
    await c.expect("REST 1000", 350);
    assertEquals(await c.retrieve("d.bin"), bytes.subarray(1000));
    assertEquals(await c.retrieve("d.bin"), bytes);
    c.close();
  });
});

Deno.test("verify: 20 concurrent 5 MiB downloads share the CRC worker; only the corrupt one is 426", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    const clients: RawClient[] = [];
    try {
      const objects = Array.from({ length: 20 }, (_, i) => randomBytes(5 * MIB + i));
      objects.forEach((bytes, i) => s.emulator.putObject(BUCKET, `c${i}.bin`, bytes));
      for (const _ of objects) clients.push(await RawClient.login(s.port));
      // Which download is the 7th GET depends on timing; exactly one must fail, and it must be that one.
      s.emulator.injectFault({ op: "GetObject", kind: "corrupt", nth: 7 });
      const results = await Promise.all(clients.map((c, i) => retrieveRaw(c, `c${i}.bin`)));
      const failed = results.flatMap((r, i) => r.reply.code === 226 ? [] : [i]);
      assertEquals(failed.length, 1, results.map((r) => r.reply.text).join("\n"));
      const [bad] = failed;
      assertEquals(results[bad].reply.code, 426);
      assertMatch(results[bad].reply.text, new RegExp(`c${bad}\\.bin: CRC64 mismatch`));
      for (const [i, r] of results.entries()) {
        const same = await sha256(r.bytes.slice()) === await sha256(objects[i].slice());
        assertEquals(same, i !== bad, `c${i}.bin: bytes ${same ? "intact" : "differ"}`);
      }
    } finally {
      for (const c of clients) c.close();
    }
  });
});

Deno.test("verify: a COS without CRC64 headers is not checked (nor failed)", async () => {
  await withSession({ storage: "cos", emulator: { crc64: false } }, async (c, s) => {
    for (const size of [10, 2 * MIB + 5]) {
      const bytes = randomBytes(size);
      await c.store(`n${size}.bin`, bytes);
      assertEquals(await c.retrieve(`n${size}.bin`), bytes);
    }
    // Nothing to check against: a corruption goes unseen, as without verification.
    s.emulator.injectFault({ op: "GetObject", kind: "corrupt" });
    const got = await c.retrieve("n10.bin");
    assertEquals(got.length, 10);
  });
});

Deno.test("verify: verify_checksums = false turns the checks off", async () => {
  await withSession({
    storage: "cos",
    adjust: (config) => {
      config.verifyChecksums = false;
    },
  }, async (c, s) => {
    const bytes = randomBytes(2 * MIB + 5);
    s.emulator.injectFault({ op: "UploadPart", kind: "corrupt" });
    await c.store("off.bin", bytes);
    const stored = s.emulator.getObject(BUCKET, "off.bin")!;
    assert(await sha256(stored.slice()) !== await sha256(bytes), "the corruption was stored");
    s.emulator.injectFault({ op: "GetObject", kind: "corrupt" });
    assertEquals((await c.retrieve("off.bin")).length, bytes.length);
  });
});
