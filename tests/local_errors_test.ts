/**
 * Local-disk failures as a client hears them, on real file systems: a full
 * tmpfs gives 452 and keeps nothing partial, a tmpfs remounted read-only
 * gives 550 (553 for uploads) with the reason in words, the staging
 * directory comes back after the root is emptied or re-created. No reply
 * names an errno (EROFS) or a host path. The tmpfs tests need root (mount);
 * elsewhere they are skipped with a printed reason.
 */

import type { ServerConfig } from "../src/config/types.ts";
import { replyForError } from "../src/ftp/errors.ts";
import { StorageError } from "../src/storage/errors.ts";
import { STAGING_DIR } from "../src/storage/local.ts";
import { toStorageError } from "../src/storage/local_errors.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { curl, ftpUrl, ok, show } from "./support/kit.ts";
import { RawClient, type RawReply, writeAllAndClose } from "./support/raw_client.ts";
import { randomBytes, sha256, startServer, type TestServer } from "./support/server.ts";

const MiB = 1024 * 1024;

/** Whether this process may mount a tmpfs (root, or CAP_SYS_ADMIN): tried once. */
const CAN_MOUNT = await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-mount-probe-" });
  try {
    if (!(await sh("mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]))) return false;
    await sh("umount", [dir]);
    return true;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
})();
if (!CAN_MOUNT) console.error("skipping tmpfs tests: mounting a tmpfs needs root");

async function sh(command: string, args: string[]): Promise<boolean> {
  const out = await new Deno.Command(command, { args, stdout: "null", stderr: "null" }).output()
    .catch(() => null);
  return out?.success ?? false;
}

/** Runs `fn` with a fresh tmpfs of `bytes` mounted on a temp directory; always unmounts it. */
async function withTmpfs(bytes: number, fn: (mount: string) => Promise<void>): Promise<void> {
  const mount = await Deno.makeTempDir({ prefix: "cosftp-tmpfs-" });
  assert(await sh("mount", ["-t", "tmpfs", "-o", `size=${bytes}`, "tmpfs", mount]), "mount");
  try {
    await fn(mount);
  } finally {
    if (!(await sh("umount", [mount]))) await sh("umount", ["-l", mount]);
    await Deno.remove(mount).catch(() => {});
  }
}

/** A server whose account 0 stores into `root`. */
function serverOn(root: string): Promise<TestServer> {
  return startServer((config: ServerConfig) => {
    config.accounts[0] = { ...config.accounts[0], homeDir: root, storage: { kind: "local", root } };
  });
}

async function withServerOn(root: string, fn: (c: RawClient) => Promise<void>): Promise<void> {
  const s = await serverOn(root);
  const c = await RawClient.login(s.port);
  try {
    await fn(c);
  } finally {
    c.close();
    await s.stop();
  }
}

/** The reply carries no errno name, no OS message and none of the host's paths. */
function assertPlain(reply: RawReply, hostPaths: string[]): void {
  assert(!/\bE[A-Z]{3,}\b/.test(reply.text), `errno name in reply: ${reply.text}`);
  assert(!/os error/i.test(reply.text), `OS message in reply: ${reply.text}`);
  for (const path of hostPaths) {
    assert(!reply.text.includes(path), `host path ${path} in reply: ${reply.text}`);
  }
}

/** STOR whose data the server may refuse midway: returns the final reply (150 expected first). */
async function storeRefused(c: RawClient, path: string, bytes: Uint8Array): Promise<RawReply> {
  const data = await c.epsv();
  const start = await c.command(`STOR ${path}`);
  if (start.code !== 150) {
    data.close();
    return start;
  }
  // The server stops reading when the disk fills: our write may then fail with a reset.
  await writeAllAndClose(data, bytes).catch(() => closeQuietly(data));
  return await c.read();
}

/** Closes a connection that a failed write may have closed already. */
function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

function stagedFiles(root: string): string[] {
  return [...Deno.readDirSync(`${root}/${STAGING_DIR}`)].map((e) => e.name);
}

async function fileHash(path: string): Promise<string> {
  return await sha256(await Deno.readFile(path));
}

Deno.test({
  name: "disk full (2 MiB tmpfs): 452, nothing partial, old file intact, serving goes on",
  ignore: !CAN_MOUNT,
  async fn() {
    await withTmpfs(2 * MiB, async (root) => {
      await withServerOn(root, async (c) => {
        const keep = randomBytes(256 * 1024);
        await c.store("keep.bin", keep);

        const fresh = await storeRefused(c, "big.bin", randomBytes(4 * MiB));
        assertEquals(fresh.code, 452, fresh.text);
        assertMatch(fresh.text, /^452 big\.bin: Insufficient storage space/);
        assertPlain(fresh, [root]);
        assertEquals(await Deno.stat(`${root}/big.bin`).catch(() => null), null, "no partial");
        assertEquals(stagedFiles(root), [], "staging file removed");

        const over = await storeRefused(c, "keep.bin", randomBytes(4 * MiB));
        assertEquals(over.code, 452, over.text);
        assertEquals(await fileHash(`${root}/keep.bin`), await sha256(keep), "old file intact");
        assertEquals(stagedFiles(root), []);

        // The session still works, and freeing space makes the next upload succeed.
        assertEquals(await c.retrieve("keep.bin"), keep);
        assertMatch(await c.listing("NLST"), /^keep\.bin\r\n$/);
        await c.expect("DELE keep.bin", 250);
        const fits = randomBytes(MiB + 1);
        await c.store("fits.bin", fits);
        assertEquals(await fileHash(`${root}/fits.bin`), await sha256(fits));
      });
    });
  },
});

Deno.test({
  name: "disk full: curl's upload fails with 452 and a curl upload after freeing space works",
  ignore: !CAN_MOUNT,
  async fn() {
    await withTmpfs(2 * MiB, async (root) => {
      const s = await serverOn(root);
      const src = await Deno.makeTempFile({ prefix: "cosftp-src-" });
      try {
        await Deno.writeFile(src, randomBytes(3 * MiB));
        const full = await curl(["-v", "-T", src, ftpUrl(s, "/c.bin")]);
        assert(full.code !== 0, `upload onto a full disk should fail:\n${show(full)}`);
        assertMatch(full.stderr, /^< 452 c\.bin: Insufficient storage space/m);
        assertEquals(await Deno.stat(`${root}/c.bin`).catch(() => null), null);
        const small = randomBytes(512 * 1024);
        await Deno.writeFile(src, small);
        ok(await curl(["-T", src, ftpUrl(s, "/c.bin")]), "upload that fits");
        assertEquals(await fileHash(`${root}/c.bin`), await sha256(small));
      } finally {
        await Deno.remove(src);
        await s.stop();
      }
    });
  },
});

Deno.test({
  name: "read-only file system: 553 for uploads, 550 for MKD/DELE/RMD/RNTO, reads still work",
  ignore: !CAN_MOUNT,
  async fn() {
    await withTmpfs(4 * MiB, async (root) => {
      const old = randomBytes(100_000);
      await Deno.writeFile(`${root}/a.bin`, old);
      await Deno.mkdir(`${root}/empty`);
      await withServerOn(root, async (c) => {
        assert(await sh("mount", ["-o", "remount,ro", root]), "remount ro");
        try {
          const refused: [string, number][] = [
            ["STOR new.bin", 553],
            ["APPE a.bin", 553],
            ["MKD made", 550],
            ["DELE a.bin", 550],
            ["RMD empty", 550],
          ];
          for (const [line, code] of refused) {
            const data = line.startsWith("STOR") || line.startsWith("APPE") ? await c.epsv() : null;
            const reply = await c.command(line);
            data?.close();
            assertEquals(reply.code, code, `${line}: ${reply.text}`);
            assertMatch(reply.text, /: Not allowed: the server's file system is read-only$/);
            assertPlain(reply, [root]);
          }
          await c.expect("RNFR a.bin", 350);
          const rnto = await c.expect("RNTO b.bin", 550);
          assertMatch(rnto.text, /read-only/);
          assertPlain(rnto, [root]);

          assertEquals(await c.retrieve("a.bin"), old);
          assertEquals((await c.listing("NLST")).split("\r\n").sort(), ["", "a.bin", "empty"]);
        } finally {
          await sh("mount", ["-o", "remount,rw", root]);
        }
        const after = randomBytes(1000);
        await c.store("new.bin", after);
        assertEquals(await Deno.readFile(`${root}/new.bin`), after);
        assertEquals(await Deno.readFile(`${root}/a.bin`), old);
      });
    });
  },
});

Deno.test("staging directory re-created after it, or the whole root, is deleted", async () => {
  const s = await startServer();
  const c = await RawClient.login(s.port);
  try {
    const first = randomBytes(300_000);
    await c.store("one.bin", first);
    await Deno.remove(`${s.root}/${STAGING_DIR}`, { recursive: true });
    const second = randomBytes(2 * MiB + 3);
    await c.store("two.bin", second);
    assertEquals(await fileHash(`${s.root}/two.bin`), await sha256(second));

    await Deno.remove(s.root, { recursive: true });
    await Deno.mkdir(s.root);
    const third = randomBytes(MiB);
    await c.store("three.bin", third);
    assertEquals(await c.retrieve("three.bin"), third);
    assertEquals(await c.listing("NLST"), "three.bin\r\n", "staging stays hidden");
    assertEquals(stagedFiles(s.root), []);

    // REST + STOR copies the old head into the staging directory: that path re-creates it too.
    await Deno.remove(`${s.root}/${STAGING_DIR}`, { recursive: true });
    const tail = randomBytes(1000);
    const data = await c.epsv();
    await c.expect("REST 1000", 350);
    await c.expect("STOR three.bin", 150);
    await writeAllAndClose(data, tail);
    assertEquals((await c.read()).code, 226);
    const expected = new Uint8Array([...third.subarray(0, 1000), ...tail]);
    assertEquals(await fileHash(`${s.root}/three.bin`), await sha256(expected));
  } finally {
    c.close();
    await s.stop();
  }
});

Deno.test("a root that vanished stays an error, in words; the server is not made to re-create it", async () => {
  const s = await startServer();
  const c = await RawClient.login(s.port);
  try {
    await Deno.remove(s.root, { recursive: true });
    const data = await c.epsv();
    const reply = await c.command("STOR gone.bin");
    data.close();
    assertEquals(reply.code, 550, reply.text);
    assertPlain(reply, [s.root]);
    assertEquals(await Deno.stat(s.root).catch(() => null), null, "root not re-created");
  } finally {
    c.close();
    await s.stop();
  }
});

Deno.test("a name too long for the disk: 553 in words, not ENAMETOOLONG", async () => {
  const s = await startServer();
  const c = await RawClient.login(s.port);
  try {
    const name = "n".repeat(300);
    for (const line of [`MKD ${name}`, `RNFR keep.txt`]) {
      if (line.startsWith("RNFR")) {
        await Deno.writeTextFile(`${s.root}/keep.txt`, "kept");
        await c.expect(line, 350);
        const reply = await c.expect(`RNTO ${name}`, 553);
        assertMatch(reply.text, /File name too long$/);
        assertPlain(reply, [s.root]);
      } else {
        const reply = await c.expect(line, 553);
        assertMatch(reply.text, /File name too long$/);
        assertPlain(reply, [s.root]);
      }
    }
    assertEquals(await Deno.readTextFile(`${s.root}/keep.txt`), "kept");
    await c.expect("NOOP", 200);
  } finally {
    c.close();
    await s.stop();
  }
});

Deno.test("every errno the local backend knows reads as words; unknown ones too", () => {
  const codes = [
    "ENOENT",
    "EEXIST",
    "ENOTEMPTY",
    "ENOTDIR",
    "EISDIR",
    "EACCES",
    "EPERM",
    "EROFS",
    "ENOSPC",
    "EDQUOT",
    "EFBIG",
    "EINVAL",
    "ENAMETOOLONG",
    "EILSEQ",
    "ELOOP",
    "EMLINK",
    "EXDEV",
    "EIO",
    "ESTALE",
    "EBUSY",
    "ETXTBSY",
    "EAGAIN",
    "EINTR",
    "EMFILE",
    "ENFILE",
    "ENOMEM",
    "EWHATEVER",
  ];
  const replies: Record<string, string> = {};
  for (const code of codes) {
    const raw = Object.assign(new Error(`boom (os error 5): open '/srv/secret/x'`), { code });
    const error = toStorageError(raw, "dir/x");
    assert(error instanceof StorageError);
    assert(!/E[A-Z]{3,}|secret|os error/.test(error.message), `${code}: ${error.message}`);
    replies[code] = `${replyForError(error, "MKD").code} ${error.message}`;
  }
  assertEquals(replies.ENOSPC, "452 dir/x: Insufficient storage space: the server's disk is full");
  assertEquals(replies.EROFS, "550 dir/x: Not allowed: the server's file system is read-only");
  assertEquals(replies.EIO, "451 dir/x: Input/output error on the server's disk");
  assertEquals(replies.ENAMETOOLONG, "553 dir/x: File name too long");
  assertEquals(replies.EMLINK, "550 dir/x: Too many links (entries) in the directory");
  assertEquals(replies.ENOTEMPTY, "550 dir/x: Directory not empty");
  assertEquals(replies.EDQUOT, "552 dir/x: Exceeded storage allocation: disk quota reached");
  assertEquals(replies.EWHATEVER, "451 dir/x: Error on the server's disk");
  const readOnly = toStorageError(Object.assign(new Error("x"), { code: "EROFS" }), "f");
  assertEquals(replyForError(readOnly, "STOR").code, 553);
  assertEquals(replyForError(readOnly, "APPE").code, 553);
  assertEquals(replyForError(readOnly, "DELE").code, 550);
});
