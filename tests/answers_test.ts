/**
 * Right answers (issue 8): replies and listings that say what is true.
 * Each test drives the real server over real sockets, on the COS emulator
 * where the bug was COS-only, and asserts on reply text and listing content.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, run } from "./support/clients.ts";
import { BUCKET, type CosTestServer, startCosServer } from "./support/cos_server.ts";
import { RawClient, readAll } from "./support/raw_client.ts";
import { decodeEntities } from "../src/storage/cos/listing.ts";
import { freePort, startServer, type TestServer } from "./support/server.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Runs `fn` with a logged-in raw client on a fresh server; stops both after. */
async function withLoggedIn<S extends { port: number; stop(): Promise<void> }>(
  start: () => Promise<S>,
  fn: (s: S, c: RawClient) => Promise<void>,
): Promise<void> {
  const server = await start();
  const client = await RawClient.login(server.port);
  try {
    await fn(server, client);
  } finally {
    client.close();
    await server.stop();
  }
}

const withCos = (fn: (s: CosTestServer, c: RawClient) => Promise<void>) =>
  withLoggedIn(() => startCosServer(), fn);
const withLocal = (fn: (s: TestServer, c: RawClient) => Promise<void>) =>
  withLoggedIn(() => startServer(), fn);

/** Names of a LIST listing (the 9th field on). */
function listNames(text: string): string[] {
  return text.split("\r\n").filter(Boolean).map((line) => line.split(/ +/).slice(8).join(" "));
}

// ---- 1. A file and a directory never share a name (COS) ----

Deno.test("answers: STOR onto a COS directory name (marker or implicit) is refused, nothing stored", async () => {
  await withCos(async (server, client) => {
    await client.expect("MKD dd", 257);
    server.emulator.putObject(BUCKET, "implicit/child.txt", encoder.encode("x"));
    for (const name of ["dd", "implicit"]) {
      const data = await client.epsv();
      const refused = await client.command(`STOR ${name}`);
      data.close();
      assertEquals(refused.code, 550, refused.text);
      assertMatch(refused.text, /is a directory/);
      assertEquals(server.emulator.getObject(BUCKET, name), undefined, `${name} stored as file`);
      const appe = await client.command(`APPE ${name}`);
      assertEquals(appe.code, 550, appe.text);
    }
    const names = listNames(await client.listing("LIST"));
    assertEquals(names.filter((n) => n === "dd").length, 1, names.join(","));
  });
});

Deno.test("answers: MKD and RNTO onto a COS file's name or a directory's name are refused", async () => {
  await withCos(async (server, client) => {
    await client.store("f", encoder.encode("file"));
    const mkd = await client.command("MKD f");
    assertEquals(mkd.code, 550, mkd.text);
    assertEquals(server.emulator.getObject(BUCKET, "f/"), undefined);
    await client.expect("MKD dir", 257);
    await client.expect("RNFR f", 350);
    const rnto = await client.command("RNTO dir");
    assertEquals(rnto.code, 550, rnto.text);
    assertEquals(decoder.decode(server.emulator.getObject(BUCKET, "f")), "file");
    assertEquals(server.emulator.getObject(BUCKET, "dir"), undefined);
  });
});

Deno.test("answers: a COS directory made while a file of its name uploads stops the commit", async () => {
  await withCos(async (server, client) => {
    const other = await RawClient.login(server.port);
    try {
      const data = await client.epsv();
      await client.expect("STOR race", 150);
      const writer = data.writable.getWriter();
      await writer.write(encoder.encode("first half "));
      await other.expect("MKD race", 257);
      await writer.write(encoder.encode("second half"));
      await writer.close();
      const done = await client.read();
      assertEquals(done.code, 550, done.text);
      assertMatch(done.text, /race: is a directory/);
      assertEquals(server.emulator.getObject(BUCKET, "race"), undefined);
      assertEquals(listNames(await client.listing("LIST")), ["race"]);
    } finally {
      other.close();
    }
  });
});

// ---- 2. Keys with XML-special and non-ASCII characters are listed and read exactly ----

const SPECIAL_NAMES = [
  "back`tick.txt",
  "a&b.txt",
  "lt<gt>.txt",
  "quote'apos.txt",
  'dq"x.txt',
  "中文ü.txt",
  "&#x60;lit.txt",
];

