/**
 * The PROXY protocol parser (v1 and v2), its bounded reader, the trusted-network
 * gate over real sockets, and the CIDR ranges it matches.
 */

import { inRanges, parseCidr, parseCidrList } from "../src/config/cidr.ts";
import { settingsFromKeys } from "../src/config/globals.ts";
import { ProxyGate } from "../src/ftp/proxy_gate.ts";
import {
  type ByteSource,
  parseProxyHeader,
  readProxyHeader,
  V2_SIGNATURE,
} from "../src/ftp/proxy_protocol.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { TLS_CERT, withServer } from "./support/kit.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A v2 header: `family` byte, address block and extra TLV bytes. */
function v2(command: number, family: number, body: number[]): Uint8Array {
  return new Uint8Array([
    ...V2_SIGNATURE,
    0x20 | command,
    family,
    body.length >> 8,
    body.length & 255,
    ...body,
  ]);
}

const TCP4_BODY = [192, 0, 2, 7, 198, 51, 100, 1, 0xc3, 0x50, 0, 21];
const TCP6_SRC = [0x20, 0x01, 0x0d, 0xb8, ...new Array(12).fill(0)];
TCP6_SRC[15] = 5;
const TCP6_DST = [...new Array(15).fill(0), 1];
const TCP6_BODY = [...TCP6_SRC, ...TCP6_DST, 0x04, 0xd2, 0, 21];
/** A TLV: type 0x05 (unique id), length 3. */
const TLV = [0x05, 0, 3, 0x61, 0x62, 0x63];

