/**
 * Hostile clients: slowloris, thousands of idle connections, PASV/EPSV
 * floods, commands out of order, pipelined bursts, NUL bytes, invalid UTF-8,
 * Telnet sequences and overlong lines. After each, the server must still
 * serve a normal client byte-exact and hold no session or passive port.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { RawClient, type RawReply } from "./support/raw_client.ts";
import { eventually, randomBytes, sha256, startServer, type TestServer } from "./support/server.ts";
import { withServer } from "./support/kit.ts";

const MIB = 1024 * 1024;
const encoder = new TextEncoder();

/** Writes all of `bytes` (a single write may take only part of them). */
async function writeAll(c: RawClient, bytes: Uint8Array | string): Promise<void> {
  const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
  for (let at = 0; at < data.length;) at += await c.conn.write(data.subarray(at));
}

/** Races `promise` against a deadline. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A normal client's visit: log in, upload, list, download byte-exact, quit. */
async function normalVisit(s: TestServer, name: string, size = MIB + 17): Promise<void> {
  const c = await RawClient.login(s.port);
  try {
    const bytes = randomBytes(size);
    await c.store(name, bytes);
    assertMatch(await c.listing("NLST"), new RegExp(`^${name}\\r$`, "m"));
    const back = await c.retrieve(name);
    assertEquals(await sha256(new Uint8Array(back)), await sha256(bytes), `${name} round trip`);
    await c.expect("QUIT", 221);
  } finally {
    c.close();
  }
}

/** Every session and passive port is given back, and no session crashed. */
async function assertClean(s: TestServer): Promise<void> {
  await eventually(() => s.server.sessionCount === 0, 10_000);
  await eventually(() => s.server.passivePortsInUse === 0, 10_000);
  const log = await s.logText();
  assertEquals(log.split("\n").filter((l) => l.includes("session-crashed")), []);
}

function openFds(): number {
  let count = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
  return count;
}

/** The soft limit on open files of this process. */
function fdLimit(): number {
  const line = Deno.readTextFileSync("/proc/self/limits").split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined || soft === "unlimited" ? 1 << 20 : Number(soft);
}

/** The port a PASV or EPSV reply announces. */
function announcedPort(reply: RawReply): number {
  const epsv = /\(\|\|\|(\d+)\|\)/.exec(reply.text);
  if (epsv) return Number(epsv[1]);
  const pasv = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(reply.text);
  assert(pasv, `no port in ${reply.text}`);
  return Number(pasv[5]) * 256 + Number(pasv[6]);
}

Deno.test("hostile: slowloris partial lines are closed by the idle timeout; a normal client is served meanwhile", async () => {
  const IDLE_MS = 1500;
  await withServer({
    adjust: (c) => {
      c.idleTimeoutMs = IDLE_MS;
      c.maxConnections = 0;
      c.maxConnectionsPerIp = 0;
    },
  }, async (s) => {
    const slow: RawClient[] = [];
    const trickles: ReturnType<typeof setInterval>[] = [];
    try {
      const started = Date.now();
      for (let i = 0; i < 200; i++) {
        const c = await RawClient.connect(s.port);
        slow.push(c);
        if (i % 10 === 0) {
          // Over the line limit and still no line end: the server discards, it does not buffer.
          await writeAll(c, "STOR " + "A".repeat(64 * 1024));
        } else {
          await c.writeRaw(i % 2 ? "USER slowlor" : "NOOP");
        }
        if (i % 10 === 5) {
          // A byte every 200 ms, never a line end: bytes alone must not keep the connection.
          trickles.push(setInterval(() => c.writeRaw("x").catch(() => {}), 200));
        }
      }
      await normalVisit(s, "during-slowloris.bin", 2 * MIB + 5);
      // Every partial line is answered 421 by the idle timeout and closed.
      const deadline = started + IDLE_MS + 8000;
      await Promise.all(slow.map(async (c, i) => {
        const reply = await within(deadline - Date.now(), `slowloris ${i}`, c.read());
        assertEquals(reply.code, 421, reply.text);
        assert(await within(2000, `close of slowloris ${i}`, c.closedByServer()));
      }));
      const log = await s.logText();
      assert((log.match(/ idle-timeout /g)?.length ?? 0) >= 200, "200 idle timeouts logged");
      await normalVisit(s, "after-slowloris.bin");
      await assertClean(s);
    } finally {
      trickles.forEach(clearInterval);
      slow.forEach((c) => c.close());
    }
  });
});

