/**
 * FTPS: explicit (AUTH TLS) and implicit, protected data connections, and
 * require_tls, through real clients: Python's ftplib.FTP_TLS, curl, lftp and
 * basic-ftp. Content is checked on disk and after download.
 */

import { Readable, Writable } from "node:stream";
import { Buffer } from "node:buffer";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, python, run } from "./support/clients.ts";
import { randomBytes, sha256, startServer, type TestServer } from "./support/server.ts";
import { TLS_CERT, useTls, withBasicFtp, withServer, withTempDir } from "./support/kit.ts";

/** A Python FTP_TLS session script: logs in, PROT P, runs `body`, prints results. */
function ftpTls(s: TestServer, body: string, prot = "ftp.prot_p()"): string {
  return `
import ftplib, ssl, hashlib, io, sys
ctx = ssl.create_default_context(cafile=${JSON.stringify(TLS_CERT)})
ftp = ftplib.FTP_TLS(context=ctx, timeout=20)
ftp.connect("127.0.0.1", ${s.port})
ftp.login("demo", "demo")
${prot}
${body}
ftp.quit()
`;
}

Deno.test({
  name: "FTPS explicit: ftplib FTP_TLS with PROT P uploads, lists and downloads byte-exact",
  ...needs("python3"),
  async fn() {
    await withServer({ tls: {} }, async (s) => {
      const bytes = randomBytes(3 * 1024 * 1024 + 11);
      await Deno.writeFile(`${s.root}/../ftps-up.bin`, bytes);
      const out = await python(ftpTls(
        s,
        `
data = open(${JSON.stringify(`${s.root}/../ftps-up.bin`)}, "rb").read()
ftp.storbinary("STOR up.bin", io.BytesIO(data))
got = io.BytesIO()
ftp.retrbinary("RETR up.bin", got.write)
print("sha", hashlib.sha256(got.getvalue()).hexdigest())
print("names", sorted(ftp.nlst()))
print("mlsd", [(n, f["size"]) for n, f in ftp.mlsd() if f["type"] == "file"])
print("feat", ftp.sendcmd("FEAT").replace("\\n", "|"))
`,
      ));
      assertEquals(out.code, 0, out.stderr);
      assertEquals(await Deno.readFile(`${s.root}/up.bin`), bytes);
      assertMatch(out.stdout, new RegExp(`sha ${await sha256(bytes)}`));
      assertMatch(out.stdout, /names \['up\.bin'\]/);
      assertMatch(out.stdout, new RegExp(`mlsd \\[\\('up\\.bin', '${bytes.length}'\\)\\]`));
      assertMatch(out.stdout, /AUTH TLS/);
      assertMatch(out.stdout, /PROT/);
      await Deno.remove(`${s.root}/../ftps-up.bin`);
    });
  },
});

Deno.test({
  name: "FTPS explicit: curl --ssl-reqd uploads, lists and downloads byte-exact",
  ...needs("curl"),
  async fn() {
    await withServer({ tls: {} }, (s) =>
      withTempDir(async (dir) => {
        const bytes = randomBytes(2 * 1024 * 1024 + 3);
        await Deno.writeFile(`${dir}/c.bin`, bytes);
        const base = ["-sS", "--ssl-reqd", "--cacert", TLS_CERT, "--user", "demo:demo"];
        const url = `ftp://127.0.0.1:${s.port}`;
        assertEquals((await run("curl", [...base, "-T", `${dir}/c.bin`, `${url}/c.bin`])).code, 0);
        assertEquals(await Deno.readFile(`${s.root}/c.bin`), bytes);
        const list = await run("curl", [...base, `${url}/`]);
        assertMatch(list.stdout, /c\.bin/);
        const get = await run("curl", [...base, "-o", `${dir}/back.bin`, `${url}/c.bin`]);
        assertEquals(get.code, 0, get.stderr);
        assertEquals(await Deno.readFile(`${dir}/back.bin`), bytes);
      }));
  },
});

Deno.test({
  name: "FTPS explicit: lftp ftp:ssl-force put, ls and get byte-exact",
  ...needs("lftp"),
  async fn() {
    await withServer({ tls: {} }, (s) =>
      withTempDir(async (dir) => {
        const bytes = randomBytes(1024 * 1024 + 5);
        await Deno.writeFile(`${dir}/l.bin`, bytes);
        const script = [
          "set cmd:fail-exit yes",
          "set net:max-retries 1",
          "set ftp:ssl-force true",
          "set ftp:ssl-protect-data true",
          `set ssl:ca-file ${TLS_CERT}`,
          `open -u demo,demo -p ${s.port} 127.0.0.1`,
          `put ${dir}/l.bin -o l.bin`,
          "cls -l",
          `get l.bin -o ${dir}/back.bin`,
        ].join("; ");
        const out = await run("lftp", ["-c", script]);
        assertEquals(out.code, 0, out.stderr);
        assertMatch(out.stdout, /l\.bin/);
        assertEquals(await Deno.readFile(`${s.root}/l.bin`), bytes);
        assertEquals(await Deno.readFile(`${dir}/back.bin`), bytes);
      }));
  },
});

