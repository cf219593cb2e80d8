/**
 * End-to-end tests with real FTP clients (curl, lftp, tnftp, ncftp, Python's
 * ftplib, and the npm basic-ftp library in-process) against the real server.
 * Every test checks content: bytes on the server's disk, bytes downloaded
 * back, and names and sizes in listings, not only exit codes.
 */

import { Buffer } from "node:buffer";
import { Readable, Writable } from "node:stream";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { type ClientRun, needs, python, run } from "./support/clients.ts";
import { randomBytes, sha256, type TestServer, user } from "./support/server.ts";
import {
  CLIENT_TIMEOUT_MS,
  curl,
  failed,
  ftplibLogin,
  ftpUrl,
  ok,
  show,
  withBasicFtp,
  withServerDir,
} from "./support/kit.ts";

const encoder = new TextEncoder();

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Bytes of a file, or null when it does not exist. */
async function readOrNull(path: string): Promise<Uint8Array<ArrayBuffer> | null> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  }
}

/** Whether anything (file or directory) exists at `path`. */
function exists(path: string): Promise<boolean> {
  return Deno.stat(path).then(() => true, () => false);
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** Asserts the file at `path` holds exactly `expected` (compared by SHA-256 and length). */
async function assertFileBytes(
  path: string,
  expected: Uint8Array<ArrayBuffer>,
  what = path,
): Promise<void> {
  const actual = await readOrNull(path);
  assert(actual !== null, `${what}: file ${path} does not exist`);
  assertEquals(actual.length, expected.length, `${what}: size of ${path}`);
  assertEquals(await sha256(actual), await sha256(expected), `${what}: sha256 of ${path}`);
}

/** Writes `bytes` to `dir/name` (creating parents) and returns the path. */
async function writeLocal(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  await Deno.writeFile(path, bytes);
  return path;
}

/** Every regular file under `dir`, relative path -> bytes. */
async function readTree(dir: string, prefix = ""): Promise<Map<string, Uint8Array<ArrayBuffer>>> {
  const out = new Map<string, Uint8Array<ArrayBuffer>>();
  for await (const item of Deno.readDir(dir)) {
    const rel = prefix ? `${prefix}/${item.name}` : item.name;
    if (item.isDirectory) {
      for (const [k, v] of await readTree(`${dir}/${item.name}`, rel)) out.set(k, v);
    } else if (item.isFile) {
      out.set(rel, await Deno.readFile(`${dir}/${item.name}`));
    }
  }
  return out;
}

/** Asserts two trees hold the same files with the same bytes. */
async function assertSameTree(actualDir: string, expected: Map<string, Uint8Array<ArrayBuffer>>) {
  const actual = await readTree(actualDir);
  assertEquals([...actual.keys()].sort(), [...expected.keys()].sort(), `files under ${actualDir}`);
  for (const [name, bytes] of expected) {
    assertEquals(await sha256(actual.get(name)!), await sha256(bytes), `sha256 of ${name}`);
  }
}

/** Asserts the server's staging directory holds no leftover upload. */
async function assertNoStagedUploads(s: TestServer): Promise<void> {
  const left: string[] = [];
  for await (const item of Deno.readDir(`${s.root}/.cos-ftp-staging`)) left.push(item.name);
  assertEquals(left, [], "leftover staged uploads");
}

/** One entry of a Unix `ls -l` listing. */
interface ListedEntry {
  dir: boolean;
  size: number;
}

/** Parses `ls -l` style lines (as the server sends for LIST) into name -> entry. */
function parseLsLines(text: string): Map<string, ListedEntry> {
  const out = new Map<string, ListedEntry>();
  const re =
    /^([-dl])[-rwxsStT]{9}\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\w{3}\s+\d{1,2}\s+(?:\d{1,2}:\d{2}|\d{4})\s(.+)$/;
  for (const line of text.split(/\r?\n/)) {
    const m = re.exec(line);
    if (m) out.set(m[3], { dir: m[1] === "d", size: Number(m[2]) });
  }
  return out;
}

/** Non-empty lines, CR stripped. */
function lines(text: string): string[] {
  return text.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l !== "");
}

/** lftp with settings that make failures fast and fatal. */
function lftp(s: TestServer, script: string, cwd?: string): Promise<ClientRun> {
  const prelude = "set cmd:fail-exit yes; set ftp:passive-mode on; set net:max-retries 1; " +
    "set net:timeout 10; set net:reconnect-interval-base 1; ";
  return run(
    "lftp",
    ["-u", "demo,demo", "-p", String(s.port), "127.0.0.1", "-e", `${prelude}${script}; quit`],
    { cwd, timeoutMs: CLIENT_TIMEOUT_MS },
  );
}

// ---------------------------------------------------------------------------
// curl
// ---------------------------------------------------------------------------

