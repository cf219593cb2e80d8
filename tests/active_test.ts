/**
 * Active mode (PORT, EPRT): the server connects to the client when the
 * transfer starts, only to the client's own address and never below port
 * 1024 (bounce protection). Raw-socket tests plus curl, lftp and ftplib.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, python, run } from "./support/clients.ts";
import { RawClient, readAll, writeAllAndClose } from "./support/raw_client.ts";
import { eventually, randomBytes, sha256, startServer } from "./support/server.ts";
import {
  CLIENT_TIMEOUT_MS,
  curl,
  ftplibLogin,
  ftpUrl,
  ok,
  show,
  withServer,
  withServerDir,
  withSession,
} from "./support/kit.ts";

const decoder = new TextDecoder();

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/** Rejects when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A test's own data port, the kind a client opens for PORT/EPRT. */
class DataPort {
  readonly listener: Deno.TcpListener;

  constructor(hostname = "127.0.0.1") {
    this.listener = Deno.listen({ hostname, port: 0, transport: "tcp" });
    assert(this.port >= 1024, `ephemeral port ${this.port} should be unprivileged`);
  }

  get port(): number {
    return this.listener.addr.port;
  }

  /** `h1,h2,h3,h4,p1,p2` for PORT. */
  portArg(host = "127.0.0.1"): string {
    return `${host.split(".").join(",")},${this.port >> 8},${this.port & 255}`;
  }

  /** Accepts the server's connection (bounded). */
  accept(ms = 5000): Promise<Deno.TcpConn> {
    return within(this.listener.accept(), ms, "server's data connection");
  }