Deno.test("hostile: 1500 idle connections (bounded by ulimit -n) while a normal client transfers byte-exact", async () => {
  const limit = fdLimit();
  // Client and server ends of each connection are both in this process.
  const count = Math.max(0, Math.min(1500, Math.floor((limit - openFds() - 300) / 2)));
  if (count < 1500) console.log(`open files limit ${limit}: holding ${count} connections`);
  assert(count >= 100, `open files limit ${limit} is too low for this test`);
  await withServer({
    adjust: (c) => {
      c.maxConnections = 0;
      c.maxConnectionsPerIp = 0;
    },
  }, async (s) => {
    const idle: RawClient[] = [];
    try {
      const started = Date.now();
      for (let i = 0; i < count; i += 100) {
        const batch = Array.from(
          { length: Math.min(100, count - i) },
          () => RawClient.connect(s.port),
        );
        idle.push(...await Promise.all(batch));
      }
      console.log(`${count} idle connections open in ${Date.now() - started} ms`);
      assertEquals(s.server.sessionCount, count);
      await normalVisit(s, "among-idle.bin", 3 * MIB + 1);
      // Some of the idle ones wake up and are answered.
      for (const c of idle.slice(0, 20)) await c.expect("NOOP", 200);
      idle.forEach((c) => c.close());
      await assertClean(s);
      await normalVisit(s, "after-idle.bin");
      await assertClean(s);
    } finally {
      idle.forEach((c) => c.close());
    }
  });
});

Deno.test("hostile: beyond max_connection_num new connections get 421; the held ones keep working", async () => {
  await withServer({
    adjust: (c) => {
      c.maxConnections = 50;
      c.maxConnectionsPerIp = 0;
    },
  }, async (s) => {
    const held: RawClient[] = [];
    try {
      for (let i = 0; i < 50; i++) held.push(await RawClient.connect(s.port));
      for (let i = 0; i < 20; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
        const text = new TextDecoder().decode(
          await within(5000, "refusal", new Response(conn.readable).arrayBuffer()),
        );
        assertMatch(text, /^421 /);
      }
      await held[0].expect("USER demo", 331);
      await held[0].expect("PASS demo", 230);
      await held[0].expect("PWD", 257);
      held.splice(0, 10).forEach((c) => c.close());
      await eventually(() => s.server.sessionCount === 40);
      await normalVisit(s, "after-refusals.bin");
      held.forEach((c) => c.close());
      await assertClean(s);
    } finally {
      held.forEach((c) => c.close());
    }
  });
});