Deno.test({
  name: "curl: upload, download, listings, DELE, rename, resume, ASCII, EPSV/PASV",
  ...needs("curl"),
}, async (t) => {
  await withServerDir({}, async (s, local) => {
    const payload = randomBytes(300_000);
    const src = await writeLocal(local, "payload.bin", payload);

    await t.step("upload -T with --ftp-create-dirs into a new subdir", async () => {
      const r = ok(
        await curl(["-T", src, "--ftp-create-dirs", ftpUrl(s, "/new/deeper/up.bin")]),
        "upload",
      );
      assertEquals(r.stdout, "");
      await assertFileBytes(`${s.root}/new/deeper/up.bin`, payload, "uploaded file on disk");
      await assertNoStagedUploads(s);
    });

    await t.step("download byte-exact over EPSV (default)", async () => {
      const out = `${local}/epsv.bin`;
      const r = ok(await curl(["-v", "-o", out, ftpUrl(s, "/new/deeper/up.bin")]), "EPSV download");
      assertMatch(r.stderr, /^> EPSV\r?$/m, "curl used EPSV");
      assertMatch(r.stderr, /^< 229 /m, "server answered 229");
      assert(!/^> PASV/m.test(r.stderr), "no PASV expected");
      await assertFileBytes(out, payload, "EPSV download");
    });

    await t.step("download byte-exact over PASV (--disable-epsv)", async () => {
      const out = `${local}/pasv.bin`;
      const r = ok(
        await curl(["-v", "--disable-epsv", "-o", out, ftpUrl(s, "/new/deeper/up.bin")]),
        "PASV download",
      );
      assertMatch(r.stderr, /^> PASV\r?$/m, "curl used PASV");
      assertMatch(r.stderr, /^< 227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)/m, "PASV reply");
      assert(!/^> EPSV/m.test(r.stderr), "no EPSV expected");
      await assertFileBytes(out, payload, "PASV download");
    });

    // Files put straight on the server's disk: the listings must show them.
    const small = encoder.encode("twelve bytes");
    await writeLocal(`${s.root}/new/deeper`, "small.txt", small);
    await writeLocal(`${s.root}/new/deeper`, "with space.txt", encoder.encode("x"));
    await Deno.mkdir(`${s.root}/new/deeper/child`);

    await t.step("--list-only (NLST) names", async () => {
      const r = ok(await curl(["--list-only", ftpUrl(s, "/new/deeper/")]), "NLST");
      assertEquals(
        lines(r.stdout).sort(),
        ["child", "small.txt", "up.bin", "with space.txt"],
        "NLST names",
      );
    });

    await t.step("dir listing (LIST) names, sizes and types", async () => {
      const r = ok(await curl([ftpUrl(s, "/new/deeper/")]), "LIST");
      const listed = parseLsLines(r.stdout);
      assertEquals(
        [...listed.keys()].sort(),
        ["child", "small.txt", "up.bin", "with space.txt"],
        r.stdout,
      );
      assertEquals(listed.get("up.bin"), { dir: false, size: payload.length });
      assertEquals(listed.get("small.txt"), { dir: false, size: 12 });
      assertEquals(listed.get("with space.txt"), { dir: false, size: 1 });
      assertEquals(listed.get("child")?.dir, true);
    });

    await t.step("-Q '-DELE name' deletes after the transfer", async () => {
      const r = ok(
        await curl(["--list-only", "-Q", "-DELE small.txt", ftpUrl(s, "/new/deeper/")]),
        "DELE",
      );
      assert(lines(r.stdout).includes("small.txt"), "listed before the post-quote DELE");
      assert(!(await exists(`${s.root}/new/deeper/small.txt`)), "small.txt is gone from disk");
      await assertFileBytes(`${s.root}/new/deeper/up.bin`, payload, "neighbour untouched");
    });

    await t.step("rename via -Q '-RNFR a' -Q '-RNTO b'", async () => {
      ok(
        await curl([
          "--list-only",
          "-Q",
          "-RNFR up.bin",
          "-Q",
          "-RNTO renamed.bin",
          "-o",
          "/dev/null",
          ftpUrl(s, "/new/deeper/"),
        ]),
        "rename",
      );
      assert(!(await exists(`${s.root}/new/deeper/up.bin`)), "old name is gone");
      await assertFileBytes(`${s.root}/new/deeper/renamed.bin`, payload, "renamed file");
      const r = ok(await curl(["--list-only", ftpUrl(s, "/new/deeper/")]), "NLST after rename");
      assertEquals(lines(r.stdout).sort(), ["child", "renamed.bin", "with space.txt"]);
    });

    await t.step("resume download with -C - (REST)", async () => {
      const part = `${local}/partial.bin`;
      await Deno.writeFile(part, payload.slice(0, 123_457));
      const r = ok(
        await curl(["-v", "-C", "-", "-o", part, ftpUrl(s, "/new/deeper/renamed.bin")]),
        "resume",
      );
      assertMatch(r.stderr, /^> REST 123457\r?$/m, "curl sent REST");
      assertMatch(r.stderr, /^< 350 /m, "REST accepted");
      await assertFileBytes(part, payload, "resumed download");
    });

    await t.step("--range downloads exactly the requested bytes", async () => {
      const mid = `${local}/range-mid.bin`;
      ok(
        await curl(["--range", "1000-1999", "-o", mid, ftpUrl(s, "/new/deeper/renamed.bin")]),
        "range",
      );
      await assertFileBytes(mid, payload.slice(1000, 2000), "range 1000-1999");
      const tail = `${local}/range-tail.bin`;
      ok(
        await curl(["--range", "299000-", "-o", tail, ftpUrl(s, "/new/deeper/renamed.bin")]),
        "range tail",
      );
      await assertFileBytes(tail, payload.slice(299_000), "range 299000-");
    });

    await t.step("ASCII mode: LF file stored as LF, CRLF on the wire both ways", async () => {
      const text = "alpha\nbeta 报告\ngamma\n";
      const lf = encoder.encode(text);
      const newlines = 3;
      const src = await writeLocal(local, "text.txt", lf);
      // curl converts LF -> CRLF when uploading in ASCII mode; the server turns CRLF back into LF.
      const up = ok(
        await curl(["--use-ascii", "-w", "%{size_upload}", "-T", src, ftpUrl(s, "/ascii.txt")]),
        "ASCII upload",
      );
      assertEquals(
        Number(up.stdout),
        lf.length + newlines,
        "bytes on the wire (CRLF) for the upload",
      );
      await assertFileBytes(`${s.root}/ascii.txt`, lf, "stored ASCII upload has LF line ends");

      // Download in ASCII: the server sends CRLF (size on the wire), curl turns it back into LF.
      const out = `${local}/ascii-back.txt`;
      const down = ok(
        await curl(["--use-ascii", "-w", "%{size_download}", "-o", out, ftpUrl(s, "/ascii.txt")]),
        "ASCII download",
      );
      assertEquals(
        Number(down.stdout),
        lf.length + newlines,
        "bytes on the wire (CRLF) for the download",
      );
      await assertFileBytes(out, lf, "ASCII download converted back to LF by curl");

      // The server's log records the wire bytes of the RETR: CRLF form.
      const log = await s.logText();
      assertMatch(log, new RegExp(`command=RETR path=/ascii.txt bytes=${lf.length + newlines} `));

      // A binary download of the same file shows what is stored: LF only.
      const bin = `${local}/ascii-binary.txt`;
      ok(await curl(["-o", bin, ftpUrl(s, "/ascii.txt")]), "binary download of ASCII file");
      await assertFileBytes(bin, lf, "binary download");
    });

    await t.step("ASCII mode: 1.5 MB of text round-trips (CR/LF split across chunks)", async () => {
      const rows: string[] = [];
      for (let i = 0; i < 30_000; i++) rows.push(`row ${i} ${"报告x".repeat(i % 17)}`);
      const lf = encoder.encode(rows.join("\n") + "\n");
      const src = await writeLocal(local, "big.txt", lf);
      const up = ok(
        await curl(["--use-ascii", "-w", "%{size_upload}", "-T", src, ftpUrl(s, "/big.txt")]),
        "big ASCII upload",
      );
      assertEquals(Number(up.stdout), lf.length + rows.length, "CRLF bytes sent");
      await assertFileBytes(`${s.root}/big.txt`, lf, "big ASCII upload stored with LF");
      const out = `${local}/big-back.txt`;
      const down = ok(
        await curl(["--use-ascii", "-w", "%{size_download}", "-o", out, ftpUrl(s, "/big.txt")]),
        "big ASCII download",
      );
      assertEquals(Number(down.stdout), lf.length + rows.length, "CRLF bytes received");
      await assertFileBytes(out, lf, "big ASCII download");
    });

    await t.step("empty file uploads and downloads as empty", async () => {
      const src = await writeLocal(local, "empty.txt", new Uint8Array(0));
      ok(await curl(["-T", src, ftpUrl(s, "/empty.txt")]), "empty upload");
      await assertFileBytes(`${s.root}/empty.txt`, new Uint8Array(0), "empty upload on disk");
      const out = `${local}/empty-back.txt`;
      ok(await curl(["-o", out, ftpUrl(s, "/empty.txt")]), "empty download");
      await assertFileBytes(out, new Uint8Array(0), "empty download");
    });
  });
});