/** Bytes delivered in the chunks the reader asks for, recording every request. */
class Source implements ByteSource {
  readonly asked: number[] = [];
  #at = 0;
  constructor(private readonly bytes: Uint8Array) {}
  read(buffer: Uint8Array): Promise<number | null> {
    this.asked.push(buffer.length);
    if (this.#at >= this.bytes.length) return Promise.resolve(null);
    const n = Math.min(buffer.length, this.bytes.length - this.#at);
    buffer.set(this.bytes.subarray(this.#at, this.#at + n));
    this.#at += n;
    return Promise.resolve(n);
  }
  get consumed(): number {
    return this.#at;
  }
}

Deno.test("v1 TCP4 and TCP6 give both ends; the reader stops exactly at the line's end", async () => {
  const line = "PROXY TCP4 192.0.2.7 198.51.100.1 50000 21\r\n";
  const step = parseProxyHeader(text(line), "v1");
  assert(step.done);
  assertEquals(step.length, line.length);
  assertEquals(step.header, {
    kind: "proxied",
    version: 1,
    source: { address: "192.0.2.7", port: 50000 },
    destination: { address: "198.51.100.1", port: 21 },
  });
  const source = new Source(text(line + "USER demo\r\n"));
  const read = await readProxyHeader(source, "any", 1000);
  assert(read.ok);
  assertEquals(source.consumed, line.length, "the FTP bytes after the header stay unread");
  const six = parseProxyHeader(text("PROXY TCP6 2001:db8::5 ::1 1234 21\r\n"), "any");
  assert(six.done && six.header.kind === "proxied");
  assertEquals(six.header.source, { address: "2001:db8::5", port: 1234 });
});

Deno.test("v1 UNKNOWN means the connection's own addresses", () => {
  for (const line of ["PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"]) {
    const step = parseProxyHeader(text(line), "v1");
    assert(step.done, line);
    assertEquals(step.header, { kind: "local", version: 1 });
  }
});

Deno.test("v2 TCP4, TCP6 (compressed like Deno's addresses), LOCAL, UNSPEC; TLVs skipped", async () => {
  const four = v2(1, 0x11, [...TCP4_BODY, ...TLV]);
  const step = parseProxyHeader(four, "v2");
  assert(step.done);
  assertEquals(step.length, four.length);
  assertEquals(step.header, {
    kind: "proxied",
    version: 2,
    source: { address: "192.0.2.7", port: 50000 },
    destination: { address: "198.51.100.1", port: 21 },
  });
  const six = parseProxyHeader(v2(1, 0x21, TCP6_BODY), "any");
  assert(six.done && six.header.kind === "proxied");
  assertEquals(six.header.source, { address: "2001:db8::5", port: 1234 });
  assertEquals(six.header.destination, { address: "::1", port: 21 });
  const local = parseProxyHeader(v2(0, 0x11, TCP4_BODY), "v2");
  assert(local.done);
  assertEquals(local.header, { kind: "local", version: 2 });
  const unspec = parseProxyHeader(v2(1, 0x00, []), "v2");
  assert(unspec.done);
  assertEquals(unspec.header.kind, "local");
  // The reader asks for 16 bytes, then exactly the announced rest: TLS bytes after it stay.
  const source = new Source(new Uint8Array([...four, 0x16, 0x03, 0x01]));
  const read = await readProxyHeader(source, "v2", 1000);
  assert(read.ok);
  assertEquals(source.asked, [16, TCP4_BODY.length + TLV.length]);
  assertEquals(source.consumed, four.length);
});

Deno.test("truncated headers wait for more; a closed connection fails", async () => {
  const line = text("PROXY TCP4 192.0.2.7 198.51.100.1 50000 21\r\n");
  for (let cut = 1; cut < line.length; cut++) {
    const step = parseProxyHeader(line.subarray(0, cut), "v1");
    assert(!step.done && "need" in step && step.need >= 1, `cut ${cut}`);
  }
  const header = v2(1, 0x11, TCP4_BODY);
  for (let cut = 1; cut < header.length; cut++) {
    const step = parseProxyHeader(header.subarray(0, cut), "v2");
    assert(!step.done && "need" in step, `cut ${cut}`);
    assert(cut + step.need <= header.length, "never asks past the header");
  }
  const read = await readProxyHeader(new Source(header.subarray(0, 20)), "v2", 1000);
  assertEquals(read, { ok: false, error: "connection closed before a PROXY header" });
});

Deno.test("garbage, wrong versions, oversize and malformed headers are errors", () => {
  const error = (bytes: Uint8Array, mode: "v1" | "v2" | "any" = "any") => {
    const step = parseProxyHeader(bytes, mode);
    return !step.done && "error" in step ? step.error : `no error: ${JSON.stringify(step)}`;
  };
  assertEquals(error(text("USER demo\r\n")), "not a PROXY header");
  assertEquals(error(text("\r\n\r\nXXXX")), "not a PROXY header");
  assertEquals(error(text("\x16\x03\x01\x02\x00")), "not a PROXY header");
  assertEquals(
    error(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"), "v2"),
    "PROXY v1 header where v2 is configured",
  );
  assertEquals(error(v2(1, 0x11, TCP4_BODY), "v1"), "PROXY v2 header where v1 is configured");
  assertEquals(error(text(`PROXY TCP4 ${"1".repeat(120)}`)), "PROXY v1 line longer than 107 bytes");
  assertEquals(error(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")), "malformed PROXY v1 line");
  assertEquals(error(text("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n")), "malformed PROXY v1 line");
  assertEquals(
    error(text("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n")),
    'unknown PROXY v1 protocol "TCP5"',
  );
  assertEquals(error(text("PROXY TCP4 ::1 ::1 1 2\r\n")), "bad address in PROXY v1 line");
  assertEquals(error(text("PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n")), "bad port in PROXY v1 line");
  assertEquals(error(text("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n")), "bad port in PROXY v1 line");
  const huge = v2(1, 0x11, TCP4_BODY);
  huge[14] = 0x20; // announces 8 KiB
  assertEquals(error(huge), "PROXY v2 header over 4096 bytes");
  const version3 = v2(1, 0x11, TCP4_BODY);
  version3[12] = 0x31;
  assertEquals(error(version3), "unsupported PROXY v2 version");
  const command2 = v2(2, 0x11, TCP4_BODY);
  assertEquals(error(command2), "unknown PROXY v2 command");
  assertEquals(error(v2(1, 0x11, TCP4_BODY.slice(0, 8))), "PROXY v2 address block too short");
  assertEquals(error(text("anything"), "any"), "not a PROXY header");
});

Deno.test("a silent sender times out", async () => {
  const silent: ByteSource = { read: () => new Promise(() => {}) };
  const started = Date.now();
  const read = await readProxyHeader(silent, "any", 100);
  assertEquals(read, { ok: false, error: "no PROXY header within 100 ms" });
  assert(Date.now() - started < 1000);
});

Deno.test("CIDR ranges: parsing, IPv4, IPv6, IPv4-mapped", () => {
  assertEquals(parseCidrList("127.0.0.1/32, ::1/128"), {
    ok: true,
    value: ["127.0.0.1/32", "::1/128"],
  });
  assertEquals(parseCidrList("10.0.0.1"), { ok: true, value: ["10.0.0.1/32"] });
  assert(!parseCidrList("10.0.0.0/33").ok);
  assert(!parseCidrList("example.com/8").ok);
  assert(!parseCidrList("10.0.0.0/8/1").ok);
  const ranges = ["10.0.0.0/8", "fd00::/8", "127.0.0.1/32"].map((r) => parseCidr(r)!);
  assert(inRanges("10.200.3.4", ranges));
  assert(inRanges("::ffff:10.1.2.3", ranges));
  assert(inRanges("fd12:3456::1", ranges));
  assert(inRanges("127.0.0.1", ranges));
  assert(!inRanges("127.0.0.2", ranges));
  assert(!inRanges("11.0.0.1", ranges));
  assert(!inRanges("fe80::1", ranges));
  assert(!inRanges("not-an-ip", ranges));
  assert(inRanges("2001:db8::1.2.3.4", [parseCidr("2001:db8::/96")!]));
});

Deno.test("config keys: proxy_protocol, proxy_trusted_networks, masquerade_address = control", () => {
  const settings = settingsFromKeys({
    proxy_protocol: "V2",
    proxy_trusted_networks: "10.0.0.0/8, fd00::/8 ,192.0.2.1",
    masquerade_address: "Control",
  }, "/");
  assertEquals(settings.proxyProtocol, "v2");
  assertEquals(settings.proxyTrustedNetworks, ["10.0.0.0/8", "fd00::/8", "192.0.2.1/32"]);
  assertEquals(settings.masqueradeAddress, "control");
  const defaults = settingsFromKeys({}, "/");
  assertEquals(defaults.proxyProtocol, "off");
  assertEquals(defaults.proxyTrustedNetworks, ["127.0.0.1/32", "::1/128"]);
  const bad = (values: Record<string, string>) => {
    try {
      settingsFromKeys(values, "/");
      return "accepted";
    } catch (error) {
      return String(error);
    }
  };
  assertMatch(bad({ proxy_protocol: "v3" }), /proxy_protocol: must be off, v1, v2 or any/);
  assertMatch(bad({ proxy_trusted_networks: "10.0.0.0/40" }), /not an address range/);
});

/** One connection accepted by a gate over real loopback sockets. */
async function throughGate(
  gate: ProxyGate,
  send: Uint8Array,
): Promise<{ admitted: Awaited<ReturnType<ProxyGate["admit"]>>; rest: string }> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  const conn = await listener.accept();
  await client.write(send);
  const admitted = await gate.admit(conn);
  let rest = "";
  if (admitted.ok) {
    client.closeWrite();
    const chunks: Uint8Array[] = [];
    for await (const chunk of conn.readable) chunks.push(chunk);
    rest = new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
  } else conn.close();
  client.close();
  return { admitted, rest };
}

Deno.test("the gate: trusted senders' headers are believed, others refused, off reads nothing", async () => {
  const header = text("PROXY TCP4 192.0.2.7 198.51.100.1 50000 21\r\nUSER demo\r\n");
  const on = new ProxyGate("any", ["127.0.0.1/32"], 500);
  const trusted = await throughGate(on, header);
  assert(trusted.admitted.ok);
  assertEquals(trusted.admitted.origin, {
    remote: "192.0.2.7",
    local: "198.51.100.1",
    bind: "127.0.0.1",
    proxied: true,
  });
  assertEquals(trusted.rest, "USER demo\r\n");
  const garbage = await throughGate(on, text("USER demo\r\n"));
  assertEquals(garbage.admitted, { ok: false, ip: "127.0.0.1", reason: "not a PROXY header" });
  const elsewhere = new ProxyGate("any", ["10.0.0.0/8"], 500);
  const untrusted = await throughGate(elsewhere, header);
  assertEquals(untrusted.admitted, {
    ok: false,
    ip: "127.0.0.1",
    reason: "not from proxy_trusted_networks",
  });
  const off = new ProxyGate("off", ["127.0.0.1/32"], 500);
  const plain = await throughGate(off, text("USER demo\r\n"));
  assert(plain.admitted.ok && !plain.admitted.origin.proxied);
  assertEquals(plain.rest, "USER demo\r\n");
});

// ---------------------------------------------------------------------------
// The server behind a PROXY-protocol sender, over real sockets
// ---------------------------------------------------------------------------

/** Reads CRLF-terminated replies from a connection. */
class Replies {
  #buffer = "";
  constructor(private readonly conn: Deno.Conn | Deno.TlsConn) {}
  /** The next complete reply (the final line of a multi-line one); "" at end of stream. */
  async next(): Promise<string> {
    const chunk = new Uint8Array(4096);
    while (true) {
      const match = /^(\d{3}) .*\r\n/m.exec(this.#buffer);
      if (match) {
        const end = match.index + match[0].length;
        const reply = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end);
        return reply.trimEnd();
      }
      const n = await this.conn.read(chunk).catch(() => null);
      if (n === null) return "";
      this.#buffer += new TextDecoder().decode(chunk.subarray(0, n));
    }
  }
  async send(line: string): Promise<string> {
    await this.conn.write(text(`${line}\r\n`));
    return await this.next();
  }
}

/** A connection to the server's `port` that starts with a v1 header from `client`. */
async function proxiedConn(port: number, client: string, header = true): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  if (header) await conn.write(text(`PROXY TCP4 ${client} 203.0.113.10 40000 21\r\n`));
  return conn;
}

async function readAllText(conn: Deno.Conn): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of conn.readable) chunks.push(chunk);
  return new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c])));
}