Deno.test("FTPS explicit: basic-ftp secure: true uploads, lists and downloads byte-exact", async () => {
  await withServer({ tls: {} }, async (s) => {
    await withBasicFtp(s, async (client) => {
      const bytes = randomBytes(512 * 1024 + 9);
      await client.uploadFrom(Readable.from([Buffer.from(bytes)]), "b.bin");
      assertEquals(await Deno.readFile(`${s.root}/b.bin`), bytes);
      const names = (await client.list()).map((f) => [f.name, f.size]);
      assertEquals(names, [["b.bin", bytes.length]]);
      const chunks: Uint8Array[] = [];
      await client.downloadTo(
        new Writable({ write: (c, _e, done) => (chunks.push(c), done()) }),
        "b.bin",
      );
      assertEquals(new Uint8Array(Buffer.concat(chunks)), bytes);
    }, { tls: true });
  });
});

Deno.test({
  name: "FTPS implicit: curl ftps:// uploads and downloads byte-exact",
  ...needs("curl"),
  async fn() {
    await withServer({ tls: { implicit: true } }, (s) =>
      withTempDir(async (dir) => {
        const port = s.server.implicitAddress!.port;
        const bytes = randomBytes(700_000);
        await Deno.writeFile(`${dir}/i.bin`, bytes);
        const base = ["-sS", "--cacert", TLS_CERT, "--user", "demo:demo"];
        const url = `ftps://127.0.0.1:${port}`;
        const put = await run("curl", [...base, "-T", `${dir}/i.bin`, `${url}/i.bin`]);
        assertEquals(put.code, 0, put.stderr);
        assertEquals(await Deno.readFile(`${s.root}/i.bin`), bytes);
        const get = await run("curl", [...base, "-o", `${dir}/back.bin`, `${url}/i.bin`]);
        assertEquals(get.code, 0, get.stderr);
        assertEquals(await Deno.readFile(`${dir}/back.bin`), bytes);
      }));
  },
});

Deno.test({
  name:
    "FTPS: require_tls refuses clear logins and clear data; CCC refused; no TLS configured is 502",
  ...needs("python3"),
  async fn() {
    await withServer({}, (plain) =>
      withServer({ tls: { requireTls: true } }, async (s) => {
        const out = await python(`
import ftplib, ssl
p = ftplib.FTP(timeout=10); p.connect("127.0.0.1", ${plain.port})
try: p.sendcmd("AUTH TLS")
except ftplib.error_perm as e: print("plain-auth", e)
c = ftplib.FTP(timeout=10); c.connect("127.0.0.1", ${s.port})
try: c.login("demo", "demo")
except ftplib.error_perm as e: print("clear-login", e)
ctx = ssl.create_default_context(cafile=${JSON.stringify(TLS_CERT)})
t = ftplib.FTP_TLS(context=ctx, timeout=10); t.connect("127.0.0.1", ${s.port}); t.login("demo", "demo")
t.sendcmd("PBSZ 0")
try: t.sendcmd("PROT C")
except ftplib.error_perm as e: print("prot-c", e)
try: t.nlst()
except ftplib.error_perm as e: print("clear-data", e)
try: t.sendcmd("CCC")
except ftplib.error_perm as e: print("ccc", e)
t.prot_p(); print("protected", t.nlst())
`);
        assertEquals(out.code, 0, out.stderr);
        assertMatch(out.stdout, /plain-auth 502/);
        assertMatch(out.stdout, /clear-login 530 TLS required/);
        assertMatch(out.stdout, /prot-c 534/);
        assertMatch(out.stdout, /clear-data 521/);
        assertMatch(out.stdout, /ccc 534/);
        assertMatch(out.stdout, /protected \[\]/);
      }));
  },
});

Deno.test({
  name: "FTPS: an upload whose TLS ends without close_notify is truncated: 426, nothing stored",
  ...needs("python3"),
  async fn() {
    await withServer({ tls: {} }, async (s) => {
      await Deno.writeTextFile(`${s.root}/t.bin`, "old");
      const out = await python(ftpTls(
        s,
        `
ftp.voidcmd("TYPE I")
conn = ftp.transfercmd("STOR t.bin")
conn.sendall(b"x" * 500000)
# Close the TCP connection without TLS close_notify, as a cut connection would.
import socket
raw = socket.socket(fileno=conn.detach())
raw.close()
try: print("final", ftp.voidresp())
except ftplib.all_errors as e: print("final", e)
`,
      ));
      assertEquals(out.code, 0, out.stderr);
      assertMatch(out.stdout, /final 426/);
      assertEquals(await Deno.readTextFile(`${s.root}/t.bin`), "old");
    });
  },
});

Deno.test("FTPS: a bad certificate file is a startup error naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.pem`, "not a certificate");
    const error = await startServer((c) => {
      useTls(c);
      c.tls.certFile = `${dir}/bad.pem`;
    }).then(() => null, (e: Error) => e);
    assert(error !== null, "the server must not start");
    assertMatch(error.message, new RegExp(`${dir}/bad\\.pem`));
    const missing = await startServer((c) => {
      useTls(c);
      c.tls.certFile = `${dir}/none.pem`;
    }).then(() => null, (e: Error) => e);
    assertMatch(missing!.message, /none\.pem: cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