// ---------------------------------------------------------------------------
// lftp
// ---------------------------------------------------------------------------

Deno.test({
  name: "lftp: mirror -R (Chinese and spaced names), put/get, listings, mkdir/mv/rm/rmdir",
  ...needs("lftp"),
}, async (t) => {
  await withServerDir({}, async (s, local) => {
    const tree = `${local}/tree`;
    const files = new Map<string, Uint8Array<ArrayBuffer>>([
      ["a.txt", encoder.encode("hello from lftp\n")],
      ["报告.txt", encoder.encode("季度报告：内容\n")],
      ["name with spaces.txt", encoder.encode("spaces are fine\n")],
      ["dir with space/my file.bin", randomBytes(5000)],
      ["sub/deep.bin", randomBytes(70_000)],
      ["sub/子目录/empty-ish.txt", encoder.encode("z")],
    ]);
    for (const [name, bytes] of files) await writeLocal(tree, name, bytes);

    await t.step("mirror -R uploads the tree byte-exact", async () => {
      ok(await lftp(s, `mirror -R ${tree} /up`), "mirror -R");
      await assertSameTree(`${s.root}/up`, files);
      await assertNoStagedUploads(s);
    });

    await t.step(
      "a second mirror -R finds nothing to transfer (MLSD sizes and times agree)",
      async () => {
        const r = ok(await lftp(s, `mirror -R -v ${tree} /up`), "second mirror -R");
        assert(!/Transferring file/.test(r.stdout + r.stderr), `nothing re-uploaded:\n${show(r)}`);
        await assertSameTree(`${s.root}/up`, files);
      },
    );

    await t.step("mirror downloads the tree back byte-exact", async () => {
      ok(await lftp(s, `mirror /up ${local}/back`), "mirror");
      await assertSameTree(`${local}/back`, files);
    });

    await t.step("cls uses MLSD and shows the names and sizes", async () => {
      const r = ok(await lftp(s, "debug 9; cd /up; cls -1; cls -l sub"), "cls");
      assertMatch(r.stderr, /---> MLSD/, "lftp used MLSD (FEAT advertises MLST)");
      const out = lines(r.stdout);
      for (const name of ["a.txt", "报告.txt", "name with spaces.txt", "dir with space/", "sub/"]) {
        assert(out.includes(name), `cls -1 lists ${JSON.stringify(name)}:\n${r.stdout}`);
      }
      assertMatch(r.stdout, /\s70000\s.*sub\/deep\.bin$/m, "cls -l shows deep.bin's size");
      assertMatch(r.stdout, /sub\/子目录\/$/m, "cls -l shows the Chinese subdir");
    });

    await t.step("ls (LIST) shows names and sizes", async () => {
      const r = ok(await lftp(s, "ls /up"), "ls");
      const listed = parseLsLines(r.stdout);
      assertEquals(
        [...listed.keys()].sort(),
        ["a.txt", "dir with space", "name with spaces.txt", "sub", "报告.txt"],
        r.stdout,
      );
      assertEquals(listed.get("报告.txt"), { dir: false, size: files.get("报告.txt")!.length });
      assertEquals(listed.get("a.txt"), { dir: false, size: files.get("a.txt")!.length });
      assertEquals(listed.get("dir with space")?.dir, true);
    });

    await t.step(
      "ls -l / ls -1 (options before the path: 'LIST -l /up', 'LIST -1 /up')",
      async () => {
        const long = ok(await lftp(s, "ls -l /up"), "ls -l");
        assertEquals(parseLsLines(long.stdout).get("a.txt")?.size, files.get("a.txt")!.length);
        const one = await lftp(s, "ls -1 /up");
        ok(one, "ls -1 (lftp sends 'LIST -1 /up')");
        assertEquals(parseLsLines(one.stdout).get("a.txt")?.size, files.get("a.txt")!.length);
      },
    );

    await t.step("put and get byte-exact", async () => {
      const data = randomBytes(333_333);
      const src = await writeLocal(local, "put.bin", data);
      ok(
        await lftp(
          s,
          `mkdir -p /p/q; put ${src} -o /p/q/put.bin; get /p/q/put.bin -o ${local}/got.bin`,
        ),
        "put/get",
      );
      await assertFileBytes(`${s.root}/p/q/put.bin`, data, "put on disk");
      await assertFileBytes(`${local}/got.bin`, data, "get");
    });

    await t.step("mkdir -p, mv, rm, rmdir", async () => {
      ok(await lftp(s, "mkdir -p /mk/a/b/c"), "mkdir -p");
      assert(await isDir(`${s.root}/mk/a/b/c`), "nested dirs created");
      ok(await lftp(s, "mv /up/a.txt /mk/a/moved.txt"), "mv");
      assert(!(await exists(`${s.root}/up/a.txt`)), "mv source gone");
      await assertFileBytes(`${s.root}/mk/a/moved.txt`, files.get("a.txt")!, "mv target");
      ok(await lftp(s, 'mv "/up/name with spaces.txt" "/up/报告 2.txt"'), "mv with spaces/Chinese");
      await assertFileBytes(
        `${s.root}/up/报告 2.txt`,
        files.get("name with spaces.txt")!,
        "mv target 2",
      );
      ok(await lftp(s, "rm /mk/a/moved.txt"), "rm");
      assert(!(await exists(`${s.root}/mk/a/moved.txt`)), "rm removed the file");
      ok(await lftp(s, "rmdir /mk/a/b/c"), "rmdir");
      assert(!(await isDir(`${s.root}/mk/a/b/c`)), "rmdir removed the dir");
      assert(await isDir(`${s.root}/mk/a/b`), "parent kept");
      failed(await lftp(s, "rmdir /up/sub"), "rmdir of a non-empty dir");
      await assertFileBytes(
        `${s.root}/up/sub/deep.bin`,
        files.get("sub/deep.bin")!,
        "non-empty dir kept",
      );
    });
  });
});

