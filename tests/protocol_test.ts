/**
 * The control channel over a raw socket: login state machine, reply format,
 * hostile input, path confinement, directory and file commands, listings.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { RawClient } from "./support/raw_client.ts";
import { user } from "./support/server.ts";
import { withServer, withSession } from "./support/kit.ts";

const encoder = new TextEncoder();

Deno.test("login: state machine, delay after failure, hang-up after 3 failures", async () => {
  await withServer({ adjust: (c) => c.loginFailDelayMs = 200 }, async (s) => {
    const c = await RawClient.connect(s.port);
    await c.expect("LIST", 530);
    await c.expect("PASS demo", 503);
    for (let attempt = 1; attempt <= 3; attempt++) {
      await c.expect("USER demo", 331);
      const started = Date.now();
      await c.expect("PASS wrong", 530);
      assert(Date.now() - started >= 180, "a failed login must be delayed");
    }
    assert(await c.closedByServer(), "connection closed after the third failure");
    c.close();
    const ok = await RawClient.connect(s.port);
    await ok.expect("USER nobody", 331); // same reply as for a real user: no enumeration
    await ok.expect("PASS demo", 530);
    await ok.expect("USER demo", 331);
    await ok.expect("PASS demo", 230);
    await ok.expect("USER demo", 503);
    await ok.expect("QUIT", 221);
    ok.close();
    const log = await s.logText();
    assertMatch(log, /INFO login .*user=demo .*result=ok/);
    assertMatch(log, /WARNING login .*user=demo .*result=failed/);
    assert(!log.includes("wrong"), "passwords never reach the log");
  });
});

Deno.test("replies: FEAT, HELP, SYST, OPTS, unknown commands, multi-line format", async () => {
  await withServer({}, async (s) => {
    const c = await RawClient.connect(s.port);
    const feat = await c.expect("FEAT", 211);
    for (const f of ["UTF8", "EPSV", "SIZE", "MDTM", "REST STREAM", "TVFS"]) {
      assert(feat.lines.includes(` ${f}`), `FEAT lists ${f}: ${feat.text}`);
    }
    assertMatch(feat.text, /^ MLST type\*;size\*;modify\*;perm\*;$/m);
    assertEquals(feat.lines[0], "211-Features:");
    assertEquals(feat.lines.at(-1), "211 End");
    await c.expect("SYST", 215);
    await c.expect("OPTS UTF8 ON", 200);
    const help = await c.expect("HELP", 214);
    assertMatch(help.text, /RETR/);
    assertMatch((await c.expect("HELP stor", 214)).text, /STOR <path>/);
    await c.expect("SITE CHMOD 777 x", 530); // needs login
    await c.expect("XYZZY", 502);
    await c.expect("NOOP", 200);
    c.close();
  });
});

Deno.test("hostile input: overlong lines, invalid UTF-8, NUL, telnet IAC, pipelining", async () => {
  await withSession({}, async (c) => {
    await c.writeRaw(`NOOP ${"x".repeat(9000)}\r\n`);
    assertEquals((await c.read()).code, 500);
    await c.expect("NOOP", 200);
    await c.writeRaw(new Uint8Array([0x43, 0x57, 0x44, 0x20, 0xc3, 0x28, 0xe2, 0x82, 0x0d, 0x0a]));
    assertEquals((await c.read()).code, 501);
    await c.writeRaw("MKD a\0b\r\n");
    assertEquals((await c.read()).code, 553);
    // IAC IP IAC DM before NOOP, as clients send around ABOR.
    await c.writeRaw(new Uint8Array([0xff, 0xf4, 0xff, 0xf2, ...encoder.encode("NOOP\r\n")]));
    assertEquals((await c.read()).code, 200);
    await c.writeRaw("MKD p1\r\nCWD p1\r\nPWD\r\nCDUP\r\nNOOP\r\n");
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await c.read()).code);
    assertEquals(codes, [257, 250, 257, 250, 200]);
    await c.expect("SITE CHMOD 644 p1", 200);
    await c.expect("SITE EXEC /bin/sh", 504);
    await c.writeRaw("NOOP\n"); // bare LF line ends are accepted too
    assertEquals((await c.read()).code, 200);
  });
});

Deno.test("confinement: no path escapes the user's root", async () => {
  await withServer({}, async (s) => {
    const outside = `${s.root}-outside.txt`;
    await Deno.writeTextFile(outside, "secret");
    try {
      const c = await RawClient.login(s.port);
      await Deno.writeTextFile(`${s.root}/inside.txt`, "ok");
      for (const path of ["../../..", "..\\..\\..", "//..//..", "/../../etc", "a/../../.."]) {
        const reply = await c.command(`CWD ${path}`);
        if (reply.code === 250) {
          assertEquals((await c.expect("PWD", 257)).text, '257 "/" is the current directory');
        }
      }
      const name = outside.slice(outside.lastIndexOf("/") + 1);
      for (
        const path of [
          `../${name}`,
          `..\\${name}`,
          `/../../${name}`,
          `%2e%2e/${name}`,
          `....//${name}`,
        ]
      ) {
        await c.expect(`SIZE ${path}`, 550);
      }
      await c.expect("SIZE ../../inside.txt", 213);
      await c.expect("SIZE \\inside.txt", 213);
      await c.expect("CWD /", 250);
      const listing = await c.listing("NLST ../..");
      assertEquals(listing.trim().split("\r\n").map((l) => l.split("/").at(-1)), ["inside.txt"]);
      await c.expect("DELE ../" + name, 550);
      assertEquals(await Deno.readTextFile(outside), "secret");
      await c.expect("MKD .cos-ftp-staging", 553);
      c.close();
    } finally {
      await Deno.remove(outside);
    }
  });
});

Deno.test("directories: MKD, CWD, CDUP, PWD quoting, RMD rules", async () => {
  await withSession({}, async (c, s) => {
    assertEquals((await c.expect('MKD q"d', 257)).text, '257 "/q""d" created');
    await c.expect('CWD q"d', 250);
    assertEquals((await c.expect("PWD", 257)).text, '257 "/q""d" is the current directory');
    await c.expect("XPWD", 257);
    await c.expect("CDUP", 250);
    await c.expect("MKD a/b/c", 550); // parent a/b does not exist
    await c.expect("MKD a", 257);
    await c.expect("MKD a", 550);
    await c.expect("MKD a/b", 257);
    await c.expect("CWD a/b", 250);
    await c.expect("CWD /nope", 550);
    assertEquals((await c.expect("PWD", 257)).text, '257 "/a/b" is the current directory');
    await c.expect("CWD /", 250);
    await c.expect("RMD a", 550); // not empty
    assert((await Deno.stat(`${s.root}/a/b`)).isDirectory);
    await c.expect("RMD a/b", 250);
    await c.expect("RMD a", 250);
    await c.expect("RMD a", 550); // gone
    await c.expect("RMD /", 550);
  });
});

Deno.test("files: DELE, RNFR/RNTO, SIZE, MDTM", async () => {
  await withSession({}, async (c, s) => {
    await Deno.writeTextFile(`${s.root}/f.txt`, "hello");
    await Deno.mkdir(`${s.root}/d/sub`, { recursive: true });
    await Deno.writeTextFile(`${s.root}/d/sub/g.txt`, "inner");
    await c.expect("DELE missing.txt", 550);
    await c.expect("DELE d", 550);
    assertEquals((await c.expect("SIZE f.txt", 213)).text, "213 5");
    await c.expect("SIZE d", 550);
    await c.expect("SIZE nope", 550);
    const mtime = (await Deno.stat(`${s.root}/f.txt`)).mtime!;
    const mdtm = (await c.expect("MDTM f.txt", 213)).text;
    assertEquals(mdtm, `213 ${mtime.toISOString().replace(/[-:T]/g, "").slice(0, 14)}`);
    await c.expect("RNTO x", 503);
    await c.expect("RNFR nope", 550);
    await c.expect("RNFR f.txt", 350);
    await c.expect("NOOP", 200);
    await c.expect("RNTO g.txt", 503); // RNFR must be followed directly by RNTO
    await c.expect("RNFR f.txt", 350);
    await c.expect("RNTO d/sub/renamed.txt", 250);
    assertEquals(await Deno.readTextFile(`${s.root}/d/sub/renamed.txt`), "hello");
    await c.expect("RNFR d", 350);
    await c.expect("RNTO e", 250);
    assertEquals(await Deno.readTextFile(`${s.root}/e/sub/g.txt`), "inner");
    await c.expect("RNFR e", 350);
    await c.expect("RNTO e/sub/x", 550); // into itself
    await c.expect("RNFR e/sub/g.txt", 350);
    await c.expect("RNTO nodir/g.txt", 550); // target directory missing
    await c.expect("DELE e/sub/g.txt", 250);
    await c.expect("SIZE e/sub/g.txt", 550);
  });
});

Deno.test("listings: LIST shapes, NLST, MLSD, MLST, STAT, globs, max_list_file", async () => {
  await withSession({ adjust: (c) => c.maxListFile = 3 }, async (c, s) => {
    for (const n of ["a.txt", "b.txt", "c.log"]) await Deno.writeTextFile(`${s.root}/${n}`, n);
    await Deno.mkdir(`${s.root}/dir`);
    await Deno.writeTextFile(`${s.root}/dir/x 1.txt`, "12345");
    const list = await c.listing("LIST -la dir");
    assertMatch(
      list,
      /^-rw-r--r-- 1 ftp ftp +5 [A-Z][a-z]{2} [ \d]\d (\d\d:\d\d| \d{4}) x 1\.txt\r\n$/,
    );
    const fileLine = await c.listing("LIST dir/x 1.txt");
    assertMatch(fileLine, / 5 .* x 1\.txt\r\n$/);
    const cut = await c.epsv();
    await c.expect("LIST", 150);
    const cutText = new TextDecoder().decode(
      await (await import("./support/raw_client.ts")).readAll(cut),
    );
    assertEquals(cutText.trim().split("\r\n").length, 3);
    assertMatch((await c.read()).text, /^226 Listing cut at 3 entries/);
    assertEquals((await c.listing("NLST *.txt")).split("\r\n").filter(Boolean).sort(), [
      "a.txt",
      "b.txt",
    ]);
    assertEquals(await c.listing("NLST dir"), "dir/x 1.txt\r\n");
    const mlsd = await c.listing("MLSD dir");
    assertMatch(mlsd, /^type=file;size=5;modify=\d{14};perm=rfwd; x 1\.txt\r\n$/);
    const mlst = await c.expect("MLST dir", 250);
    assertMatch(mlst.lines[1], /^ type=dir;perm=elcmfd; \/dir$/);
    const stat = await c.expect("STAT dir", 213);
    assertMatch(stat.text, /x 1\.txt/);
    await c.expect("LIST nowhere", 550);
    await c.expect("MLSD a.txt", 550);
  });
});

Deno.test("rights: RO, WO and delete_enable=false, as LIST, MLSD perm and replies show", async () => {
  await withServer({
    adjust: (c) => {
      c.users.push(user("ro", "pw", { canWrite: false, canDelete: false }));
      c.users.push(user("wo", "pw", { canRead: false }));
      c.users.push(user("nodel", "pw", { canDelete: false }));
    },
  }, async (s) => {
    await Deno.writeTextFile(`${s.root}/f.txt`, "data");
    const ro = await RawClient.login(s.port, "ro", "pw");
    assertMatch(await ro.listing("MLSD"), /^type=file;size=4;modify=\d+;perm=r; f\.txt\r\n$/);
    assertMatch(await ro.listing("LIST"), /^-r--r--r-- /);
    for (const cmd of ["MKD x", "DELE f.txt", "RNFR f.txt", "STOR y", "SITE CHMOD 7 f.txt"]) {
      await ro.expect(cmd, 550);
    }
    ro.close();
    const wo = await RawClient.login(s.port, "wo", "pw");
    for (const cmd of ["LIST", "NLST", "MLSD", "RETR f.txt", "SIZE f.txt", "MLST f.txt"]) {
      await wo.expect(cmd, 550);
    }
    await wo.expect("CWD /", 250);
    await wo.expect("MKD wdir", 257);
    wo.close();
    const nodel = await RawClient.login(s.port, "nodel", "pw");
    await nodel.expect("DELE f.txt", 550);
    await nodel.expect("RMD wdir", 550);
    await nodel.expect("STOR f.txt", 550); // overwriting destroys the old bytes
    await nodel.expect("RNFR f.txt", 350);
    await nodel.expect("RNTO g.txt", 250); // a rename to a free name loses nothing
    await Deno.writeTextFile(`${s.root}/h.txt`, "keep");
    await nodel.expect("RNFR g.txt", 350);
    await nodel.expect("RNTO h.txt", 550);
    assertEquals(await Deno.readTextFile(`${s.root}/h.txt`), "keep");
    assertMatch(await nodel.listing("MLSD"), /perm=rf; g\.txt/);
    nodel.close();
  });
});

Deno.test("limits: max_connection_num and the idle timeout answer 421", async () => {
  await withServer({
    adjust: (c) => {
      c.maxConnections = 2;
      c.idleTimeoutMs = 400;
    },
  }, async (s) => {
    const a = await RawClient.connect(s.port);
    const b = await RawClient.connect(s.port);
    const third = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    const refused = new TextDecoder().decode((await third.readable.getReader().read()).value);
    assertMatch(refused, /^421 Too many connections/);
    third.close();
    const idleReply = await a.read();
    assertEquals(idleReply.code, 421);
    assert(await a.closedByServer());
    a.close();
    b.close();
  });
});

Deno.test("every 5xx is logged as a failed command: 502 unknown, 501 syntax, 503 order, 530 login", async () => {
  await withServer({}, async (s) => {
    const c = await RawClient.connect(s.port);
    await c.expect("PASS nope", 503);
    await c.expect("LIST", 530);
    await c.expect("USER demo", 331);
    await c.expect("PASS demo", 230);
    await c.expect("XYZZY", 502);
    await c.expect("MKD", 501);
    await c.expect("USER demo", 503);
    c.close();
    const log = await s.logText();
    for (const [command, code] of [["PASS", 503], ["LIST", 530], ["XYZZY", 502], ["MKD", 501]]) {
      assertMatch(log, new RegExp(`command-failed .*command=${command} .*code=${code}`));
    }
    assert(!/nope/.test(log), "a password never reaches the log");
  });
});