Deno.test("answers: COS keys with ` & < > ' \" and non-ASCII show exactly in LIST/NLST/MLSD and RETR byte-exact", async () => {
  await withCos(async (server, client) => {
    await client.expect("MKD sub`dir&", 257);
    for (const name of SPECIAL_NAMES) await client.store(`sub\`dir&/${name}`, encoder.encode(name));
    // The raw listing really carries entities for these characters (as COS sends them).
    const names = listNames(await client.listing("LIST sub`dir&"));
    assertEquals(names.sort(), [...SPECIAL_NAMES].sort());
    const nlst = (await client.listing("NLST sub`dir&")).split("\r\n").filter(Boolean);
    assertEquals(nlst.sort(), SPECIAL_NAMES.map((n) => `sub\`dir&/${n}`).sort());
    const mlsd = (await client.listing("MLSD sub`dir&")).split("\r\n").filter(Boolean);
    assertEquals(mlsd.map((l) => l.slice(l.indexOf(" ") + 1)).sort(), [...SPECIAL_NAMES].sort());
    const root = listNames(await client.listing("LIST"));
    assertEquals(root, ["sub`dir&"]);
    for (const name of SPECIAL_NAMES) {
      assertEquals(decoder.decode(await client.retrieve(`sub\`dir&/${name}`)), name);
    }
    await client.expect("RNFR sub`dir&", 350);
    await client.expect("RNTO moved`", 250);
    assertEquals(
      server.emulator.objects(BUCKET).sort(),
      ["moved`/", ...SPECIAL_NAMES.map((n) => `moved\`/${n}`)].sort(),
    );
  });
});

Deno.test("answers: a COS that ignores encoding-type still lists numeric entities decoded", () => {
  assertEquals(
    decodeEntities("a&#x60;b&#96;c&#X41;&#x4E2D;&#20013;&#x1F600;&amp;"),
    "a`b`c&#X41;中中😀&amp;",
  );
  assertEquals(decodeEntities("&#x110000;&#;&#xZZ;"), "&#x110000;&#;&#xZZ;");
});