// ---------------------------------------------------------------------------
// tnftp
// ---------------------------------------------------------------------------

Deno.test({ name: "tnftp: put, get, ls, mkdir, rename, delete", ...needs("tnftp") }, async () => {
  await withServerDir({}, async (s, local) => {
    const data = randomBytes(150_000);
    await writeLocal(local, "t1.bin", data);
    const script = [
      `open 127.0.0.1 ${s.port}`,
      "user demo demo",
      "binary",
      "mkdir /tn",
      "cd /tn",
      "put t1.bin",
      "ls",
      "rename t1.bin t2.bin",
      "get t2.bin back.bin",
      "put t1.bin keep.bin",
      "nlist",
      "delete t2.bin",
      "pwd",
      "bye",
      "",
    ].join("\n");
    const r = ok(
      await run("tnftp", ["-n", "-v"], { stdin: script, cwd: local, timeoutMs: CLIENT_TIMEOUT_MS }),
      "tnftp",
    );
    assertMatch(r.stdout, /^257 "\/tn" created/m, "mkdir reply");
    assertMatch(r.stdout, /^226 Transfer complete: 150000 bytes stored/m, "put reply");
    assertMatch(r.stdout, /^350 /m, "RNFR accepted");
    assertMatch(r.stdout, /^250 Renamed \/tn\/t1\.bin to \/tn\/t2\.bin/m, "rename reply");
    assertMatch(r.stdout, /^250 \/tn\/t2\.bin deleted/m, "delete reply");
    assertMatch(r.stdout, /^Remote directory: \/tn$/m, "pwd parsed by tnftp");
    // What each data transfer printed, in order: put, ls, get, put, nlist.
    const blocks = [...r.stdout.matchAll(/^150 .*\n([^]*?)^226 /gm)].map((m) => m[1]);
    assertEquals(blocks.length, 5, `five data transfers:\n${r.stdout}`);
    assertEquals(parseLsLines(blocks[1]).get("t1.bin")?.size, data.length, "ls block");
    assertEquals(lines(blocks[4]).sort(), ["keep.bin", "t2.bin"], "nlist block");
    await assertFileBytes(`${local}/back.bin`, data, "tnftp get");
    await assertFileBytes(`${s.root}/tn/keep.bin`, data, "tnftp put");
    assert(!(await exists(`${s.root}/tn/t1.bin`)), "renamed away");
    assert(!(await exists(`${s.root}/tn/t2.bin`)), "deleted");
    assertEquals([...(await readTree(`${s.root}/tn`)).keys()], ["keep.bin"]);
  });
});

