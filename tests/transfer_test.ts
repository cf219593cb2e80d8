/**
 * Data transfers over raw sockets: byte-exact round trips, TYPE A, REST,
 * and every way an upload can fail leaving nothing behind.
 */

import { STAGING_DIR } from "../src/storage/local.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { python } from "./support/clients.ts";
import { RawClient, readAll, writeAllAndClose } from "./support/raw_client.ts";
import { eventually, randomBytes, sha256 } from "./support/server.ts";
import { withServer, withSession } from "./support/kit.ts";

/** Files in the staging directory: uploads that have not committed or been cleaned up. */
async function stagedFiles(root: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(`${root}/${STAGING_DIR}`)) names.push(entry.name);
  return names;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("round trips over PASV and EPSV are byte-exact (0 B, 1 B, 1 MiB + 1)", async () => {
  await withSession({}, async (c, s) => {
    for (const size of [0, 1, 1024 * 1024 + 1]) {
      const bytes = randomBytes(size);
      await c.store(`f${size}.bin`, bytes);
      assertEquals(
        await sha256(await Deno.readFile(`${s.root}/f${size}.bin`)),
        await sha256(bytes),
      );
      assertEquals(await c.retrieve(`f${size}.bin`), bytes);
      const data = await c.pasv();
      await c.expect(`RETR f${size}.bin`, 150);
      assertEquals(await readAll(data), bytes);
      assertEquals((await c.read()).code, 226);
    }
    assertEquals(s.server.passivePortsInUse, 0);
  });
});

Deno.test("TYPE A converts line ends both ways; TYPE I leaves bytes alone", async () => {
  await withSession({}, async (c, s) => {
    await c.expect("TYPE A", 200);
    const crlf = new TextEncoder().encode("one\r\ntwo\r\nlone\rcr\r\n");
    const data = await c.epsv();
    await c.expect("STOR text.txt", 150);
    await writeAllAndClose(data, crlf);
    assertEquals((await c.read()).code, 226);
    assertEquals(await Deno.readTextFile(`${s.root}/text.txt`), "one\ntwo\nlone\rcr\n");
    const down = await c.epsv();
    await c.expect("RETR text.txt", 150);
    assertEquals(new TextDecoder().decode(await readAll(down)), "one\r\ntwo\r\nlone\rcr\r\n");
    assertEquals((await c.read()).code, 226);
    await c.expect("TYPE I", 200);
    assertEquals(new TextDecoder().decode(await c.retrieve("text.txt")), "one\ntwo\nlone\rcr\n");
    await c.expect("TYPE E", 504);
    await c.expect("MODE B", 504);
    await c.expect("STRU R", 504);
  });
});

Deno.test("REST + RETR sends the tail; REST + STOR resumes; REST past the end is 554", async () => {
  await withSession({}, async (c, s) => {
    const bytes = randomBytes(100_000);
    await Deno.writeFile(`${s.root}/r.bin`, bytes);
    await c.expect("REST 60000", 350);
    assertEquals(await c.retrieve("r.bin"), bytes.subarray(60000));
    assertEquals(await c.retrieve("r.bin"), bytes); // REST applies once
    await c.expect("REST 100001", 350);
    await c.expect("RETR r.bin", 554);
    await c.expect("REST x", 501);
    await c.expect("REST 100001", 350);
    await c.expect("STOR r.bin", 554);
    assertEquals(await Deno.readFile(`${s.root}/r.bin`), bytes);
    const tail = randomBytes(5000);
    await c.expect("REST 60000", 350);
    await c.store("r.bin", tail);
    const resumed = await Deno.readFile(`${s.root}/r.bin`);
    assertEquals(resumed.length, 65000);
    assertEquals(resumed.subarray(0, 60000), bytes.subarray(0, 60000));
    assertEquals(resumed.subarray(60000), tail);
  });
});