Deno.test("hostile: 1000 PASV/EPSV in one session hold at most one port; abandoned data connections are closed", async () => {
  await withServer({}, async (s) => {
    const fdsBefore = openFds();
    const abandoned: Deno.TcpConn[] = [];
    try {
      const c = await RawClient.login(s.port);
      let maxInUse = 0;
      for (let i = 0; i < 1000; i++) {
        const reply = i % 2 ? await c.expect("EPSV", 229) : await c.expect("PASV", 227);
        maxInUse = Math.max(maxInUse, s.server.passivePortsInUse);
        assert(s.server.passivePortsInUse <= 1, `${s.server.passivePortsInUse} ports after ${i}`);
        if (i % 10 === 0) {
          // Connect and leave it: the next PASV must drop this connection.
          abandoned.push(await Deno.connect({ hostname: "127.0.0.1", port: announcedPort(reply) }));
        }
      }
      assertEquals(maxInUse, 1);
      // The server closed every connection it accepted and then dropped.
      await Promise.all(
        abandoned.map((conn, i) =>
          within(5000, `abandoned data connection ${i}`, new Response(conn.readable).arrayBuffer())
        ),
      );
      const bytes = randomBytes(MIB + 3);
      await c.store("after-pasv-flood.bin", bytes);
      assertEquals(await c.retrieve("after-pasv-flood.bin"), bytes);
      await c.expect("PASV", 227);
      await c.expect("QUIT", 221); // with a port prepared and never used
      c.close();
      await assertClean(s);
      await eventually(() => openFds() <= fdsBefore + 10, 5000).catch(() => {});
      assert(openFds() <= fdsBefore + 10, `fds: ${fdsBefore} before, ${openFds()} after`);
    } finally {
      abandoned.forEach((conn) => {
        try {
          conn.close();
        } catch {
          // Closed by reading it to the end.
        }
      });
    }
  });
});

Deno.test("hostile: PASV/EPSV floods across 50 sessions: at most one port each, all back when they leave", async () => {
  await withServer({}, async (s) => {
    let maxInUse = 0;
    await Promise.all(Array.from({ length: 50 }, async (_, n) => {
      const c = await RawClient.login(s.port);
      try {
        for (let i = 0; i < 40; i++) {
          await c.expect((i + n) % 2 ? "EPSV" : "PASV", (i + n) % 2 ? 229 : 227);
          maxInUse = Math.max(maxInUse, s.server.passivePortsInUse);
        }
        // Half say goodbye, half just vanish with a port prepared.
        if (n % 2) await c.expect("QUIT", 221);
      } finally {
        c.close();
      }
    }));
    assert(maxInUse <= 50, `${maxInUse} passive ports held by 50 sessions`);
    console.log(`50 sessions x 40 PASV/EPSV: at most ${maxInUse} ports held at once`);
    await assertClean(s);
    await normalVisit(s, "after-flood.bin");
    await assertClean(s);
  });
});

Deno.test("hostile: a 10-port passive range: PASV beyond it gets 425, the ports come back", async () => {
  // Above Linux's ephemeral range (32768-60999), so no client socket can be holding one.
  await withServer({ adjust: (c) => c.passivePorts = { min: 64100, max: 64109 } }, async (s) => {
    const holders: RawClient[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const c = await RawClient.login(s.port);
        await c.expect("EPSV", 229);
        holders.push(c);
      }
      assertEquals(s.server.passivePortsInUse, 10);
      const late = await RawClient.login(s.port);
      await late.expect("PASV", 425);
      await late.expect("EPSV", 425);
      assertEquals(s.server.passivePortsInUse, 10);
      holders.splice(0).forEach((c) => c.close());
      await eventually(() => s.server.passivePortsInUse === 0);
      const bytes = randomBytes(200_000);
      await late.store("late.bin", bytes);
      assertEquals(await late.retrieve("late.bin"), bytes);
      await late.expect("QUIT", 221);
      late.close();
      await assertClean(s);
    } finally {
      holders.forEach((c) => c.close());
    }
  });
});