  /** True when nothing connected within `ms`; the listener is closed either way. */
  async nothingWithin(ms: number): Promise<boolean> {
    const timer = setTimeout(() => this.close(), ms);
    try {
      const conn = await this.listener.accept();
      conn.close();
      return false;
    } catch {
      return true;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    try {
      this.listener.close();
    } catch {
      // Already closed.
    }
  }
}

/** Sends a transfer command, accepts the server's connection, expects 150. */
async function startActive(c: RawClient, port: DataPort, command: string): Promise<Deno.TcpConn> {
  await c.send(command);
  const conn = await port.accept();
  const opening = await c.read();
  assertEquals(opening.code, 150, `${command} -> ${opening.text}`);
  return conn;
}

async function expectDone(c: RawClient, what: string): Promise<void> {
  const done = await within(c.read(), 10_000, `${what} final reply`);
  assertEquals(done.code, 226, `${what} -> ${done.text}`);
}

/** Downloads over a server-initiated connection set up by `setup` (PORT or EPRT line). */
async function activeRetrieve(c: RawClient, setup: (p: DataPort) => string, path: string) {
  const port = new DataPort();
  try {
    await c.expect(setup(port), 200);
    const conn = await startActive(c, port, `RETR ${path}`);
    assertEquals(conn.remoteAddr.hostname, "127.0.0.1");
    const bytes = await within(readAll(conn), 10_000, "RETR data");
    await expectDone(c, `RETR ${path}`);
    return bytes;
  } finally {
    port.close();
  }
}

async function activeStore(
  c: RawClient,
  setup: (p: DataPort) => string,
  path: string,
  bytes: Uint8Array,
): Promise<void> {
  const port = new DataPort();
  try {
    await c.expect(setup(port), 200);
    const conn = await startActive(c, port, `STOR ${path}`);
    await writeAllAndClose(conn, bytes);
    await expectDone(c, `STOR ${path}`);
  } finally {
    port.close();
  }
}

async function activeListing(c: RawClient, setup: (p: DataPort) => string, command: string) {
  const port = new DataPort();
  try {
    await c.expect(setup(port), 200);
    const conn = await startActive(c, port, command);
    const text = decoder.decode(await within(readAll(conn), 10_000, `${command} data`));
    await expectDone(c, command);
    return text;
  } finally {
    port.close();
  }
}

const viaPort = (p: DataPort) => `PORT ${p.portArg()}`;
const viaEprt = (p: DataPort) => `EPRT |1|127.0.0.1|${p.port}|`;

async function fileSha(path: string): Promise<string> {
  return await sha256(await Deno.readFile(path));
}

function ipv6Available(): boolean {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Raw client
// ---------------------------------------------------------------------------

Deno.test("PORT: RETR, STOR, LIST, NLST and MLSD over server-initiated connections", async () => {
  await withSession({}, async (c, s) => {
    for (const size of [0, 1, 1024 * 1024 + 7]) {
      const bytes = randomBytes(size);
      await activeStore(c, viaPort, `up${size}.bin`, bytes);
      assertEquals(await fileSha(`${s.root}/up${size}.bin`), await sha256(bytes));
      const back = await activeRetrieve(c, viaPort, `up${size}.bin`);
      assertEquals(back.length, size);
      assertEquals(await sha256(new Uint8Array(back)), await sha256(bytes));
    }
    await Deno.mkdir(`${s.root}/dir`);
    const list = await activeListing(c, viaPort, "LIST");
    for (const name of ["up0.bin", "up1.bin", "up1048583.bin", "dir"]) {
      assertMatch(list, new RegExp(` ${name.replace(".", "\\.")}\\r\\n`), `LIST shows ${name}`);
    }
    const names = (await activeListing(c, viaPort, "NLST")).split("\r\n").filter((n) => n);
    assertEquals(names.sort(), ["dir", "up0.bin", "up1.bin", "up1048583.bin"]);
    assertMatch(await activeListing(c, viaPort, "MLSD"), /type=dir;.* dir\r\n/);
    // Leading zeros in PORT fields are still the same address.
    const zeros = (p: DataPort) => `PORT 127,000,00,001,${p.port >> 8},${p.port & 255}`;
    assertEquals(decoder.decode(await activeRetrieve(c, zeros, "up1.bin")).length, 1);
    assertEquals(s.server.passivePortsInUse, 0);
  });
});

Deno.test("EPRT |1|: byte-exact RETR/STOR and listings; any delimiter works", async () => {
  await withSession({}, async (c, s) => {
    const bytes = randomBytes(300_000);
    await activeStore(c, viaEprt, "e.bin", bytes);
    assertEquals(await fileSha(`${s.root}/e.bin`), await sha256(bytes));
    assertEquals(
      await sha256(new Uint8Array(await activeRetrieve(c, viaEprt, "e.bin"))),
      await sha256(bytes),
    );
    const bang = (p: DataPort) => `EPRT !1!127.0.0.1!${p.port}!`;
    assertEquals((await activeListing(c, bang, "NLST")).trim(), "e.bin");
    assertMatch(await activeListing(c, viaEprt, "MLSD"), /type=file;size=300000;.* e\.bin\r\n/);
    const feat = await c.expect("FEAT", 211);
    assertMatch(feat.text, /^ EPRT$/m);
  });
});

Deno.test({
  name: "EPRT |2| works over an IPv6 control connection; |1| and PORT there are refused",
  ignore: !ipv6Available(),
}, async () => {
  await withServer({ adjust: (c) => c.listenAddress = "::1" }, async (s) => {
    const c = await RawClient.connect(s.port, "::1");
    await c.expect("USER demo", 331);
    await c.expect("PASS demo", 230);
    await c.expect("TYPE I", 200);
    await Deno.writeTextFile(`${s.root}/six.txt`, "over IPv6");
    for (const address of ["::1", "0:0:0:0:0:0:0:1"]) {
      const port = new DataPort("::1");
      try {
        await c.expect(`EPRT |2|${address}|${port.port}|`, 200);
        const conn = await startActive(c, port, "RETR six.txt");
        assertEquals(conn.remoteAddr.hostname, "::1");
        assertEquals(decoder.decode(await readAll(conn)), "over IPv6");
        await expectDone(c, "RETR six.txt");
      } finally {
        port.close();
      }
    }
    const mismatch = await c.expect("EPRT |1|127.0.0.1|5000|", 522);
    assertMatch(mismatch.text, /Network protocol not supported, use \(2\)/);
    const port = await c.command("PORT 127,0,0,1,19,136");
    assertEquals(port.code, 500, port.text);
    assertMatch(port.text, /IPv4-only.*use EPRT/);
    await c.expect("EPRT |2|::2|5000|", 500);
    c.close();
  });
});

Deno.test("PORT/EPRT to a port below 1024 is refused and prepares nothing", async () => {
  await withServer({}, async (s) => {
    const secret = randomBytes(1000);
    await Deno.writeFile(`${s.root}/secret.bin`, secret);
    const c = await RawClient.login(s.port);
    for (const line of ["PORT 127,0,0,1,0,21", "PORT 127,0,0,1,3,255", "PORT 127,0,0,1,0,0"]) {
      const reply = await c.expect(line, 504);
      assertMatch(reply.text, /Illegal PORT command: port \d+ refused \(ports below 1024/);
      // Nothing prepared: the transfer has no data connection and never connects anywhere.
      await c.expect("RETR secret.bin", 425);
    }
    const eprt = await c.expect("EPRT |1|127.0.0.1|25|", 504);
    assertMatch(eprt.text, /Illegal EPRT command: port 25 refused/);
    await c.expect("RETR secret.bin", 425);
    // A refused PORT also drops an earlier PASV preparation (and its port).
    await c.expect("PASV", 227);
    assertEquals(s.server.passivePortsInUse, 1);
    await c.expect("PORT 127,0,0,1,0,80", 504);
    assertEquals(s.server.passivePortsInUse, 0);
    // Port 1024 is the first one allowed.
    await c.expect("PORT 127,0,0,1,4,0", 200);
    // The session goes on: a passive transfer works.
    const data = await c.pasv();
    await c.expect("RETR secret.bin", 150);
    assertEquals(await readAll(data), secret);
    await expectDone(c, "PASV RETR");
    c.close();
  });
});

Deno.test("PORT/EPRT naming another address is refused; nothing connects there", async () => {
  await withServer({}, async (s) => {
    const elsewhere = new DataPort("127.0.0.2");
    try {
      await Deno.writeTextFile(`${s.root}/secret.txt`, "secret");
      const c = await RawClient.login(s.port);
      const lines = [
        `PORT ${elsewhere.portArg("127.0.0.2")}`,
        `EPRT |1|127.0.0.2|${elsewhere.port}|`,
        `EPRT |1|127.000.000.002|${elsewhere.port}|`,
        `PORT ${elsewhere.portArg("10.1.2.3")}`,
      ];
      for (const line of lines) {
        const reply = await c.expect(line, 500);
        assertMatch(reply.text, /Illegal (PORT|EPRT) command: address must be the client's own/);
        await c.expect("RETR secret.txt", 425);
        await c.expect("LIST", 425);
      }
      assert(await elsewhere.nothingWithin(500), "the server connected to a third party");
      c.close();
    } finally {
      elsewhere.close();
    }
  });
});

Deno.test("malformed PORT and EPRT are 501; unknown EPRT protocols are 522", async () => {
  await withServer({}, async (s) => {
    const c = await RawClient.login(s.port);
    const malformed = [
      "PORT",
      "PORT 1,2,3",
      "PORT 127,0,0,1,4",
      "PORT 127,0,0,1,4,0,1",
      "PORT 127,0,0,1,256,1",
      "PORT 127,0,0,1,4,-1",
      "PORT a,b,c,d,e,f",
      "PORT 127.0.0.1,4,0",
      "PORT 127,0,0,1,4,0x10",
      "EPRT",
      "EPRT |1|127.0.0.1|",
      "EPRT |1|127.0.0.1|5000",
      "EPRT |1|127.0.0.1|70000|",
      "EPRT |1|127.0.0.1|50x|",
      "EPRT |1|127.0.1|5000|",
      "EPRT |1|127.0.0.256|5000|",
      "EPRT |1|localhost|5000|",
      "EPRT |x|127.0.0.1|5000|",
      "EPRT 1127.0.0.11500001",
      "EPRT |2|zz::1|5000|",
      "EPRT |2|127.0.0.1|5000|",
      "EPRT |1|127.0.0.1|5000|extra|",
    ];
    for (const line of malformed) await c.expect(line, 501);
    const unknown = await c.expect("EPRT |3|127.0.0.1|5000|", 522);
    assertMatch(unknown.text, /Network protocol not supported, use \(1\)/);
    const v6 = await c.expect("EPRT |2|::1|5000|", 522);
    assertMatch(v6.text, /Network protocol not supported, use \(1\)/);
    await c.expect("LIST", 425); // nothing was prepared
    c.close();
    const anonymous = await RawClient.connect(s.port);
    await anonymous.expect("PORT 127,0,0,1,19,136", 530);
    anonymous.close();
  });
});

Deno.test("active_mode = false: PORT and EPRT are 502; passive still works", async () => {
  await withServer({ adjust: (c) => c.activeMode = false }, async (s) => {
    const port = new DataPort();
    try {
      await Deno.writeTextFile(`${s.root}/f.txt`, "passive only");
      const c = await RawClient.login(s.port);
      const replies = [
        await c.expect(`PORT ${port.portArg()}`, 502),
        await c.expect(`EPRT |1|127.0.0.1|${port.port}|`, 502),
      ];
      for (const reply of replies) {
        assertMatch(reply.text, /Active mode is disabled on this server; use PASV or EPSV/);
      }
      await c.expect("RETR f.txt", 425);
      assert(await port.nothingWithin(300), "no connection while active mode is off");
      assertEquals(decoder.decode(await c.retrieve("f.txt")), "passive only");
      c.close();
    } finally {
      port.close();
    }
  });
});

Deno.test("after EPSV ALL, PORT and EPRT are 501", async () => {
  await withSession({}, async (c) => {
    await c.expect("EPSV ALL", 200);
    const port = new DataPort();
    try {
      for (const line of [`PORT ${port.portArg()}`, `EPRT |1|127.0.0.1|${port.port}|`]) {
        const reply = await c.expect(line, 501);
        assertMatch(reply.text, /EPSV ALL/);
      }
      await c.expect("PASV", 501);
      assert(await port.nothingWithin(200), "no connection after a refused PORT");
    } finally {
      port.close();
    }
    assertEquals((await c.listing("NLST")).trim(), "");
  });
});

Deno.test("a new PORT/EPRT/PASV/EPSV replaces the prepared data connection", async () => {
  await withServer({}, async (s) => {
    await Deno.writeTextFile(`${s.root}/f.txt`, "latest wins");
    const c = await RawClient.login(s.port);
    // PASV then PORT: the passive port is released, the transfer goes active.
    await c.expect("PASV", 227);
    assertEquals(s.server.passivePortsInUse, 1);
    const first = new DataPort();
    const second = new DataPort();
    try {
      await c.expect(`PORT ${first.portArg()}`, 200);
      assertEquals(s.server.passivePortsInUse, 0);
      // PORT then EPRT: only the last one is used.
      await c.expect(`EPRT |1|127.0.0.1|${second.port}|`, 200);
      const conn = await startActive(c, second, "RETR f.txt");
      assertEquals(decoder.decode(await readAll(conn)), "latest wins");
      await expectDone(c, "RETR");
      assert(await first.nothingWithin(200), "the replaced PORT target got a connection");
      // PORT then EPSV: the transfer goes passive, nothing connects to the PORT target.
      const third = new DataPort();
      await c.expect(`PORT ${third.portArg()}`, 200);
      assertEquals(decoder.decode(await c.retrieve("f.txt")), "latest wins");
      assert(await third.nothingWithin(200), "the replaced PORT target got a connection");
      // ABOR drops a prepared PORT too.
      const fourth = new DataPort();
      await c.expect(`PORT ${fourth.portArg()}`, 200);
      await c.expect("ABOR", 226);
      await c.expect("RETR f.txt", 425);
      assert(await fourth.nothingWithin(200), "ABOR should drop the PORT target");
      // One PORT serves one transfer.
      await c.expect(`PORT ${second.portArg()}`, 200);
      const again = await startActive(c, second, "RETR f.txt");
      await readAll(again);
      await expectDone(c, "RETR");
      await c.expect("RETR f.txt", 425);
    } finally {
      first.close();
      second.close();
    }
    assertEquals(s.server.passivePortsInUse, 0);
    c.close();
  });
});

Deno.test("a refused connect is 425 with the reason; a failed STOR stores nothing", async () => {
  await withSession({}, async (c, s) => {
    const closed = new DataPort();
    const port = closed.port;
    closed.close(); // nothing listens there now
    await c.expect(`PORT 127,0,0,1,${port >> 8},${port & 255}`, 200);
    const retr = await within(c.command("LIST"), 10_000, "LIST reply");
    assertEquals(retr.code, 425, retr.text);
    assertMatch(retr.text, /^425 Can't open data connection: connection refused by 127\.0\.0\.1/);
    await c.expect(`EPRT |1|127.0.0.1|${port}|`, 200);
    await c.expect("STOR never.bin", 425);
    assert(!(await Deno.stat(`${s.root}/never.bin`).then(() => true, () => false)));
    // The session goes on.
    const bytes = randomBytes(5000);
    await activeStore(c, viaPort, "ok.bin", bytes);
    assertEquals(await Deno.readFile(`${s.root}/ok.bin`), bytes);
  });
});

/**
 * A port whose connects hang: a Python listener with a full backlog (Linux
 * drops further SYNs). Deno.listen cannot set a backlog.
 */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      `
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(0)
held = socket.create_connection(s.getsockname())
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const first = await within(reader.read(), 10_000, "python black hole");
  const port = Number(first.value?.trim());
  assert(port >= 1024, `bad port from python: ${first.value}`);
  return {
    port,
    async close() {
      await child.stdin.close().catch(() => {});
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

Deno.test({
  name: "a hanging connect: bounded by passive_accept_timeout (425), and ABOR stops it",
  ...needs("python3"),
}, async () => {
  const hole = await blackHole();
  await withSession({ adjust: (c) => c.passiveAcceptTimeoutMs = 400 }, async (c) => {
    const arg = `127,0,0,1,${hole.port >> 8},${hole.port & 255}`;
    await c.expect(`PORT ${arg}`, 200);
    const started = Date.now();
    const timedOut = await within(c.command("NLST"), 5000, "NLST reply");
    assertEquals(timedOut.code, 425, timedOut.text);
    assertMatch(
      timedOut.text,
      /Can't open data connection: no answer from 127\.0\.0\.1 port \d+ in time/,
    );
    assert(Date.now() - started >= 350, "the connect gave up before its timeout");
  });
  const unlimited = await startServer((c) => c.passiveAcceptTimeoutMs = 0);
  try {
    await Deno.writeTextFile(`${unlimited.root}/f.txt`, "x");
    const c = await RawClient.login(unlimited.port);
    await c.expect(`EPRT |1|127.0.0.1|${hole.port}|`, 200);
    await c.send("RETR f.txt");
    await new Promise((r) => setTimeout(r, 200)); // the connect is in progress
    await c.send("ABOR");
    const replies = [
      await within(c.read(), 5000, "aborted transfer reply"),
      await within(c.read(), 5000, "ABOR reply"),
    ];
    assertEquals(replies.map((r) => r.code), [426, 226], replies.map((r) => r.text).join("\n"));
    // The session goes on.
    assertEquals(decoder.decode(await c.retrieve("f.txt")), "x");
    c.close();
    await eventually(() => unlimited.server.sessionCount === 0);
  } finally {
    await unlimited.stop();
    await hole.close();
  }
});

// ---------------------------------------------------------------------------
// Real clients
// ---------------------------------------------------------------------------

Deno.test({
  name: "curl active mode (-P -, EPRT and PORT): byte-exact up and down",
  ...needs("curl"),
}, async (t) => {
  await withServerDir({}, async (s, local) => {
    const payload = randomBytes(700_000);
    await Deno.writeFile(`${local}/payload.bin`, payload);

    await t.step("upload and download with -P - (EPRT)", async () => {
      const up = ok(
        await curl(["-v", "-P", "-", "-T", `${local}/payload.bin`, ftpUrl(s, "/c.bin")]),
        "upload",
      );
      assertMatch(up.stderr, /^> EPRT \|1\|127\.0\.0\.1\|\d+\|/m, "curl used EPRT");
      assert(!/^> (EPSV|PASV)/m.test(up.stderr), "no passive command expected");
      assertEquals(await fileSha(`${s.root}/c.bin`), await sha256(payload));
      const down = ok(
        await curl(["-v", "-P", "-", "-o", `${local}/c.back`, ftpUrl(s, "/c.bin")]),
        "download",
      );
      assertMatch(down.stderr, /^> EPRT /m);
      assertEquals(await fileSha(`${local}/c.back`), await sha256(payload));
    });

    await t.step("upload and download with --ftp-port - --disable-eprt (PORT)", async () => {
      const up = ok(
        await curl([
          "-v",
          "--ftp-port",
          "-",
          "--disable-eprt",
          "-T",
          `${local}/payload.bin`,
          ftpUrl(s, "/p.bin"),
        ]),
        "upload",
      );
      assertMatch(up.stderr, /^> PORT 127,0,0,1,\d+,\d+\r?$/m, "curl used PORT");
      assertEquals(await fileSha(`${s.root}/p.bin`), await sha256(payload));
      const down = ok(
        await curl([
          "-v",
          "--ftp-port",
          "-",
          "--disable-eprt",
          "-o",
          `${local}/p.back`,
          ftpUrl(s, "/p.bin"),
        ]),
        "download",
      );
      assertMatch(down.stderr, /^> PORT /m);
      assertEquals(await fileSha(`${local}/p.back`), await sha256(payload));
    });

    await t.step("listing with --ftp-port 127.0.0.1", async () => {
      const r = ok(await curl(["-v", "--ftp-port", "127.0.0.1", ftpUrl(s, "/")]), "LIST");
      assertMatch(r.stderr, /^> (EPRT|PORT) /m);
      for (const name of ["c.bin", "p.bin"]) {
        assertMatch(r.stdout, new RegExp(` 700000 .* ${name.replace(".", "\\.")}\\r?$`, "m"));
      }
      const names = ok(
        await curl(["--ftp-port", "127.0.0.1", "--disable-eprt", "-l", ftpUrl(s, "/")]),
        "NLST",
      );
      assertEquals(names.stdout.split(/\r?\n/).filter((n) => n).sort(), ["c.bin", "p.bin"]);
    });

    await t.step("an address that is not the client's own is refused", async () => {
      // curl sends PORT with the address it is told; the server must refuse it.
      const r = await curl(["-v", "--ftp-port", "127.0.0.2", "--disable-eprt", ftpUrl(s, "/")]);
      assert(r.code !== 0, `curl should fail:\n${show(r)}`);
      assertMatch(r.stderr, /^< 500 Illegal PORT command: address must be the client's own/m);
    });
  });
});

Deno.test(
  { name: "lftp with ftp:passive-mode off: put, get, ls byte-exact", ...needs("lftp") },
  async () => {
    await withServerDir({}, async (s, local) => {
      const payload = randomBytes(400_000);
      await Deno.writeFile(`${local}/l.bin`, payload);
      const script = [
        "set cmd:fail-exit yes",
        "set ftp:passive-mode off",
        "set net:max-retries 1",
        "set net:timeout 10",
        "set net:reconnect-interval-base 1",
        "debug 5",
        `put ${local}/l.bin -o /l.bin`,
        `get /l.bin -o ${local}/l.back`,
        "ls /",
        "quit",
      ].join("; ");
      const r = ok(
        await run("lftp", ["-u", "demo,demo", "-p", String(s.port), "127.0.0.1", "-e", script], {
          timeoutMs: CLIENT_TIMEOUT_MS,
        }),
        "lftp",
      );
      const log = `${r.stdout}\n${r.stderr}`;
      assertMatch(log, /---> (PORT|EPRT) /, "lftp used active mode");
      assert(!/---> (PASV|EPSV)/.test(log), `lftp used passive mode:\n${show(r)}`);
      assertEquals(await fileSha(`${s.root}/l.bin`), await sha256(payload));
      assertEquals(await fileSha(`${local}/l.back`), await sha256(payload));
      assertMatch(r.stdout, /400000 .* l\.bin$/m, "ls shows the uploaded file");
    });
  },
);

Deno.test({
  name: "python ftplib set_pasv(False): storbinary/retrbinary byte-exact",
  ...needs("python3"),
}, async () => {
  await withServerDir({}, async (s, local) => {
    const payload = randomBytes(500_000);
    await Deno.writeFile(`${local}/py.bin`, payload);
    const r = await python(
      `
import ftplib, hashlib, sys
port, local = int(sys.argv[1]), sys.argv[2]
${ftplibLogin("port", { timeout: 15 })}
ftp.set_pasv(False)
ftp.set_debuglevel(1)
with open(local + "/py.bin", "rb") as f:
    print(ftp.storbinary("STOR py.bin", f))
with open(local + "/py.back", "wb") as f:
    print(ftp.retrbinary("RETR py.bin", f.write))
print("names", sorted(ftp.nlst()))
ftp.sendcmd("EPSV ALL")
try:
    ftp.sendport("127.0.0.1", 40000)
except ftplib.error_perm as e:
    print("after EPSV ALL:", e)
ftp.quit()
`,
      [String(s.port), local],
      CLIENT_TIMEOUT_MS,
    );
    ok(r, "ftplib");
    assertMatch(r.stdout, /^226 Transfer complete: 500000 bytes stored$/m);
    assertMatch(r.stdout, /\*cmd\* 'PORT 127,0,0,1,\d+,\d+'/, "ftplib used PORT");
    assertMatch(r.stdout, /names \['py\.bin'\]/);
    assertMatch(r.stdout, /after EPSV ALL: 501 /);
    assertEquals(await fileSha(`${s.root}/py.bin`), await sha256(payload));
    assertEquals(await fileSha(`${local}/py.back`), await sha256(payload));
  });
});