Deno.test(
  "answers: lftp mirror copies COS keys with a backtick and entities intact",
  needs("lftp"),
  async () => {
    await withCos(async (server, client) => {
      for (const name of SPECIAL_NAMES) await client.store(name, encoder.encode(`body of ${name}`));
      const dir = await Deno.makeTempDir({ prefix: "answers-mirror-" });
      try {
        const script = `set ftp:passive-mode on; set net:max-retries 1; ` +
          `open -u demo,demo ftp://127.0.0.1:${server.port}; mirror / ${dir}/out; bye`;
        const result = await run("lftp", ["-c", script], { timeoutMs: 60_000 });
        assertEquals(result.code, 0, result.stderr + result.stdout);
        for (const name of SPECIAL_NAMES) {
          const got = await Deno.readTextFile(`${dir}/out/${name}`);
          assertEquals(got, `body of ${name}`, name);
        }
        assertEquals([...Deno.readDirSync(`${dir}/out`)].length, SPECIAL_NAMES.length);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    });
  },
);

// ---- 3. A literal name wins over glob reading ----

Deno.test("answers: LIST/NLST of an existing name with glob characters finds it; a glob still globs", async () => {
  for (const start of [withLocal, withCos]) {
    await start(async (_server, client) => {
      await client.store("a[1].txt", encoder.encode("literal"));
      await client.store("a1.txt", encoder.encode("one"));
      await client.store("a*b", encoder.encode("star"));
      assertEquals(listNames(await client.listing("LIST a[1].txt")), ["a[1].txt"]);
      assertEquals(await client.listing("NLST a[1].txt"), "a[1].txt\r\n");
      assertEquals(await client.listing("NLST a*b"), "a*b\r\n");
      // Not existing literally: a glob.
      assertEquals(await client.listing("NLST a[0-9].txt"), "a1.txt\r\n");
      assertEquals((await client.listing("NLST a*.txt")).split("\r\n").filter(Boolean).sort(), [
        "a1.txt",
        "a[1].txt",
      ]);
    });
  }
});

// ---- 4. No internal address or errno name in any reply ----

Deno.test("answers: a COS that does not answer gives 451 without address or errno, detail in the log", async () => {
  const server = await startServer((config) => {
    config.accounts[0].storage = {
      kind: "cos",
      secretId: "AKIDtestsecretid0000000000000000",
      secretKey: "test-secret-key-never-logged-0001",
      bucket: BUCKET,
      region: "ap-guangzhou",
      endpoint: `http://127.0.0.1:${freePort()}`,
      protocol: "http",
      prefix: "",
    };
    config.cosTimeoutMs = 2000;
  });
  const client = await RawClient.login(server.port);
  try {
    const commands = ["RETR x.txt", "STOR x.txt", "LIST", "NLST sub", "SIZE x.txt", "MKD d"];
    for (const command of commands) {
      const data = command.startsWith("MKD") || command.startsWith("SIZE")
        ? null
        : await client.epsv();
      let answer = await client.command(command);
      // Listing the root needs no storage request before the 150: the failure follows it.
      if (answer.code === 150) answer = await client.read();
      data?.close();
      assertEquals(answer.code, 451, `${command}: ${answer.text}`);
      assert(!/\d+\.\d+\.\d+\.\d+|:\d{2,5}\b/.test(answer.text), `${command}: ${answer.text}`);
      assert(!/E[A-Z]{3,}/.test(answer.text), `${command}: ${answer.text}`);
      assertMatch(answer.text, /Storage unavailable, try again later/);
    }
    const log = await server.logText();
    assertMatch(log, /ECONNREFUSED/, "the detail is in the log");
  } finally {
    client.close();
    await server.stop();
  }
});

// ---- 5. SIZE in ASCII mode ----

Deno.test("answers: SIZE is refused in TYPE A and exact in TYPE I (raw and curl)", async () => {
  await withLocal(async (server, client) => {
    await client.store("text.txt", encoder.encode("one\ntwo\nthree\n"));
    await client.expect("TYPE A", 200);
    const ascii = await client.command("SIZE text.txt");
    assertEquals(ascii.code, 550, ascii.text);
    assertMatch(ascii.text, /SIZE not allowed in ASCII mode/);
    // What RETR in TYPE A really sends is longer than the stored size.
    const data = await client.epsv();
    await client.expect("RETR text.txt", 150);
    assertEquals((await readAll(data)).length, 17);
    assertEquals((await client.read()).code, 226);
    await client.expect("TYPE I", 200);
    assertEquals((await client.command("SIZE text.txt")).text, "213 14");
    if (needs("curl").ignore) return;
    const base = `ftp://demo:demo@127.0.0.1:${server.port}/text.txt`;
    const binary = await run("curl", ["-sS", "-I", base]);
    assertMatch(binary.stdout, /Content-Length: 14/);
    const asciiCurl = await run("curl", ["-sS", `${base};type=a`]);
    assertEquals(asciiCurl.code, 0, asciiCurl.stderr);
    assertEquals(asciiCurl.stdout, "one\ntwo\nthree\n");
  });
});

// ---- 6. SIZE/MDTM of a missing name vs a directory ----

Deno.test("answers: SIZE and MDTM say 'No such file' for missing names and 'Not a plain file' for directories", async () => {
  for (const start of [withLocal, withCos]) {
    await start(async (_server, client) => {
      await client.expect("MKD dir", 257);
      for (const verb of ["SIZE", "MDTM"]) {
        const missing = await client.command(`${verb} nothing.txt`);
        assertEquals(missing.text, "550 /nothing.txt: No such file or directory");
        const dir = await client.command(`${verb} dir`);
        assertEquals(dir.text, "550 /dir: Not a plain file");
        const root = await client.command(`${verb} /`);
        assertEquals(root.text, "550 /: Not a plain file");
      }
    });
  }
});

// ---- 7. Every 5xx is logged as a failed command ----

Deno.test("answers: every 5xx reply has a failed-command line in the log", async () => {
  await withLocal(async (server, client) => {
    const sent: string[] = [];
    for (const line of ["SIZE nothing.txt", "RETR nothing.txt", "DELE nothing.txt", "FOO bar"]) {
      const answer = await client.command(line);
      assertEquals(Math.floor(answer.code / 100), 5, answer.text);
      sent.push(line);
    }
    const long = await client.command(`NOOP ${"x".repeat(10_000)}`);
    assertEquals(long.code, 500, long.text);
    const log = await server.logText();
    for (const line of sent) {
      const [name, arg] = line.split(" ");
      assertMatch(
        log,
        new RegExp(`command-failed.*command=${name}.*arg=${arg}.*code=5\\d\\d`),
        `${line} not logged:\n${log}`,
      );
    }
    assertMatch(log, /command-failed.*code=500/, "overlong line not logged");
  });
});