Deno.test("hostile: commands out of order get sequence errors and the session goes on", async () => {
  await withServer({}, async (s) => {
    await Deno.writeFile(`${s.root}/present.txt`, encoder.encode("here"));
    const c = await RawClient.connect(s.port);
    await c.expect("PASS demo", 503); // PASS without USER
    for (const line of ["RNTO x", "RNFR present.txt", "RETR present.txt", "STOR x", "LIST"]) {
      await c.expect(line, 530); // before login
    }
    await c.expect("PASV", 530);
    await c.expect("USER demo", 331);
    await c.expect("PASS demo", 230);
    await c.expect("PASS demo", 503); // PASS again
    await c.expect("USER other", 503); // USER while logged in
    await c.expect("RNTO renamed.txt", 503); // RNTO without RNFR
    await c.expect("RNFR present.txt", 350);
    await c.expect("NOOP", 200);
    await c.expect("RNTO renamed.txt", 503); // RNFR must come right before RNTO
    await c.expect("RETR present.txt", 425); // no PASV
    await c.expect("STOR new.txt", 425);
    await c.expect("LIST", 425);
    await c.expect("NLST", 425);
    const abor = await c.command("ABOR"); // nothing to abort
    assert(abor.code === 225 || abor.code === 226, abor.text);
    await c.expect("REST 2", 350);
    await c.expect("REST 0", 350);
    await c.expect("PWD", 257);
    // Nothing moved, nothing was created.
    assertEquals(await Deno.readTextFile(`${s.root}/present.txt`), "here");
    const names = [];
    for await (const e of Deno.readDir(s.root)) if (!e.name.startsWith(".")) names.push(e.name);
    assertEquals(names, ["present.txt"]);
    await c.expect("TYPE I", 200);
    assertEquals(new TextDecoder().decode(await c.retrieve("present.txt")), "here");
    await c.expect("QUIT", 221);
    c.close();
    await normalVisit(s, "after-out-of-order.bin");
    await assertClean(s);
  });
});

Deno.test("hostile: pipelined bursts (200 in one write, 200 byte-trickled, 10,000 unread) are answered in order", async () => {
  await withServer({}, async (s) => {
    const c = await RawClient.login(s.port);
    const lines = Array.from(
      { length: 200 },
      (_, i) => i % 10 === 9 ? "PWD" : i % 10 === 4 ? "SYST" : `NOOP ${i}`,
    );
    const expected = lines.map((l) => l === "PWD" ? 257 : l === "SYST" ? 215 : 200);
    const readCodes = async (n: number) => {
      const codes: number[] = [];
      for (let i = 0; i < n; i++) codes.push((await c.read()).code);
      return codes;
    };
    const burst = encoder.encode(lines.map((l) => `${l}\r\n`).join(""));
    await writeAll(c, burst);
    assertEquals(await within(10_000, "burst replies", readCodes(200)), expected);

    // The same bytes cut into random slices of 1..7 bytes, sent one by one.
    const reading = within(20_000, "trickled replies", readCodes(200));
    for (let at = 0; at < burst.length;) {
      const n = 1 + Math.floor(Math.random() * 7);
      await c.writeRaw(burst.subarray(at, at + n));
      at += n;
    }
    assertEquals(await reading, expected);

    // 10,000 commands written before any reply is read: backpressure, not loss.
    const many = encoder.encode("NOOP\r\n".repeat(10_000) + "PWD\r\n");
    const writing = writeAll(c, many);
    await new Promise((r) => setTimeout(r, 300));
    const codes = await within(30_000, "10,000 replies", readCodes(10_001));
    await writing;
    assertEquals(codes.slice(0, 10_000).every((code) => code === 200), true);
    assertEquals(codes[10_000], 257);

    const bytes = randomBytes(500_000);
    await c.store("after-burst.bin", bytes);
    assertEquals(await c.retrieve("after-burst.bin"), bytes);
    await c.expect("QUIT", 221);
    c.close();
    await assertClean(s);
  });
});