// ---------------------------------------------------------------------------
// ncftp
// ---------------------------------------------------------------------------

Deno.test({
  name: "ncftp: ncftpput, ncftpget, ncftpls",
  ...needs("ncftpput", "ncftpget", "ncftpls"),
}, async (t) => {
  await withServerDir({}, async (s, local) => {
    const n1 = randomBytes(250_000);
    const n2 = encoder.encode("ncftp text file\n");
    await writeLocal(local, "n1.bin", n1);
    await writeLocal(local, "n2 spaced.txt", n2);
    const common = ["-u", "demo", "-p", "demo", "-P", String(s.port), "-t", "10"];
    const opts = { cwd: local, timeoutMs: CLIENT_TIMEOUT_MS };

    await t.step("ncftpput -m into a new dir", async () => {
      ok(
        await run(
          "ncftpput",
          [...common, "-m", "127.0.0.1", "/nc/deep", "n1.bin", "n2 spaced.txt"],
          opts,
        ),
        "ncftpput",
      );
      await assertFileBytes(`${s.root}/nc/deep/n1.bin`, n1, "ncftpput n1");
      await assertFileBytes(`${s.root}/nc/deep/n2 spaced.txt`, n2, "ncftpput n2");
    });

    await t.step("ncftpget byte-exact", async () => {
      await Deno.mkdir(`${local}/dl`);
      ok(
        await run("ncftpget", [...common, "127.0.0.1", `${local}/dl`, "/nc/deep/n1.bin"], opts),
        "ncftpget",
      );
      await assertFileBytes(`${local}/dl/n1.bin`, n1, "ncftpget");
    });

    await t.step("ncftpls -l names and sizes", async () => {
      const r = ok(
        await run("ncftpls", [...common, "-l", `ftp://127.0.0.1/nc/deep/`], opts),
        "ncftpls -l",
      );
      const listed = parseLsLines(r.stdout);
      assertEquals([...listed.keys()].sort(), ["n1.bin", "n2 spaced.txt"], r.stdout);
      assertEquals(listed.get("n1.bin"), { dir: false, size: n1.length });
      assertEquals(listed.get("n2 spaced.txt"), { dir: false, size: n2.length });
    });

    await t.step("ncftpls -1 (sends 'NLST -1') lists the names", async () => {
      const trace = `${local}/ncftpls.trace`;
      const r = await run(
        "ncftpls",
        [...common, "-d", trace, "-1", `ftp://127.0.0.1/nc/deep/`],
        opts,
      );
      const dialog = (await Deno.readTextFile(trace).catch(() => "")).split("\n")
        .filter((l) => /(Cmd: |\d{3}: )/.test(l)).slice(-6).join("\n");
      ok(r, `ncftpls -1 (last control lines:\n${dialog}\n)`);
      assertEquals(lines(r.stdout).sort(), ["n1.bin", "n2 spaced.txt"], r.stdout);
    });
  });
});

// ---------------------------------------------------------------------------
// Python ftplib
// ---------------------------------------------------------------------------

const PY_FTPLIB = String.raw`
import ftplib, json, os, sys
port, work = int(sys.argv[1]), sys.argv[2]
out = {}
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=20)
out["welcome"] = ftp.getwelcome()
out["login"] = ftp.login("demo", "demo")
out["mkd"] = ftp.mkd("/py")
with open(os.path.join(work, "big.bin"), "rb") as f:
    out["stor"] = ftp.storbinary("STOR /py/big.bin", f, blocksize=65536)
with open(os.path.join(work, "big.back"), "wb") as f:
    out["retr"] = ftp.retrbinary("RETR /py/big.bin", f.write, blocksize=65536)
out["mlsd"] = {name: facts for name, facts in ftp.mlsd("/py")}
out["nlst"] = ftp.nlst("/py")
ftp.voidcmd("TYPE I")  # SIZE is refused in TYPE A (as vsftpd, proftpd, pyftpdlib do)
out["size"] = ftp.size("/py/big.bin")
out["mdtm"] = ftp.sendcmd("MDTM /py/big.bin")
out["rename"] = ftp.rename("/py/big.bin", "/py/big2.bin")
out["nlst_after_rename"] = ftp.nlst("/py")
out["mkd_quote"] = ftp.mkd('/py/say "hi"')
out["cwd_quote"] = ftp.cwd('/py/say "hi"')
out["pwd_quote"] = ftp.pwd()
out["pwd_raw"] = ftp.sendcmd("PWD")
with open(os.path.join(work, "inner.txt"), "rb") as f:
    ftp.storbinary("STOR inner.txt", f)
out["nlst_quote"] = ftp.nlst()
out["cwd_up"] = ftp.cwd("..")
out["pwd_up"] = ftp.pwd()
out["mkd_tmp"] = ftp.mkd("tmpdir")
out["rmd"] = ftp.rmd("tmpdir")
with open(os.path.join(work, "inner.txt"), "rb") as f:
    ftp.storbinary("STOR gone.txt", f)
out["delete"] = ftp.delete("gone.txt")
out["mlsd_after"] = sorted(name for name, _ in ftp.mlsd())
try:
    ftp.size("gone.txt")
    out["size_gone"] = "no error"
except ftplib.error_perm as e:
    out["size_gone"] = str(e)
ftp.quit()

${ftplibLogin("port", { name: "reader", password: "reader", variable: "ro" })}
out["ro_mlsd"] = {name: facts for name, facts in ro.mlsd("/py")}
out["ro_mlsd_root"] = {name: facts for name, facts in ro.mlsd("/")}
try:
    ro.mkd("/py/nope")
    out["ro_mkd"] = "no error"
except ftplib.error_perm as e:
    out["ro_mkd"] = str(e)
ro.quit()
print(json.dumps(out))
`;