Deno.test("ABOR mid-upload: 426 then 226, nothing stored, the old file intact", async () => {
  await withServer({}, async (s) => {
    const old = randomBytes(1000);
    await Deno.writeFile(`${s.root}/keep.bin`, old);
    const c = await RawClient.login(s.port);
    const data = await c.epsv();
    await c.expect("STOR keep.bin", 150);
    await data.write(randomBytes(300_000));
    const replies = [await c.command("ABOR"), await c.read()];
    assertEquals(replies.map((r) => r.code), [426, 226]);
    data.close();
    assertEquals(await Deno.readFile(`${s.root}/keep.bin`), old);
    assertEquals(await stagedFiles(s.root), []);
    await c.expect("ABOR", 226); // nothing running: still a positive reply
    const bytes = randomBytes(5000);
    await c.store("keep.bin", bytes); // the session goes on
    assertEquals(await Deno.readFile(`${s.root}/keep.bin`), bytes);
    c.close();
  });
});

Deno.test("control connection lost mid-upload: nothing stored, the old file intact", async () => {
  await withServer({}, async (s) => {
    await Deno.writeTextFile(`${s.root}/keep.txt`, "old");
    const c = await RawClient.login(s.port);
    const data = await c.epsv();
    await c.expect("STOR keep.txt", 150);
    await data.write(randomBytes(200_000));
    c.close();
    await new Promise((r) => setTimeout(r, 100));
    await writeAllAndClose(data, randomBytes(10)).catch(() => {});
    await eventually(() => s.server.sessionCount === 0);
    assertEquals(await Deno.readTextFile(`${s.root}/keep.txt`), "old");
    assertEquals(await stagedFiles(s.root), []);
    const log = await s.logText();
    assertMatch(
      log,
      /WARNING transfer .*command=STOR path=\/keep\.txt .*result="426 Control connection closed/,
    );
  });
});

Deno.test("a reset data connection is a broken upload, never a complete one", async () => {
  await withSession({}, async (c, s) => {
    const reply = await c.expect("EPSV", 229);
    const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
    await c.send("STOR reset.bin");
    // Python can send a TCP RST (SO_LINGER 0); Deno cannot.
    const sent = python(`
import socket, struct, time
s = socket.create_connection(("127.0.0.1", ${port}))
s.sendall(b"x" * 100000)
time.sleep(0.3)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`);
    assertEquals((await c.read()).code, 150);
    assertEquals((await sent).code, 0);
    const final = await c.read();
    assertEquals(final.code, 426, final.text);
    assert(!(await exists(`${s.root}/reset.bin`)), "no partial file");
    assertEquals(await stagedFiles(s.root), []);
  });
});

Deno.test("data connections from another address are refused (no transfer theft)", async () => {
  await withServer({}, async (s) => {
    await Deno.writeTextFile(`${s.root}/secret.txt`, "secret");
    const c = await RawClient.login(s.port);
    const reply = await c.expect("EPSV", 229);
    const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
    const thief = await python(`
import socket
s = socket.socket()
s.bind(("127.0.0.2", 0))
s.settimeout(5)
s.connect(("127.0.0.1", ${port}))
data = s.recv(100)
print("got", len(data))
`);
    assertMatch(thief.stdout, /got 0/);
    const data = await Deno.connect({ hostname: "127.0.0.1", port });
    await c.expect("RETR secret.txt", 150);
    assertEquals(new TextDecoder().decode(await readAll(data)), "secret");
    assertEquals((await c.read()).code, 226);
    c.close();
  });
});

Deno.test("passive ports: accept timeout is 425, ports return to the pool, EPSV ALL", async () => {
  await withServer({
    adjust: (c) => {
      c.passiveAcceptTimeoutMs = 300;
      c.passivePorts = { min: 41500, max: 41502 };
    },
  }, async (s) => {
    const c = await RawClient.login(s.port);
    await c.expect("PASV", 227);
    await c.send("LIST");
    assertEquals((await c.read()).code, 425);
    for (let i = 0; i < 20; i++) await c.expect(i % 2 ? "PASV" : "EPSV", i % 2 ? 227 : 229);
    assertEquals(s.server.passivePortsInUse, 1);
    await c.expect("RETR nothing", 550);
    await c.expect("EPSV ALL", 200);
    await c.expect("PASV", 501);
    await c.expect("EPSV 2", 522);
    await c.expect("STOR x", 425); // no data connection prepared
    c.close();
    await eventually(() => s.server.sessionCount === 0);
    assertEquals(s.server.passivePortsInUse, 0);
  });
});

