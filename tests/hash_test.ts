/**
 * HASH, OPTS HASH, XCRC, XMD5, XSHA1, XSHA256 over real sockets, on local
 * storage and on COS (the emulator). Every digest is compared with one
 * computed apart from the server: sha256sum, Python's hashlib and zlib, and
 * node:crypto in the test.
 */

import { createHash } from "node:crypto";
import { digestFile } from "../src/ftp/commands/hash.ts";
import { LocalStorage } from "../src/storage/local.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./support/assert.ts";
import { needs, python, run } from "./support/clients.ts";
import { BUCKET } from "./support/cos_server.ts";
import { RawClient } from "./support/raw_client.ts";
import { randomBytes, user } from "./support/server.ts";
import { ftplibLogin, withServer } from "./support/kit.ts";

const MIB = 1024 * 1024;

/** Python's digests of `file` (bytes start..end), as `{ md5, sha1, sha256, crc32 }`. */
async function pythonDigests(file: string, start = 0, end = -1): Promise<Record<string, string>> {
  const script = `
import hashlib, json, sys, zlib
data = open(sys.argv[1], "rb").read()
start, end = int(sys.argv[2]), int(sys.argv[3])
data = data[start:] if end < 0 else data[start:end]
print(json.dumps({
    "md5": hashlib.md5(data).hexdigest(),
    "sha1": hashlib.sha1(data).hexdigest(),
    "sha256": hashlib.sha256(data).hexdigest(),
    "crc32": format(zlib.crc32(data), "08x"),
}))`;
  const out = await python(script, [file, String(start), String(end)]);
  assertEquals(out.code, 0, out.stderr);
  return JSON.parse(out.stdout);
}

Deno.test({
  name: "HASH: SHA-256 by default, OPTS HASH selects and reports, FEAT marks the selected one",
  ...needs("python3", "sha256sum"),
  async fn() {
    await withServer({}, async (s) => {
      const bytes = randomBytes(3 * MIB + 1);
      await Deno.writeFile(`${s.root}/data.bin`, bytes);
      const sum = await run("sha256sum", [`${s.root}/data.bin`]);
      const expected = await pythonDigests(`${s.root}/data.bin`);
      assertEquals(sum.stdout.split(" ")[0], expected.sha256);
      const c = await RawClient.login(s.port);
      const feat = await c.expect("FEAT", 211);
      assertMatch(feat.text, /^ HASH SHA-256\*;SHA-1;MD5;CRC32$/m);
      for (const x of ["XCRC", "XMD5", "XSHA1", "XSHA256"]) {
        assertMatch(feat.text, new RegExp(`^ ${x}$`, "m"));
      }
      const size = bytes.length;
      assertEquals(
        (await c.expect("HASH data.bin", 213)).text,
        `213 SHA-256 0-${size - 1} ${expected.sha256} data.bin`,
      );
      assertEquals((await c.expect("OPTS HASH", 200)).text, "200 SHA-256");
      for (const [name, key] of [["MD5", "md5"], ["SHA-1", "sha1"], ["CRC32", "crc32"]]) {
        assertEquals((await c.expect(`OPTS HASH ${name.toLowerCase()}`, 200)).text, `200 ${name}`);
        const reply = await c.expect("HASH /data.bin", 213);
        assertEquals(reply.text, `213 ${name} 0-${size - 1} ${expected[key]} /data.bin`);
      }
      assertMatch((await c.expect("FEAT", 211)).text, /^ HASH SHA-256;SHA-1;MD5;CRC32\*$/m);
      await c.expect("OPTS HASH SHA-512", 501);
      assertEquals((await c.expect("OPTS HASH", 200)).text, "200 CRC32");
      c.close();
    });
  },
});

Deno.test({
  name: "XCRC, XMD5, XSHA1, XSHA256: 250 <hex>, whole files and ranges, quoted names",
  ...needs("python3"),
  async fn() {
    await withServer({}, async (s) => {
      const bytes = randomBytes(200_000);
      await Deno.writeFile(`${s.root}/with space.bin`, bytes);
      await Deno.writeFile(`${s.root}/a 12`, bytes.subarray(0, 99));
      const whole = await pythonDigests(`${s.root}/with space.bin`);
      const part = await pythonDigests(`${s.root}/with space.bin`, 1000, 150_000);
      const head = await pythonDigests(`${s.root}/with space.bin`, 0, 4096);
      const c = await RawClient.login(s.port);
      const commands = [["XCRC", "crc32"], ["XMD5", "md5"], ["XSHA1", "sha1"], [
        "XSHA256",
        "sha256",
      ]];
      for (const [command, key] of commands) {
        assertEquals((await c.expect(`${command} with space.bin`, 250)).text, `250 ${whole[key]}`);
        assertEquals(
          (await c.expect(`${command} "with space.bin" 1000 150000`, 250)).text,
          `250 ${part[key]}`,
        );
        assertEquals(
          (await c.expect(`${command} with space.bin, 4096`, 250)).text,
          `250 ${head[key]}`,
        );
      }
      // A name that ends in a number is a name when such a file exists.
      const short = await pythonDigests(`${s.root}/a 12`);
      assertEquals((await c.expect("XMD5 a 12", 250)).text, `250 ${short.md5}`);
      await c.expect('XMD5 "with space.bin" 5 1 2', 501);
      await c.expect('XMD5 "with space.bin" 500 100', 550);
      c.close();
    });
  },
});