Deno.test({
  name:
    "python ftplib: STOR/RETR 5 MiB, MLSD facts and perm, NLST, SIZE, MDTM, rename, delete, MKD/RMD, PWD quoting",
  ...needs("python3"),
}, async () => {
  await withServerDir({
    adjust: (c) => c.users.push(user("reader", "reader", { canWrite: false, canDelete: false })),
  }, async (s, local) => {
    const big = randomBytes(5 * 1024 * 1024);
    await writeLocal(local, "big.bin", big);
    const inner = encoder.encode("inside a quoted dir\n");
    await writeLocal(local, "inner.txt", inner);
    const r = ok(
      await python(PY_FTPLIB, [String(s.port), local], CLIENT_TIMEOUT_MS),
      "ftplib script",
    );
    const out = JSON.parse(r.stdout);

    assertEquals(out.welcome, "220 Welcome to COS FTP Service");
    assertMatch(out.login, /^230 /);
    assertEquals(out.mkd, "/py");
    assertEquals(out.stor, `226 Transfer complete: ${big.length} bytes stored`);
    assertMatch(out.retr, /^226 /);
    await assertFileBytes(`${local}/big.back`, big, "retrbinary");

    const facts = out.mlsd["big.bin"];
    assert(facts, `mlsd lists big.bin: ${JSON.stringify(out.mlsd)}`);
    assertEquals(facts.type, "file");
    assertEquals(facts.size, String(big.length));
    assertMatch(facts.modify, /^\d{14}$/, "modify fact");
    assertEquals([...facts.perm].sort().join(""), "dfrw", "demo's file perm");
    assertEquals(Object.keys(out.mlsd), ["big.bin"], "mlsd names");

    assertEquals(out.nlst, ["/py/big.bin"]);
    assertEquals(out.size, big.length);
    assertEquals(out.mdtm, `213 ${facts.modify}`, "MDTM equals the MLSD modify fact");
    const diskTime = (await Deno.stat(`${s.root}/py/big2.bin`)).mtime!;
    const mdtm = out.mdtm.slice(4);
    const mdtmDate = Date.UTC(
      Number(mdtm.slice(0, 4)),
      Number(mdtm.slice(4, 6)) - 1,
      Number(mdtm.slice(6, 8)),
      Number(mdtm.slice(8, 10)),
      Number(mdtm.slice(10, 12)),
      Number(mdtm.slice(12, 14)),
    );
    assert(
      Math.abs(mdtmDate - diskTime.getTime()) < 2000,
      `MDTM ${mdtm} vs disk mtime ${diskTime.toISOString()}`,
    );

    assertMatch(out.rename, /^250 /);
    assertEquals(out.nlst_after_rename, ["/py/big2.bin"]);
    await assertFileBytes(`${s.root}/py/big2.bin`, big, "5 MiB file on disk after rename");
    assert(!(await exists(`${s.root}/py/big.bin`)), "old name gone");

    assertEquals(out.mkd_quote, '/py/say "hi"', "ftplib parsed the doubled quotes of MKD's 257");
    assertMatch(out.cwd_quote, /^250 /);
    assertEquals(out.pwd_quote, '/py/say "hi"');
    assertEquals(out.pwd_raw, '257 "/py/say ""hi""" is the current directory');
    assertEquals(out.nlst_quote, ["inner.txt"]);
    await assertFileBytes(`${s.root}/py/say "hi"/inner.txt`, inner, "upload into quoted dir");
    assertEquals(out.pwd_up, "/py");
    assertEquals(out.mkd_tmp, "/py/tmpdir");
    assertMatch(out.rmd, /^250 /);
    assert(!(await isDir(`${s.root}/py/tmpdir`)), "rmd removed the dir");
    assertMatch(out.delete, /^250 /);
    assert(!(await exists(`${s.root}/py/gone.txt`)), "delete removed the file");
    assertEquals(out.mlsd_after, ["big2.bin", 'say "hi"']);
    assertMatch(out.size_gone, /^550 /);

    // Read-only user: perm has no write/delete/create/rename letters.
    const roFile = out.ro_mlsd["big2.bin"];
    assertEquals(roFile.type, "file");
    assertEquals(roFile.size, String(big.length));
    assertEquals(roFile.perm, "r", "read-only user's file perm");
    const roDir = out.ro_mlsd['say "hi"'];
    assertEquals(roDir.type, "dir");
    assertEquals(roDir.perm, "el", "read-only user's dir perm");
    assertEquals(out.ro_mlsd_root.py?.perm, "el");
    for (const entry of Object.values(out.ro_mlsd) as { perm: string }[]) {
      assert(!/[wdfcma]/.test(entry.perm), `read-only perm ${entry.perm}`);
    }
    assertMatch(out.ro_mkd, /^550 /);
    assert(!(await isDir(`${s.root}/py/nope`)), "read-only MKD created nothing");
  });
});