Deno.test("single_file_max_size: 552 and nothing stored", async () => {
  await withSession({ adjust: (c) => c.singleFileMaxSize = 100_000 }, async (c, s) => {
    await c.store("fits.bin", randomBytes(100_000));
    const data = await c.epsv();
    await c.expect("STOR big.bin", 150);
    await writeAllAndClose(data, randomBytes(100_001)).catch(() => {});
    const final = await c.read();
    assertEquals(final.code, 552, final.text);
    assert(!(await exists(`${s.root}/big.bin`)));
    assertEquals(await stagedFiles(s.root), []);
  });
});

Deno.test("a stalled upload is aborted after data_timeout, nothing stored", async () => {
  await withSession({ adjust: (c) => c.dataTimeoutMs = 300 }, async (c, s) => {
    const data = await c.epsv();
    await c.expect("STOR stall.bin", 150);
    await data.write(randomBytes(1000));
    const final = await c.read();
    assertEquals(final.code, 426, final.text);
    assertMatch(final.text, /timed out/);
    assert(!(await exists(`${s.root}/stall.bin`)));
    data.close();
  });
});

Deno.test("shutdown: a transfer ending within the grace period commits; one past it is discarded", async () => {
  await withServer({ adjust: (c) => c.shutdownGraceMs = 800 }, async (s) => {
    const quick = await RawClient.login(s.port);
    const slow = await RawClient.login(s.port);
    const idle = await RawClient.login(s.port);
    const quickData = await quick.epsv();
    await quick.expect("STOR quick.bin", 150);
    const slowData = await slow.epsv();
    await slow.expect("STOR slow.bin", 150);
    await slowData.write(randomBytes(1000));
    const stopping = s.server.shutdown();
    assertEquals((await idle.read()).code, 421);
    const bytes = randomBytes(50_000);
    await writeAllAndClose(quickData, bytes);
    assertEquals((await quick.read()).code, 226);
    assertEquals((await quick.read()).code, 421);
    await stopping;
    assertEquals((await slow.read()).code, 421);
    assertEquals(await Deno.readFile(`${s.root}/quick.bin`), bytes);
    assert(!(await exists(`${s.root}/slow.bin`)), "the unfinished upload is not committed");
    assertEquals(await stagedFiles(s.root), []);
    for (const c of [quick, slow, idle]) c.close();
    slowData.close();
  });
});

Deno.test("masquerade_address: an IP is announced as is; a host name is resolved", async () => {
  for (const [masquerade, expected] of [["10.1.2.3", "10,1,2,3"], ["localhost", "127,0,0,1"]]) {
    await withSession({ adjust: (c) => c.masqueradeAddress = masquerade }, async (c) => {
      assertMatch((await c.expect("PASV", 227)).text, new RegExp(`\\(${expected},\\d+,\\d+\\)`));
    });
  }
});

Deno.test("IPv6: listen on ::1, EPSV transfers work, PASV says to use EPSV", async () => {
  await withServer({ adjust: (c) => c.listenAddress = "::1" }, async (s) => {
    const conn = await Deno.connect({ hostname: "::1", port: s.port });
    conn.close();
    const c = await RawClient.connect(s.port, "::1");
    await c.expect("USER demo", 331);
    await c.expect("PASS demo", 230);
    await c.expect("TYPE I", 200);
    await c.expect("PASV", 425);
    await c.expect("EPSV 1", 522);
    const reply = await c.expect("EPSV", 229);
    const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
    const data = await Deno.connect({ hostname: "::1", port });
    await c.expect("STOR v6.bin", 150);
    const bytes = randomBytes(70_000);
    await writeAllAndClose(data, bytes);
    assertEquals((await c.read()).code, 226);
    assertEquals(await Deno.readFile(`${s.root}/v6.bin`), bytes);
    c.close();
  });
});