Deno.test("HASH: missing files, directories, no read right, hash_max_size, empty files", async () => {
  await withServer({
    adjust: (config) => {
      config.hashMaxSize = 1000;
      config.users.push(user("wo", "wo", { canRead: false }));
    },
  }, async (s) => {
    await Deno.writeFile(`${s.root}/big.bin`, new Uint8Array(1001));
    await Deno.writeFile(`${s.root}/empty`, new Uint8Array(0));
    await Deno.mkdir(`${s.root}/dir`);
    const anonymous = await RawClient.connect(s.port);
    await anonymous.expect("HASH empty", 530);
    anonymous.close();
    const c = await RawClient.login(s.port);
    await c.expect("HASH nope", 550);
    await c.expect("HASH dir", 550);
    await c.expect("HASH /", 550);
    await c.expect("HASH", 501);
    const big = await c.expect("XSHA256 big.bin", 552);
    assertMatch(big.text, /hash_max_size \(1000 bytes\)/);
    await c.expect("HASH big.bin", 552);
    const empty = createHash("sha256").update(new Uint8Array(0)).digest("hex");
    assertEquals((await c.expect("HASH empty", 213)).text, `213 SHA-256 0-0 ${empty} empty`);
    await c.expect("NOOP", 200);
    c.close();
    const writeOnly = await RawClient.login(s.port, "wo", "wo");
    await writeOnly.expect("HASH empty", 550);
    await writeOnly.expect("XCRC empty", 550);
    writeOnly.close();
  });
});

Deno.test({
  name: "HASH through Python's ftplib, on COS: digests of the stored object",
  ...needs("python3"),
  async fn() {
    await withServer({ storage: "cos" }, async (s) => {
      const bytes = randomBytes(2 * MIB + 17);
      s.emulator.putObject(BUCKET, "dir/obj.bin", bytes);
      const script = `
import ftplib, sys
${ftplibLogin("int(sys.argv[1])", { timeout: 30 })}
print(ftp.sendcmd("HASH dir/obj.bin"))
print(ftp.sendcmd("OPTS HASH MD5"))
print(ftp.sendcmd("HASH dir/obj.bin"))
print(ftp.sendcmd("XSHA1 dir/obj.bin"))
print(ftp.sendcmd("XCRC dir/obj.bin"))
ftp.quit()`;
      const out = await python(script, [String(s.port)]);
      assertEquals(out.code, 0, out.stderr);
      const digest = (name: string) => createHash(name).update(bytes).digest("hex");
      const last = bytes.length - 1;
      const lines = out.stdout.trim().split("\n");
      assertEquals(lines[0], `213 SHA-256 0-${last} ${digest("sha256")} dir/obj.bin`);
      assertEquals(lines[1], "200 MD5");
      assertEquals(lines[2], `213 MD5 0-${last} ${digest("md5")} dir/obj.bin`);
      assertEquals(lines[3], `250 ${digest("sha1")}`);
      const crc = await pythonCrc32(bytes);
      assertEquals(lines[4], `250 ${crc}`);
      // A corrupt read of the object is caught by the CRC-64 check, not hashed as if fine.
      s.emulator.injectFault({ op: "GetObject", kind: "corrupt" });
      const c = await RawClient.login(s.port);
      const corrupt = await c.command("HASH dir/obj.bin");
      assert(corrupt.code >= 400, corrupt.text);
      assertMatch(corrupt.text, /CRC64 mismatch/);
      c.close();
    });
  },
});

async function pythonCrc32(bytes: Uint8Array): Promise<string> {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, bytes);
    return (await pythonDigests(file)).crc32;
  } finally {
    await Deno.remove(file);
  }
}

Deno.test("digestFile: an abort stops the read of a large file at once", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${root}/big`, new Uint8Array(256 * MIB));
    const storage = await LocalStorage.open(root);
    const controller = new AbortController();
    const reason = new Error("stop");
    const started = Date.now();
    const running = digestFile(
      storage,
      "big",
      "SHA-256",
      { start: 0 },
      controller.signal,
    );
    setTimeout(() => controller.abort(reason), 20);
    const error = await assertRejects(() => running);
    assertEquals(error, reason);
    assert(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    await storage.close();
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test({
  name: "HASH: ABOR during the checksum of a big file answers at once; the session goes on",
  async fn() {
    await withServer({}, async (s) => {
      await Deno.writeFile(`${s.root}/huge.bin`, new Uint8Array(1024 * MIB));
      const c = await RawClient.login(s.port);
      const started = Date.now();
      await c.send("HASH huge.bin");
      await new Promise((r) => setTimeout(r, 50));
      await c.send("ABOR");
      assertEquals((await c.read()).code, 426);
      assertEquals((await c.read()).code, 226);
      assert(Date.now() - started < 2000, `ABOR took ${Date.now() - started} ms`);
      await c.expect("NOOP", 200);
      await c.expect("XCRC huge.bin 0 10", 250);
      c.close();
    });
  },
});