Deno.test("control and passive data connections: the header's client is used, PASV announces its destination", async () => {
  await withServer({
    adjust: (c) => {
      c.proxyProtocol = "v1";
      c.masqueradeAddress = "control";
    },
  }, async (s) => {
    await Deno.writeTextFile(`${s.root}/a.txt`, "alpha");
    const control = await proxiedConn(s.port, "198.51.100.7");
    const r = new Replies(control);
    assertEquals((await r.next()).slice(0, 3), "220");
    await r.send("USER demo");
    assertEquals((await r.send("PASS demo")).slice(0, 3), "230");
    const pasv = await r.send("PASV");
    const m = /\(203,0,113,10,(\d+),(\d+)\)/.exec(pasv);
    assert(m, `PASV announces the header's destination: ${pasv}`);
    const port = Number(m[1]) * 256 + Number(m[2]);
    // Another client (by its header) gets the data port closed on it; the real one is served.
    const thief = await proxiedConn(port, "198.51.100.8");
    assertEquals(await readAllText(thief), "", "a different client's data connection is closed");
    const data = await proxiedConn(port, "198.51.100.7");
    assertEquals((await r.send("NLST")).slice(0, 3), "150");
    assertEquals(await readAllText(data), "a.txt\r\n");
    assertEquals((await r.next()).slice(0, 3), "226");
    const epsv = await r.send("EPSV");
    assertMatch(epsv, /^229 .*\(\|\|\|\d+\|\)/);
    await r.send("QUIT");
    control.close();
    const log = await s.logText();
    assertMatch(log, / login .*ip=198\.51\.100\.7/);
    assert(!/ login .*ip=127\.0\.0\.1/.test(log), "logged the sender's address");
  });
});