Deno.test("hostile: NUL, invalid UTF-8, Telnet IAC, bare CR and overlong lines mid-session get one reply each", async () => {
  await withServer({}, async (s) => {
    const c = await RawClient.login(s.port);
    const sent = async (bytes: Uint8Array | string): Promise<RawReply> => {
      await writeAll(c, bytes);
      const reply = await within(5000, "reply", c.read());
      // Exactly one reply: the next command is answered as itself.
      await c.expect("PWD", 257);
      return reply;
    };
    assertEquals(
      (await sent(new Uint8Array([0x43, 0x57, 0x44, 0x20, 0xc3, 0x28, 13, 10]))).code,
      501,
    );
    assertEquals(
      (await sent(new Uint8Array([0x4e, 0x4f, 0xff, 0xf4, 0x4f, 0x50, 13, 10]))).code,
      200,
    );
    assertEquals(
      (await sent(new Uint8Array([0xff, 0xfb, 0x01, 0x4e, 0x4f, 0x4f, 0x50, 13, 10]))).code,
      200,
    );
    assert((await sent("NOOP\0\r\n")).code >= 500);
    assert((await sent("\0\0\0\r\n")).code >= 500);
    assert((await sent(new Uint8Array([0x80, 0x81, 0xfe, 13, 10]))).code >= 500);
    assert((await sent("PWD\rNOOP\r\n")).code >= 500);
    assertEquals((await sent("NOOP\n")).code, 200); // a bare LF ends a line too
    assertEquals((await sent("A".repeat(10_000) + "\r\n")).code, 500);
    assertEquals((await sent("NOOP " + "A".repeat(MIB) + "\r\n")).code, 500);
    assertEquals((await sent("STOR " + "\0".repeat(9000) + "\r\n")).code, 500);
    // Control characters in names are refused before anything is touched.
    for (const name of ["a\0b", "a\x1bb", "a\x7fb", "a\rb"]) {
      const data = await c.epsv();
      const reply = await sent(`STOR ${name}\r\n`);
      data.close();
      assertEquals(reply.code, 553, `STOR ${JSON.stringify(name)}: ${reply.text}`);
    }
    await c.writeRaw("\r\n\r\n\n"); // empty lines: no reply at all
    await c.expect("PWD", 257);
    const names = [];
    for await (const e of Deno.readDir(s.root)) if (!e.name.startsWith(".")) names.push(e.name);
    assertEquals(names, []);
    const bytes = randomBytes(700_001);
    await c.store("after-garbage.bin", bytes);
    assertEquals(await c.retrieve("after-garbage.bin"), bytes);
    await c.expect("QUIT", 221);
    c.close();
    await normalVisit(s, "after-garbage-2.bin");
    await assertClean(s);
  });
});

Deno.test("hostile: control characters a client sends never reach the log raw", async () => {
  await withServer({}, async (s) => {
    const c = await RawClient.connect(s.port);
    // Before login: a user name with ESC (terminal escape), BEL and NUL.
    await c.expect("USER evil\x1b[2J\x07\0x", 331);
    await c.expect("PASS wrong", 530);
    await c.expect("USER demo", 331);
    await c.expect("PASS demo", 230);
    await c.expect("DELE x\x1b[31mred", 553);
    await c.expect("QUIT", 221);
    c.close();
    await eventually(() => s.server.sessionCount === 0);
    const log = await s.logText();
    const raw = log.split("\n").filter((line) =>
      [...line].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)
    );
    assertEquals(raw, [], "log lines with raw control characters");
  });
});

Deno.test("hostile: a client that never reads replies is dropped; shutdown does not wait on it", async () => {
  const s = await startServer((c) => {
    c.idleTimeoutMs = 1000;
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: s.port });
  try {
    const flood = new TextEncoder().encode("FEAT\r\n".repeat(50_000));
    // Keep writing until the server stops reading us (our writes then block or fail).
    const writing = (async () => {
      for (let i = 0; i < 20; i++) await conn.write(flood);
    })().catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    await eventually(() => s.server.sessionCount === 0, 15_000);
    assertEquals(s.server.sessionCount, 0, "the session was dropped");
    assert(/client-not-reading/.test(await s.logText()), "logged why");
    conn.close();
    await writing;
  } finally {
    const started = Date.now();
    await s.stop();
    assert(Date.now() - started < 8000, "shutdown finished promptly");
  }
});
