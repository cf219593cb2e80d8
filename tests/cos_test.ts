/**
 * The gateway over COS, end to end: FTP clients -> server -> the COS
 * emulator (which checks every request's signature). Content is checked in
 * the emulator's store, not only through the gateway.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, run } from "./support/clients.ts";
import {
  BUCKET,
  cosStorage,
  eventually,
  OTHER_BUCKET,
  SECRET_ID,
  SECRET_KEY,
} from "./support/cos_server.ts";
import { RawClient, readAll, writeAllAndClose } from "./support/raw_client.ts";
import { randomBytes, sha256 } from "./support/server.ts";
import { addAccount, withServer, withSession, withTempDir } from "./support/kit.ts";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();

Deno.test("COS: byte-exact round trips at 0, 1, part-1, part, part+1 bytes; small files are one PUT", async () => {
  await withSession({ storage: "cos" }, async (c, s) => {
    for (const size of [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 7]) {
      const bytes = randomBytes(size);
      const before = s.emulator.requestCounts();
      await c.store(`f${size}.bin`, bytes);
      const after = s.emulator.requestCounts();
      const multipart = (after.InitiateMultipartUpload ?? 0) -
        (before.InitiateMultipartUpload ?? 0);
      assertEquals(multipart, size > MIB ? 1 : 0, `multipart uploads for ${size} bytes`);
      assertEquals(
        await sha256(s.emulator.getObject(BUCKET, `f${size}.bin`)!.slice()),
        await sha256(bytes),
      );
      assertEquals(await c.retrieve(`f${size}.bin`), bytes);
      assertEquals((await c.expect(`SIZE f${size}.bin`, 213)).text, `213 ${size}`);
    }
    await c.expect("MDTM f1.bin", 213);
    assertEquals(s.emulator.inflightUploads(), []);
  });
});

Deno.test("COS: REST becomes a Range request; a missing key is 550", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    const bytes = randomBytes(300_000);
    s.emulator.putObject(BUCKET, "r.bin", bytes);
    const c = await RawClient.login(s.port);
    await c.expect("REST 123456", 350);
    assertEquals(await c.retrieve("r.bin"), bytes.subarray(123456));
    assert(
      s.emulator.requestLog().some((r) => r.op === "GetObject" && r.status === 206),
    );
    await c.expect("RETR nope.bin", 550);
    await c.expect("SIZE nope.bin", 550);
    c.close();
  });
});

Deno.test("COS: listings stream 5,000 keys across pages; implicit dirs; markers are not files", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    for (let i = 0; i < 5000; i++) {
      s.emulator.putObject(BUCKET, `big/k${String(i).padStart(5, "0")}`, encoder.encode("x"));
    }
    s.emulator.putObject(BUCKET, "imp/sub/deep.txt", encoder.encode("deep"));
    s.emulator.putObject(BUCKET, "marked/", new Uint8Array());
    s.emulator.putObject(BUCKET, "top.txt", encoder.encode("top"));
    const c = await RawClient.login(s.port);
    const names = (await c.listing("NLST big")).trim().split("\r\n");
    assertEquals(names.length, 5000);
    assertEquals(names[0], "big/k00000");
    assertEquals(names[4999], "big/k04999");
    assert((s.emulator.requestCounts().ListObjects ?? 0) >= 5, "several pages were fetched");
    const root = await c.listing("LIST");
    assertMatch(root, /^d\S+ .* big\r$/m);
    assertMatch(root, /^d\S+ .* imp\r$/m);
    assertMatch(root, /^d\S+ .* marked\r$/m);
    assertMatch(root, /^-\S+ 1 ftp ftp +3 .* top\.txt\r$/m);
    assertEquals(await c.listing("NLST marked"), "");
    await c.expect("CWD imp/sub", 250);
    assertMatch(
      await c.listing("MLSD"),
      /^type=file;size=4;modify=\d{14};perm=\w+; deep\.txt\r\n$/,
    );
    await c.expect("CWD /nope", 550);
    c.close();
  });
});

Deno.test("COS: the first listing bytes arrive before the last page is fetched", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    for (let i = 0; i < 2500; i++) {
      s.emulator.putObject(BUCKET, `p/k${String(i).padStart(4, "0")}`, new Uint8Array());
    }
    const c = await RawClient.login(s.port);
    const data = await c.epsv();
    s.emulator.injectFault({ op: "ListObjects", kind: "delay", ms: 1500, nth: 3 });
    const started = Date.now();
    await c.expect("NLST p", 150);
    const reader = data.readable.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - started;
    assert(first.value && first.value.length > 0);
    assert(firstAt < 1200, `first bytes after ${firstAt} ms, before the delayed page`);
    reader.releaseLock();
    const rest = await readAll(data);
    assertEquals(
      (new TextDecoder().decode(first.value) + new TextDecoder().decode(rest)).trim().split("\r\n")
        .length,
      2500,
    );
    assertEquals((await c.read()).code, 226);
    c.close();
  });
});

Deno.test("COS: max_list_file cuts the listing and the reply says so", async () => {
  await withServer({ storage: "cos", adjust: (c) => c.maxListFile = 1500 }, async (s) => {
    for (let i = 0; i < 2200; i++) {
      s.emulator.putObject(BUCKET, `c/k${String(i).padStart(4, "0")}`, new Uint8Array());
    }
    const c = await RawClient.login(s.port);
    const data = await c.epsv();
    await c.expect("NLST c", 150);
    const names = new TextDecoder().decode(await readAll(data)).trim().split("\r\n");
    assertEquals(names.length, 1500);
    assertMatch((await c.read()).text, /^226 Listing cut at 1500 entries/);
    c.close();
  });
});

Deno.test("COS: MKD, RMD (empty only, 550 with reasons), DELE exact key only", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    s.emulator.putObject(BUCKET, "foobar.txt", encoder.encode("fb"));
    const c = await RawClient.login(s.port);
    await c.expect("DELE foo", 550); // never a prefix match
    await c.expect("MKD d", 257);
    assert(s.emulator.objects(BUCKET).includes("d/"), "MKD writes a d/ marker");
    await c.expect("MKD d", 550);
    await c.store("d/f.txt", encoder.encode("f"));
    const nonEmpty = await c.expect("RMD d", 550);
    assertMatch(nonEmpty.text, /not empty/);
    const missing = await c.expect("RMD nowhere", 550);
    assertMatch(missing.text, /No such directory/);
    await c.expect("DELE d", 550);
    await c.expect("DELE d/f.txt", 250);
    await c.expect("DELE d/f.txt", 550);
    await c.expect("RMD d", 250);
    assertEquals(s.emulator.objects(BUCKET), ["foobar.txt"]);
    c.close();
  });
});

Deno.test("COS: file and directory renames with Chinese and spaced names; the directory limit", async () => {
  await withServer({ storage: "cos", adjust: (c) => c.maxRenameObjects = 5 }, async (s) => {
    const bytes = randomBytes(2 * MIB + 3);
    s.emulator.putObject(BUCKET, "报告 2026/季度 一.bin", bytes);
    s.emulator.putObject(BUCKET, "报告 2026/sub/b+c.txt", encoder.encode("bc"));
    s.emulator.putObject(BUCKET, "报告 2026/", new Uint8Array());
    const c = await RawClient.login(s.port);
    await c.expect("RNFR 报告 2026/季度 一.bin", 350);
    await c.expect("RNTO 报告 2026/第一季度.bin", 250);
    assertEquals(s.emulator.getObject(BUCKET, "报告 2026/第一季度.bin"), bytes);
    assertEquals(s.emulator.getObject(BUCKET, "报告 2026/季度 一.bin"), undefined);
    await c.expect("RNFR 报告 2026", 350);
    await c.expect("RNTO 归档", 250);
    assertEquals(
      s.emulator.objects(BUCKET).sort(),
      ["归档/", "归档/sub/b+c.txt", "归档/第一季度.bin"].sort(),
    );
    assertEquals(s.emulator.getObject(BUCKET, "归档/第一季度.bin"), bytes);
    await c.expect("RNFR 归档/第一季度.bin", 350);
    await c.expect("RNTO ./归档/第一季度.bin", 250); // onto itself: must not delete it
    assertEquals(s.emulator.getObject(BUCKET, "归档/第一季度.bin"), bytes);
    for (let i = 0; i < 6; i++) s.emulator.putObject(BUCKET, `many/k${i}`, new Uint8Array());
    await c.expect("RNFR many", 350);
    const refused = await c.expect("RNTO few", 550);
    assertMatch(refused.text, /more than 5 objects/);
    assertEquals(s.emulator.objects(BUCKET).filter((k) => k.startsWith("many/")).length, 6);
    c.close();
  });
});

Deno.test("COS: a part that fails once is retried and the upload succeeds", async () => {
  await withSession({ storage: "cos" }, async (c, s) => {
    const fault = s.emulator.injectFault({ op: "UploadPart", kind: "status", status: 503, nth: 2 });
    const reset = s.emulator.injectFault({ op: "UploadPart", kind: "reset", nth: 4 });
    const bytes = randomBytes(5 * MIB + 100);
    await c.store("retried.bin", bytes);
    assertEquals(fault.hits, 1);
    assertEquals(reset.hits, 1);
    assertEquals(s.emulator.getObject(BUCKET, "retried.bin"), bytes);
    assertMatch(await s.logText(), /WARNING storage-retry attempt=1 /);
  });
});

Deno.test("COS: a part that keeps failing: 451, no object, no multipart upload left", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    s.emulator.putObject(BUCKET, "keep.bin", encoder.encode("old"));
    const c = await RawClient.login(s.port);
    s.emulator.injectFault({ op: "UploadPart", kind: "status", status: 500, nth: 2, every: true });
    const data = await c.epsv();
    await c.expect("STOR keep.bin", 150);
    await writeAllAndClose(data, randomBytes(4 * MIB)).catch(() => {});
    const final = await c.read();
    assertEquals(final.code, 451, final.text);
    assertEquals(s.emulator.getObject(BUCKET, "keep.bin"), encoder.encode("old"));
    await eventually(() => s.emulator.inflightUploads().length === 0);
    assertMatch(await s.logText(), /WARNING transfer .*command=STOR .*result="451 .*requestId=\S+/);
    c.close();
  });
});

Deno.test("COS: a slow last part after the client sent everything is no data timeout", async () => {
  await withSession(
    { storage: "cos", adjust: (config) => config.dataTimeoutMs = 700 },
    async (c, s) => {
      s.emulator.injectFault({ op: "UploadPart", kind: "delay", ms: 1500, nth: 1, every: true });
      const bytes = randomBytes(3 * MIB);
      const final = await c.store("slow.bin", bytes);
      assertMatch(final.text, /3145728 bytes stored/);
      assertEquals(s.emulator.getObject(BUCKET, "slow.bin"), bytes);
    },
  );
});

Deno.test("COS: a failing CompleteMultipartUpload: 451 and the upload is aborted", async () => {
  await withSession({ storage: "cos" }, async (c, s) => {
    s.emulator.injectFault({
      op: "CompleteMultipartUpload",
      kind: "status",
      status: 500,
      every: true,
    });
    const data = await c.epsv();
    await c.expect("STOR done.bin", 150);
    await writeAllAndClose(data, randomBytes(3 * MIB));
    assertEquals((await c.read()).code, 451);
    assertEquals(s.emulator.getObject(BUCKET, "done.bin"), undefined);
    await eventually(() => s.emulator.inflightUploads().length === 0);
  });
});

Deno.test("COS: disconnect or ABOR mid-upload: no object, no multipart upload, the old object intact", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    s.emulator.putObject(BUCKET, "keep.bin", encoder.encode("old"));
    const c = await RawClient.login(s.port);
    const data = await c.epsv();
    await c.expect("STOR keep.bin", 150);
    await data.write(randomBytes(3 * MIB));
    await eventually(() => s.emulator.inflightUploads().length === 1);
    assertEquals((await c.command("ABOR")).code, 426);
    assertEquals((await c.read()).code, 226);
    data.close();
    await eventually(() => s.emulator.inflightUploads().length === 0);
    assertEquals(s.emulator.getObject(BUCKET, "keep.bin"), encoder.encode("old"));

    const data2 = await c.epsv();
    await c.expect("STOR keep.bin", 150);
    await data2.write(randomBytes(3 * MIB));
    await eventually(() => s.emulator.inflightUploads().length === 1);
    c.close(); // the control connection goes away
    await writeAllAndClose(data2, randomBytes(10)).catch(() => {});
    await eventually(() =>
      s.emulator.inflightUploads().length === 0 && s.server.sessionCount === 0
    );
    assertEquals(s.emulator.getObject(BUCKET, "keep.bin"), encoder.encode("old"));
  });
});

Deno.test("COS: single_file_max_size is 552 with nothing left", async () => {
  await withSession(
    { storage: "cos", adjust: (c) => c.singleFileMaxSize = 2 * MIB },
    async (c, s) => {
      const data = await c.epsv();
      await c.expect("STOR big.bin", 150);
      await writeAllAndClose(data, randomBytes(3 * MIB)).catch(() => {});
      assertEquals((await c.read()).code, 552);
      assertEquals(s.emulator.getObject(BUCKET, "big.bin"), undefined);
      await eventually(() => s.emulator.inflightUploads().length === 0);
    },
  );
});

Deno.test("COS: two users on two buckets, one inside a prefix: neither sees the other's keys", async () => {
  await withServer({
    storage: "cos",
    adjust: (config, emulator) => {
      addAccount(config, "B", cosStorage(emulator, OTHER_BUCKET, "team/b/"), "bob");
    },
  }, async (s) => {
    s.emulator.putObject(OTHER_BUCKET, "outside.txt", encoder.encode("no"));
    const alice = await RawClient.login(s.port);
    const bob = await RawClient.login(s.port, "bob", "pw");
    await alice.store("a.txt", encoder.encode("alice"));
    await bob.store("b.txt", encoder.encode("bob"));
    assertEquals(s.emulator.objects(BUCKET), ["a.txt"]);
    assertEquals(s.emulator.objects(OTHER_BUCKET).sort(), ["outside.txt", "team/b/b.txt"]);
    assertEquals((await alice.listing("NLST")).trim(), "a.txt");
    assertEquals((await bob.listing("NLST")).trim(), "b.txt");
    await bob.expect("SIZE ../../outside.txt", 550);
    await bob.expect("RETR /a.txt", 550);
    await alice.expect("RETR /b.txt", 550);
    alice.close();
    bob.close();
  });
});

Deno.test("COS: an account unreachable at start-up is logged, and the server serves the others", async () => {
  await withServer({
    storage: "cos",
    adjust: (config, emulator) => {
      // A bucket that does not exist: its probe fails at once, like an unreachable one.
      addAccount(config, "DOWN", cosStorage(emulator, "missing-1250000000"), "bob");
    },
  }, async (s) => {
    let log = "";
    for (let i = 0; i < 100 && !/storage-unreachable/.test(log); i++) {
      await new Promise((r) => setTimeout(r, 50));
      log = await s.logText();
    }
    assertMatch(log, /WARNING storage-unreachable account="\[DOWN\] cos missing-1250000000 at /);
    assert(!log.includes(SECRET_KEY) && !log.includes(SECRET_ID), "no credentials in the log");
    assertEquals(log.match(/storage-unreachable/g)?.length, 1, "only the failing account");
    const alice = await RawClient.login(s.port);
    await alice.store("a.txt", encoder.encode("served"));
    assertEquals(s.emulator.getObject(BUCKET, "a.txt"), encoder.encode("served"));
    alice.close();
  });
});

Deno.test("COS: errors map to replies: AccessDenied is 550 with the reason, 5xx is 451, secrets never leak", async () => {
  await withServer({
    storage: "cos",
    adjust: (config, emulator) => {
      addAccount(
        config,
        "BAD",
        { ...cosStorage(emulator), secretKey: "wrong-secret-key-value" },
        "bad",
      );
    },
  }, async (s) => {
    const bad = await RawClient.login(s.port, "bad", "pw");
    const denied = await bad.command("SIZE x");
    assertEquals(denied.code, 550);
    assertMatch((await bad.expect("CWD d", 550)).text, /SignatureDoesNotMatch/);
    bad.close();
    const c = await RawClient.login(s.port);
    s.emulator.injectFault({ op: "ListObjects", kind: "status", status: 503, every: true });
    assertEquals((await c.command("CWD d")).code, 451);
    c.close();
    const log = await s.logText();
    assertMatch(log, /command-failed .*requestId=/);
    assert(
      !log.includes(SECRET_KEY) && !log.includes("wrong-secret-key-value"),
      "no secret in the log",
    );
  });
});

Deno.test("COS: a 1 GiB stream round-trips byte-exact", async () => {
  await withSession({ storage: "cos", adjust: (c) => c.minPartSize = 8 * MIB }, async (c, s) => {
    const data = await c.epsv();
    await c.expect("STOR huge.bin", 150);
    const writer = data.writable.getWriter();
    const block = randomBytes(MIB);
    const digest = new Uint8Array(32);
    for (let i = 0; i < 1024; i++) {
      block[0] = i & 255;
      block[1] = i >> 8;
      await writer.write(block);
      digest[i % 32] ^= block[i % MIB];
    }
    await writer.close();
    assertEquals((await c.read()).code, 226);
    const stored = s.emulator.getObject(BUCKET, "huge.bin")!;
    assertEquals(stored.length, 1024 * MIB);
    for (const i of [0, 1, 511, 1023]) {
      assertEquals([stored[i * MIB], stored[i * MIB + 1]], [i & 255, i >> 8]);
    }
    const down = await c.epsv();
    await c.expect("RETR huge.bin", 150);
    let total = 0;
    let matches = true;
    for await (const chunk of down.readable) {
      for (let j = 0; j < chunk.length; j += 4093) {
        if (chunk[j] !== stored[total + j]) matches = false;
      }
      total += chunk.length;
    }
    assertEquals((await c.read()).code, 226);
    assertEquals(total, 1024 * MIB);
    assert(matches, "downloaded bytes match the stored object");
    assertEquals(s.emulator.inflightUploads(), []);
  });
});

Deno.test({
  name: "COS: --check probes every account and reports COS's own error",
  ...needs("curl"),
  async fn() {
    await withServer({ storage: "cos" }, (s) =>
      withTempDir(async (dir) => {
        const account = (n: number, key: string, bucket: string) =>
          `[COS_ACCOUNT_${n}]\ncos_secretid = AKIDtestsecretid0000000000000000\ncos_secretkey = ${key}\n` +
          `cos_bucket = ${bucket}\ncos_region = ap-guangzhou\ncos_endpoint = ${s.emulator.url}\n` +
          `home_dir = /h${n}\nftp_login_user_name = u${n}\nftp_login_user_password = p\nauthority = RW\n`;
        await Deno.writeTextFile(
          `${dir}/c.conf`,
          account(0, SECRET_KEY, BUCKET) + account(1, "bad-key", BUCKET) +
            account(2, SECRET_KEY, "gone-1250000000"),
        );
        const root = new URL("..", import.meta.url).pathname;
        const out = await run(Deno.execPath(), [
          "run",
          "-A",
          `${root}main.ts`,
          "--check",
          "--config",
          `${dir}/c.conf`,
        ]);
        assertEquals(out.code, 1, out.stdout + out.stderr);
        assertMatch(
          out.stdout,
          /\[COS_ACCOUNT_0\] cos ftp-1250000000 at http:\/\/127\.0\.0\.1:\d+: OK/,
        );
        assertMatch(out.stdout, /\[COS_ACCOUNT_1\] .*FAILED: .*COS SignatureDoesNotMatch/);
        assertMatch(out.stdout, /\[COS_ACCOUNT_2\] .*FAILED: .*(NoSuchBucket|404)/);
        assert(!out.stdout.includes(SECRET_KEY) && !out.stderr.includes(SECRET_KEY));
      }));
  },
});

Deno.test({
  name: "COS: real clients (curl, lftp) upload, list and download through the gateway",
  ...needs("curl", "lftp"),
  async fn() {
    await withServer({ storage: "cos" }, (s) =>
      withTempDir(async (dir) => {
        const bytes = randomBytes(2 * MIB + 12345);
        await Deno.writeFile(`${dir}/up.bin`, bytes);
        const url = `ftp://demo:demo@127.0.0.1:${s.port}`;
        assertEquals(
          (await run("curl", [
            "-sS",
            "--ftp-create-dirs",
            "-T",
            `${dir}/up.bin`,
            `${url}/数据/up.bin`,
          ])).code,
          0,
        );
        assertEquals(s.emulator.getObject(BUCKET, "数据/up.bin"), bytes);
        const lftp = await run("lftp", [
          "-c",
          `set net:max-retries 1; open -u demo,demo -p ${s.port} 127.0.0.1; cls -l 数据; get 数据/up.bin -o ${dir}/back.bin`,
        ]);
        assertEquals(lftp.code, 0, lftp.stderr);
        assertMatch(lftp.stdout, /up\.bin/);
        assertEquals(await Deno.readFile(`${dir}/back.bin`), bytes);
      }));
  },
});

Deno.test("COS: six uploads share a 3 MiB budget: they wait their turn and all land byte-exact", async () => {
  await withServer({ storage: "cos", adjust: (c) => c.uploadMemoryBudget = 3 * MIB }, async (s) => {
    const files = Array.from({ length: 6 }, () => randomBytes(4 * MIB + 17));
    await Promise.all(files.map(async (bytes, i) => {
      const c = await RawClient.login(s.port);
      await c.store(`b${i}.bin`, bytes);
      c.close();
    }));
    for (const [i, bytes] of files.entries()) {
      assertEquals(s.emulator.getObject(BUCKET, `b${i}.bin`), bytes);
    }
    assertEquals(s.emulator.inflightUploads(), []);
  });
});

Deno.test("COS: shutdown past the grace period aborts the unfinished upload; nothing is left", async () => {
  await withServer({ storage: "cos", adjust: (c) => c.shutdownGraceMs = 300 }, async (s) => {
    s.emulator.putObject(BUCKET, "keep.bin", encoder.encode("old"));
    const c = await RawClient.login(s.port);
    const data = await c.epsv();
    await c.expect("STOR keep.bin", 150);
    await data.write(randomBytes(3 * MIB));
    await eventually(() => s.emulator.inflightUploads().length === 1);
    await s.server.shutdown();
    assertEquals((await c.read()).code, 421);
    assertEquals(s.emulator.inflightUploads(), []);
    assertEquals(s.emulator.getObject(BUCKET, "keep.bin"), encoder.encode("old"));
    data.close();
    c.close();
  });
});

Deno.test("COS: a CompleteMultipartUpload whose answer is lost still reports 226 when it committed", async () => {
  await withSession({ storage: "cos" }, async (c, s) => {
    const lost = s.emulator.injectFault({
      op: "CompleteMultipartUpload",
      kind: "reset",
      phase: "after",
    });
    const bytes = randomBytes(3 * MIB + 1);
    await c.store("lost-answer.bin", bytes);
    assertEquals(lost.hits, 1);
    assertEquals(s.emulator.getObject(BUCKET, "lost-answer.bin"), bytes);
    assertEquals(s.emulator.inflightUploads(), []);
  });
});