Deno.test("implicit FTPS behind a balancer: the header comes before the TLS handshake", async () => {
  await withServer(
    { tls: { implicit: true }, adjust: (c) => c.proxyProtocol = "any" },
    async (s) => {
      const port = s.server.implicitAddress!.port;
      const plain = await proxiedConn(port, "198.51.100.9");
      const conn = await Deno.startTls(plain, {
        hostname: "localhost",
        caCerts: [await Deno.readTextFile(TLS_CERT)],
      });
      const r = new Replies(conn);
      assertEquals((await r.next()).slice(0, 3), "220");
      await r.send("USER demo");
      assertEquals((await r.send("PASS demo")).slice(0, 3), "230");
      await r.send("QUIT");
      conn.close();
      assertMatch(await s.logText(), / login .*ip=198\.51\.100\.9/);
    },
  );
});

Deno.test("refused: a trusted sender without a header, and a valid header from an untrusted address", async () => {
  await withServer({ adjust: (c) => c.proxyProtocol = "any" }, async (s) => {
    const bare = await proxiedConn(s.port, "", false);
    await bare.write(text("USER demo\r\n"));
    assertEquals(await readAllText(bare), "", "no banner without a header");
  });
  await withServer({
    adjust: (c) => {
      c.proxyProtocol = "any";
      c.proxyTrustedNetworks = ["10.0.0.0/8"];
    },
  }, async (s) => {
    const conn = await proxiedConn(s.port, "198.51.100.7");
    assertEquals(await readAllText(conn), "", "an untrusted sender gets nothing");
    const log = await s.logText();
    assertMatch(log, /proxy-refused .*ip=127\.0\.0\.1 .*not from proxy_trusted_networks/);
  });
});