const PY_PARALLEL = String.raw`
import ftplib, hashlib, json, os, sys, threading
port, work, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
results = [None] * n
def worker(i):
    try:
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", port, timeout=30)
        ftp.login("demo", "demo")
        with open(os.path.join(work, f"f{i}.bin"), "rb") as f:
            ftp.storbinary(f"STOR /par/f{i}.bin", f, blocksize=32768)
        chunks = []
        ftp.retrbinary(f"RETR /par/f{i}.bin", chunks.append, blocksize=32768)
        data = b"".join(chunks)
        size = ftp.size(f"/par/f{i}.bin")
        ftp.quit()
        results[i] = {"sha": hashlib.sha256(data).hexdigest(), "len": len(data), "size": size}
    except Exception as e:
        results[i] = {"error": repr(e)}
threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
for t in threads: t.start()
for t in threads: t.join(60)
print(json.dumps(results))
`;

Deno.test({
  name: "python ftplib: 8 parallel clients upload and download 2 MiB each, byte-exact",
  ...needs("python3"),
}, async () => {
  await withServerDir({}, async (s, local) => {
    const n = 8;
    const files: Uint8Array<ArrayBuffer>[] = [];
    for (let i = 0; i < n; i++) {
      files.push(randomBytes(2 * 1024 * 1024));
      await writeLocal(local, `f${i}.bin`, files[i]);
    }
    await Deno.mkdir(`${s.root}/par`);
    const r = ok(
      await python(PY_PARALLEL, [String(s.port), local, String(n)], 45_000),
      "parallel script",
    );
    const results = JSON.parse(r.stdout) as {
      sha?: string;
      len?: number;
      size?: number;
      error?: string;
    }[];
    assertEquals(results.length, n);
    for (let i = 0; i < n; i++) {
      const want = await sha256(files[i]);
      assertEquals(results[i].error, undefined, `client ${i}`);
      assertEquals(results[i].len, files[i].length, `client ${i} downloaded length`);
      assertEquals(results[i].size, files[i].length, `client ${i} SIZE`);
      assertEquals(results[i].sha, want, `client ${i} downloaded sha256`);
      await assertFileBytes(`${s.root}/par/f${i}.bin`, files[i], `client ${i} on disk`);
    }
    await assertNoStagedUploads(s);
  });
});

// ---------------------------------------------------------------------------
// basic-ftp (npm, in-process)
// ---------------------------------------------------------------------------