/** Everything the server sends before it closes, or null if it is still open after `ms`. */
async function closedWithin(conn: Deno.Conn, ms: number): Promise<string | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), ms));
  try {
    return await Promise.race([readAllText(conn), late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("limits and bans count the header's client: 421 on the control port", async () => {
  await withServer({
    adjust: (c) => {
      c.proxyProtocol = "v1";
      c.maxConnectionsPerIp = 1;
      c.banAfterFailures = 1;
      c.loginFailDelayMs = 0;
    },
  }, async (s) => {
    const first = new Replies(await proxiedConn(s.port, "198.51.100.20"));
    assertEquals((await first.next()).slice(0, 3), "220");
    // The same client again (through the same sender): over its limit.
    const again = await proxiedConn(s.port, "198.51.100.20");
    assertMatch(await readAllText(again), /^421 .*\r\n$/);
    // Another client through the same sender is not: the limit is per header client.
    const other = new Replies(await proxiedConn(s.port, "198.51.100.21"));
    assertEquals((await other.next()).slice(0, 3), "220");
    // One failed login bans 198.51.100.21 (ban_after_failures = 1), not the sender.
    await other.send("USER demo");
    assertEquals((await other.send("PASS wrong")).slice(0, 3), "530");
    await other.send("QUIT");
    // The ban is counted before the 530 goes out: the next connection meets it.
    const banned = await proxiedConn(s.port, "198.51.100.21");
    assertMatch(await readAllText(banned), /^421 Temporarily banned/);
    const third = new Replies(await proxiedConn(s.port, "198.51.100.22"));
    assertEquals((await third.next()).slice(0, 3), "220");
    await third.send("QUIT");
    await first.send("QUIT");
    assertMatch(await s.logText(), /banned .*ip=198\.51\.100\.21/);
  });
});

Deno.test("implicit FTPS: a client over its limit by the header is closed before any TLS handshake", async () => {
  await withServer({
    tls: { implicit: true },
    adjust: (c) => {
      c.proxyProtocol = "v1";
      c.maxConnectionsPerIp = 1;
    },
  }, async (s) => {
    const port = s.server.implicitAddress!.port;
    const caCerts = [await Deno.readTextFile(TLS_CERT)];
    const tls = await Deno.startTls(await proxiedConn(port, "198.51.100.30"), {
      hostname: "localhost",
      caCerts,
    });
    const first = new Replies(tls);
    assertEquals((await first.next()).slice(0, 3), "220");
    // No ClientHello is sent: a server starting a handshake would wait for it, not close.
    const again = await proxiedConn(port, "198.51.100.30");
    assertEquals(await closedWithin(again, 3000), "", "closed at once, no byte sent");
    const other = await Deno.startTls(await proxiedConn(port, "198.51.100.31"), {
      hostname: "localhost",
      caCerts,
    });
    assertEquals((await new Replies(other).next()).slice(0, 3), "220");
    other.close();
    await first.send("QUIT");
    tls.close();
  });
});

Deno.test("shutdown closes a connection still waiting for its PROXY header, at once", async () => {
  await withServer({ adjust: (c) => c.proxyProtocol = "v1" }, async (s) => {
    const waiting = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
    // Half a header: the server has accepted it and now waits (up to 5 s) for the rest.
    await waiting.write(text("PROXY TCP4 198.51.100"));
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await s.server.shutdown();
    const took = Date.now() - started;
    assert(took < 2000, `shutdown took ${took} ms; the header wait would have held it 5 s`);
    assertEquals(await closedWithin(waiting, 1000), "", "the socket sees EOF");
  });
});