/** A Writable that collects everything written to it. */
function collector(): { stream: Writable; bytes(): Uint8Array<ArrayBuffer> } {
  const chunks: Buffer[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { stream, bytes: () => new Uint8Array(Buffer.concat(chunks)) };
}

Deno.test({
  name:
    "basic-ftp: ensureDir, uploadFrom, downloadTo, list, size, lastMod, rename, remove, removeDir",
}, async () => {
  await withServerDir({}, async (s, local) => {
    await withBasicFtp(s, async (client) => {
      await client.ensureDir("/bf/nested dir");
      assertEquals(await client.pwd(), "/bf/nested dir");
      assert(await isDir(`${s.root}/bf/nested dir`), "ensureDir created the dirs");

      const streamed = randomBytes(400_000);
      await client.uploadFrom(Readable.from(Buffer.from(streamed)), "streamed.bin");
      await assertFileBytes(
        `${s.root}/bf/nested dir/streamed.bin`,
        streamed,
        "uploadFrom(Readable)",
      );

      const fromFile = randomBytes(123_456);
      const path = await writeLocal(local, "from-file.bin", fromFile);
      await client.uploadFrom(path, "/bf/from-file.bin");
      await assertFileBytes(`${s.root}/bf/from-file.bin`, fromFile, "uploadFrom(path)");

      const sink = collector();
      await client.downloadTo(sink.stream, "streamed.bin");
      assertEquals(await sha256(sink.bytes()), await sha256(streamed), "downloadTo(Writable)");
      await client.downloadTo(`${local}/back.bin`, "/bf/from-file.bin");
      await assertFileBytes(`${local}/back.bin`, fromFile, "downloadTo(path)");

      const listing = await client.list("/bf");
      const byName = new Map(listing.map((f) => [f.name, f]));
      assertEquals([...byName.keys()].sort(), ["from-file.bin", "nested dir"]);
      assertEquals(byName.get("from-file.bin")!.size, fromFile.length);
      assert(byName.get("from-file.bin")!.isFile, "from-file.bin is a file");
      assert(byName.get("nested dir")!.isDirectory, "nested dir is a directory");
      assert(byName.get("from-file.bin")!.modifiedAt instanceof Date, "MLSD gives modifiedAt");

      const here = await client.list();
      assertEquals(here.map((f) => [f.name, f.size]), [["streamed.bin", streamed.length]]);

      assertEquals(await client.size("streamed.bin"), streamed.length);
      const mod = await client.lastMod("streamed.bin");
      const disk = (await Deno.stat(`${s.root}/bf/nested dir/streamed.bin`)).mtime!;
      assert(
        Math.abs(mod.getTime() - disk.getTime()) < 2000,
        `lastMod ${mod.toISOString()} vs ${disk.toISOString()}`,
      );

      await client.rename("streamed.bin", "/bf/renamed.bin");
      assert(!(await exists(`${s.root}/bf/nested dir/streamed.bin`)), "rename source gone");
      await assertFileBytes(`${s.root}/bf/renamed.bin`, streamed, "renamed");

      await client.remove("/bf/renamed.bin");
      assert(!(await exists(`${s.root}/bf/renamed.bin`)), "remove deleted the file");

      await client.cd("/");
      await client.removeDir("/bf");
      assert(!(await isDir(`${s.root}/bf`)), "removeDir removed the tree");
      assertEquals((await client.list("/")).map((f) => f.name), []);
    }, { timeoutMs: 15_000 });
  });
});

// ---------------------------------------------------------------------------
// Rights, enforced against curl
// ---------------------------------------------------------------------------

Deno.test(
  { name: "rights: read-only, write-only and no-delete users (curl)", ...needs("curl") },
  async (t) => {
    await withServerDir({
      adjust: (c) => {
        c.users.push(user("ro", "ro", { canWrite: false, canDelete: false }));
        c.users.push(user("wo", "wo", { canRead: false }));
        c.users.push(user("nd", "nd", { canDelete: false }));
      },
    }, async (s, local) => {
      const original = randomBytes(50_000);
      await writeLocal(s.root, "shared/original.bin", original);
      await Deno.mkdir(`${s.root}/shared/emptydir`);
      const fresh = randomBytes(40_000);
      const src = await writeLocal(local, "fresh.bin", fresh);

      await t.step("read-only user cannot upload but can download", async () => {
        const up = failed(
          await curl(["-T", src, ftpUrl(s, "/shared/ro.bin", "ro:ro")]),
          "RO upload",
        );
        assertMatch(up.stderr, /550/, "RO upload refused with 550");
        assert(!(await exists(`${s.root}/shared/ro.bin`)), "no file appeared");
        await assertNoStagedUploads(s);
        const out = `${local}/ro-download.bin`;
        ok(await curl(["-o", out, ftpUrl(s, "/shared/original.bin", "ro:ro")]), "RO download");
        await assertFileBytes(out, original, "RO download");
        const ls = ok(await curl(["--list-only", ftpUrl(s, "/shared/", "ro:ro")]), "RO list");
        assertEquals(lines(ls.stdout).sort(), ["emptydir", "original.bin"]);
      });

      await t.step("write-only user can upload but cannot list or download", async () => {
        ok(await curl(["-T", src, ftpUrl(s, "/shared/wo.bin", "wo:wo")]), "WO upload");
        await assertFileBytes(`${s.root}/shared/wo.bin`, fresh, "WO upload on disk");
        const nlst = failed(await curl(["--list-only", ftpUrl(s, "/shared/", "wo:wo")]), "WO NLST");
        assertMatch(nlst.stderr, /550/);
        assertEquals(nlst.stdout, "", "no names leaked");
        const list = failed(await curl([ftpUrl(s, "/shared/", "wo:wo")]), "WO LIST");
        assertMatch(list.stderr, /550/);
        assertEquals(list.stdout, "", "no listing leaked");
        const out = `${local}/wo-download.bin`;
        failed(await curl(["-o", out, ftpUrl(s, "/shared/original.bin", "wo:wo")]), "WO download");
        const got = await readOrNull(out);
        assert(got === null || got.length === 0, "no bytes downloaded");
        // Without SIZE first (curl gives up at SIZE's 550 otherwise): RETR itself is refused.
        const retr = failed(
          await curl([
            "-v",
            "--ignore-content-length",
            "-o",
            out,
            ftpUrl(s, "/shared/original.bin", "wo:wo"),
          ]),
          "WO RETR",
        );
        assertMatch(retr.stderr, /^> RETR original\.bin\r?\n< 550 /m, "RETR refused with 550");
        assertEquals(await readOrNull(out), null, "no bytes downloaded");
      });

      await t.step(
        "no-delete user: no DELE/RMD/overwrite, but new uploads and renames to new names",
        async () => {
          const dele = failed(
            await curl(["-Q", "DELE shared/original.bin", "--list-only", ftpUrl(s, "/", "nd:nd")]),
            "ND DELE",
          );
          assertMatch(dele.stderr, /550/);
          await assertFileBytes(`${s.root}/shared/original.bin`, original, "file survived DELE");

          const rmd = failed(
            await curl(["-Q", "RMD shared/emptydir", "--list-only", ftpUrl(s, "/", "nd:nd")]),
            "ND RMD",
          );
          assertMatch(rmd.stderr, /550/);
          assert(await isDir(`${s.root}/shared/emptydir`), "dir survived RMD");

          const over = failed(
            await curl(["-v", "-T", src, ftpUrl(s, "/shared/original.bin", "nd:nd")]),
            "ND overwrite",
          );
          assertMatch(over.stderr, /^< 550 /m, "STOR onto an existing name refused with 550");
          await assertFileBytes(
            `${s.root}/shared/original.bin`,
            original,
            "original bytes unchanged",
          );
          await assertNoStagedUploads(s);

          ok(await curl(["-T", src, ftpUrl(s, "/shared/nd-new.bin", "nd:nd")]), "ND new upload");
          await assertFileBytes(`${s.root}/shared/nd-new.bin`, fresh, "ND new upload");

          ok(
            await curl([
              "-Q",
              "RNFR shared/nd-new.bin",
              "-Q",
              "RNTO shared/nd-renamed.bin",
              "--list-only",
              "-o",
              "/dev/null",
              ftpUrl(s, "/", "nd:nd"),
            ]),
            "ND rename to a new name",
          );
          assert(!(await exists(`${s.root}/shared/nd-new.bin`)), "rename source gone");
          await assertFileBytes(`${s.root}/shared/nd-renamed.bin`, fresh, "renamed");

          const onto = failed(
            await curl([
              "-Q",
              "RNFR shared/nd-renamed.bin",
              "-Q",
              "RNTO shared/original.bin",
              "--list-only",
              ftpUrl(s, "/", "nd:nd"),
            ]),
            "ND rename onto an existing name",
          );
          assertMatch(onto.stderr, /550/);
          await assertFileBytes(
            `${s.root}/shared/original.bin`,
            original,
            "rename did not overwrite",
          );
          await assertFileBytes(`${s.root}/shared/nd-renamed.bin`, fresh, "rename source kept");
        },
      );
    });
  },
);
