/**
 * Operator signals on the real process (main.ts): SIGHUP reloads the config
 * for new sessions and logins while open sessions keep transferring, a bad
 * config is rejected whole; SIGUSR1 reopens the log file after logrotate
 * renamed it; log_format = json writes one parseable object per line; a
 * server started as root says it should not be; SIGHUP during start-up is
 * applied once started, and SIGHUP with SIGTERM (starting or started) exits 0.
 */

import { Logger } from "../src/log.ts";
import { STAGING_DIR } from "../src/storage/local.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import {
  freePort,
  MAIN,
  randomBytes,
  RawClient,
  SERVER_PERMISSIONS,
  spawnMain,
  TLS_CERT,
  TLS_KEY,
} from "./support/kit.ts";

/** One account section: a local root and its one user. */
interface Account {
  user: string;
  password: string;
  root: string;
}

/** A config file's variable parts. */
interface Setup {
  dir: string;
  port: number;
  passive: number;
  accounts: Account[];
  extra?: string;
  cert?: string;
  key?: string;
  format?: "text" | "json";
}

function configText(s: Setup): string {
  const accounts = s.accounts.map((a, i) =>
    `[COS_ACCOUNT_${i}]
storage = local
local_root = ${a.root}
home_dir = ${a.root}
ftp_login_user_name = ${a.user}
ftp_login_user_password = ${a.password}
authority = RW
`
  ).join("");
  return `${accounts}[NETWORK]
listen_address = 127.0.0.1
listen_port = ${s.port}
passive_port = ${s.passive},${s.passive + 20}
[OPTIONAL]
log_dir = ${s.dir}/log
log_level = DEBUG
log_format = ${s.format ?? "text"}
login_failure_delay = 0
ban_after_failures = 0
${s.extra ?? ""}[FTPS]
cert_file = ${s.cert ?? TLS_CERT}
key_file = ${s.key ?? TLS_KEY}
`;
}

/** A running main.ts with its config file and log. */
interface Running {
  setup: Setup;
  conf: string;
  child: Deno.ChildProcess;
  log(): Promise<string>;
  /** Rewrites the config, sends SIGHUP and waits for the reload's outcome line. */
  reload(setup: Setup, outcome: "reloaded" | "reload-failed"): Promise<string>;
}

async function withMain(
  setup: (dir: string) => Setup,
  fn: (r: Running) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-reload-" });
  const first = setup(dir);
  for (const a of first.accounts) await Deno.mkdir(a.root, { recursive: true });
  const conf = `${dir}/ftp.conf`;
  await Deno.writeTextFile(conf, configText(first));
  const child = await spawnMain(["--config", conf], first.port);
  const log = () => Deno.readTextFile(`${dir}/log/cos_v5.log`).catch(() => "");
  let reloads = 0;
  const running: Running = {
    setup: first,
    conf,
    child,
    log,
    async reload(next, outcome) {
      const offset = (await log()).length;
      await Deno.writeTextFile(conf, configText(next));
      child.kill("SIGHUP");
      reloads++;
      for (let i = 0; i < 200; i++) {
        const text = (await log()).slice(offset);
        const done = text.split("\n").filter((l) => /\b(reloaded|reload-failed)\b/.test(l));
        if (done.length > 0) {
          assertMatch(done.at(-1)!, new RegExp(`\\b${outcome}\\b`), text);
          return text;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`reload ${reloads} logged no outcome:\n${(await log()).slice(offset)}`);
    },
  };
  try {
    await fn(running);
  } finally {
    child.kill("SIGTERM");
    const out = await child.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr).slice(-2000));
    await Deno.remove(dir, { recursive: true });
  }
}

function basicSetup(dir: string): Setup {
  return {
    dir,
    port: freePort(),
    passive: 42000 + Math.floor(Math.random() * 2000) * 10,
    accounts: [
      { user: "alice", password: "old-pass", root: `${dir}/a` },
      { user: "bob", password: "bob-pass", root: `${dir}/b` },
    ],
  };
}

async function loginCode(port: number, user: string, password: string): Promise<number> {
  const client = await RawClient.connect(port);
  try {
    await client.expect(`USER ${user}`, 331);
    return (await client.command(`PASS ${password}`)).code;
  } finally {
    client.close();
  }
}

/** Uploads and downloads `bytes` as `name` on a logged-in session; asserts they match. */
async function roundTrip(client: RawClient, name: string, size: number): Promise<void> {
  const bytes = randomBytes(size);
  const stored = await client.store(name, bytes);
  assertEquals(stored.code, 226, stored.text);
  assertEquals(await client.retrieve(name), bytes, `${name} came back different`);
}

Deno.test("SIGHUP: passwords, users and accounts change for new logins; open sessions go on", async () => {
  await withMain(basicSetup, async (r) => {
    const old = await RawClient.login(r.setup.port, "alice", "old-pass");
    await roundTrip(old, "before.bin", 300_000);
    const carolRoot = `${r.setup.dir}/c`;
    const aliceRoot = `${r.setup.dir}/a2`;
    await Deno.mkdir(carolRoot);
    await Deno.mkdir(aliceRoot);
    const next: Setup = {
      ...r.setup,
      accounts: [
        // Alice's account moves: her open session keeps the storage it logged in to.
        { user: "alice", password: "new-pass", root: aliceRoot },
        { user: "carol", password: "carol-pass", root: carolRoot },
      ],
    };
    const text = await r.reload(next, "reloaded");
    assertMatch(text, /reloaded .*accounts=2 users=2/, text);
    // The session logged in before the reload still transfers, on the same storage.
    await roundTrip(old, "after.bin", 300_000);
    assertEquals((await Deno.stat(`${r.setup.dir}/a/after.bin`)).size, 300_000);
    old.close();
    assertEquals(await loginCode(r.setup.port, "alice", "old-pass"), 530, "old password");
    const alice = await RawClient.login(r.setup.port, "alice", "new-pass");
    await roundTrip(alice, "moved.bin", 2000);
    alice.close();
    assertEquals((await Deno.stat(`${aliceRoot}/moved.bin`)).size, 2000, "new login, new root");
    assertEquals(await loginCode(r.setup.port, "bob", "bob-pass"), 530, "removed user");
    const carol = await RawClient.login(r.setup.port, "carol", "carol-pass");
    await roundTrip(carol, "carol.bin", 1000);
    carol.close();
    // Carol's files are in the account added by the reload.
    assertEquals((await Deno.stat(`${carolRoot}/carol.bin`)).size, 1000);
  });
});

Deno.test("SIGHUP: a config with errors is rejected whole and logged as file:line: key: message", async () => {
  await withMain(basicSetup, async (r) => {
    const bad: Setup = {
      ...r.setup,
      accounts: [{ user: "alice", password: "new-pass", root: `${r.setup.dir}/a` }],
      extra: "max_connection_num = lots\nidle_timeout = -5\n",
    };
    const text = await r.reload(bad, "reload-failed");
    const conf = r.conf.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    // The [OPTIONAL] section's extra lines: log_dir, log_level, log_format, 2 more, then these.
    assertMatch(
      text,
      new RegExp(`reload-rejected problem="${conf}:\\d+: max_connection_num: `),
      text,
    );
    assertMatch(text, new RegExp(`reload-rejected problem="${conf}:\\d+: idle_timeout: `), text);
    assertMatch(text, /reload-failed .*errors=2 keeps="the running config"/, text);
    // Nothing of the rejected file took effect: the old password and bob still work.
    assertEquals(await loginCode(r.setup.port, "alice", "old-pass"), 230);
    assertEquals(await loginCode(r.setup.port, "bob", "bob-pass"), 230);
  });
});

Deno.test("SIGHUP: listen_port and passive_port need a restart and say so; the rest applies", async () => {
  await withMain(basicSetup, async (r) => {
    const next: Setup = { ...r.setup, port: freePort(), passive: r.setup.passive + 100 };
    next.accounts = [{ ...r.setup.accounts[0], password: "new-pass" }, r.setup.accounts[1]];
    const text = await r.reload(next, "reloaded");
    assertMatch(
      text,
      new RegExp(`listen_port = ${next.port} needs a restart; keeps ${r.setup.port}`),
      text,
    );
    assertMatch(text, /passive_port = .* needs a restart; keeps /, text);
    assertEquals(await loginCode(r.setup.port, "alice", "new-pass"), 230);
    const client = await RawClient.login(r.setup.port, "alice", "new-pass");
    const reply = await client.expect("EPSV", 229);
    const port = Number(/\|\|\|(\d+)\|/.exec(reply.text)![1]);
    assert(port >= r.setup.passive && port <= r.setup.passive + 20, `passive port ${port}`);
    client.close();
  });
});

Deno.test("SIGHUP: a new certificate is what the next AUTH TLS presents", async () => {
  await withMain(basicSetup, async (r) => {
    const cert = `${r.setup.dir}/cert2.pem`;
    const key = `${r.setup.dir}/key2.pem`;
    await makeCertificate(cert, key);
    const [oldCa, newCa] = [await Deno.readTextFile(TLS_CERT), await Deno.readTextFile(cert)];
    assert(await authTlsTrusts(r.setup.port, oldCa), "the first certificate is served");
    assert(!(await authTlsTrusts(r.setup.port, newCa)), "the new one is not served yet");
    await r.reload({ ...r.setup, cert, key }, "reloaded");
    assert(await authTlsTrusts(r.setup.port, newCa), "AUTH TLS presents the new certificate");
    assert(!(await authTlsTrusts(r.setup.port, oldCa)), "and no longer the old one");
  });
});

Deno.test("SIGHUP: an unreadable certificate rejects the reload; the old one stays", async () => {
  await withMain(basicSetup, async (r) => {
    const text = await r.reload(
      { ...r.setup, cert: `${r.setup.dir}/missing.pem` },
      "reload-failed",
    );
    assertMatch(text, /reload-rejected problem=".*ftp\.conf:\d+: cert_file: /, text);
    assert(await authTlsTrusts(r.setup.port, await Deno.readTextFile(TLS_CERT)));
  });
});

Deno.test("SIGHUP: dropping cert_file while implicit_port runs rejects the reload", async () => {
  const implicit = freePort();
  // implicit_port follows key_file inside [FTPS]; the reload drops the FTPS files and the port.
  const withImplicit = (dir: string) => ({
    ...basicSetup(dir),
    key: `${TLS_KEY}\nimplicit_port = ${implicit}`,
  });
  await withMain(withImplicit, async (r) => {
    const text = await r.reload({ ...r.setup, cert: "", key: "" }, "reload-failed");
    assertMatch(
      text,
      /reload-rejected problem=".*ftp\.conf: implicit_port: .*needs cert_file/,
      text,
    );
    assert(await authTlsTrusts(r.setup.port, await Deno.readTextFile(TLS_CERT)), "FTPS stays");
    // The implicit port still serves TLS with the certificate it started with.
    const tcp = await Deno.connect({ hostname: "127.0.0.1", port: implicit });
    const ca = await Deno.readTextFile(TLS_CERT);
    const tls = await Deno.startTls(tcp, { hostname: "localhost", caCerts: [ca] });
    try {
      assertMatch(await lineReader(tls)(), /^220 /);
    } finally {
      tls.close();
    }
  });
});

Deno.test("SIGUSR1 reopens the log after a rename; no line is lost; json lines parse", async () => {
  await withMain((dir) => ({ ...basicSetup(dir), format: "json" }), async (r) => {
    const file = `${r.setup.dir}/log/cos_v5.log`;
    // U+2028, an escape and a newline-free C1 control in a user name must not break a line.
    assertEquals(await loginCode(r.setup.port, "mallory\u2028\x1b[31m\x85", "x"), 530);
    await Deno.rename(file, `${file}.1`);
    // Logged after the rename, before SIGUSR1: still goes to the renamed file.
    assertEquals(await loginCode(r.setup.port, "alice", "old-pass"), 230);
    r.child.kill("SIGUSR1");
    await waitFor(async () => (await r.log()).includes('"event":"log-reopened"'));
    assertEquals(await loginCode(r.setup.port, "bob", "bob-pass"), 230);
    await waitFor(async () => (await r.log()).includes('"user":"bob"'));
    const rotated = parseLines(await Deno.readTextFile(`${file}.1`));
    const fresh = parseLines(await Deno.readTextFile(file));
    const logins = (lines: Record<string, unknown>[]) =>
      lines.filter((l) => l.event === "login").map((l) => l.user);
    assertEquals(logins(rotated), ["mallory\u2028\x1b[31m\x85", "alice"]);
    assertEquals(logins(fresh), ["bob"]);
    assert(rotated.some((l) => l.event === "started"), "the start is in the rotated file");
    const raw = await Deno.readTextFile(`${file}.1`);
    for (const c of ["\u2028", "\u2029", "\x1b", "\x85"]) {
      assert(!raw.includes(c), `U+${c.charCodeAt(0).toString(16)} escaped in the file`);
    }
  });
});

/** main.ts on `setup`'s config, without waiting for it to listen (spawnMain would). */
async function spawnUnready(
  setup: Setup,
): Promise<{ child: Deno.ChildProcess; log(): Promise<string> }> {
  const conf = await writeConfig(setup);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...SERVER_PERMISSIONS, MAIN, "--config", conf],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return { child, log: () => Deno.readTextFile(`${setup.dir}/log/cos_v5.log`).catch(() => "") };
}

const STALE_FILES = 5000;

/**
 * Starts main.ts and resolves while it is still starting, with its signal handlers in place:
 * opening a local storage deletes what its staging directory holds (after the handlers are
 * installed, before the port listens), in directory order; the first of STALE_FILES planted
 * there disappearing says the server is in start-up, with the rest still to delete.
 */
async function spawnStarting(
  setup: Setup,
): Promise<{ child: Deno.ChildProcess; log(): Promise<string> }> {
  const staging = `${setup.accounts[0].root}/${STAGING_DIR}`;
  await Deno.mkdir(staging, { recursive: true });
  for (let i = 0; i < STALE_FILES; i++) {
    await Deno.writeFile(`${staging}/stale-${i}`, new Uint8Array());
  }
  let first = "";
  for await (const entry of Deno.readDir(staging)) {
    first = entry.name;
    break;
  }
  const started = await spawnUnready(setup);
  for (let i = 0; i < 15_000; i++) {
    if (!(await Deno.stat(`${staging}/${first}`).then(() => true, () => false))) return started;
    await new Promise((r) => setTimeout(r, 1));
  }
  throw new Error("the server never began clearing its staging directory");
}

/** The process's exit: code 0, and stderr (where the log is echoed) without an error or a stack. */
async function exitsCleanly(child: Deno.ChildProcess, what: string): Promise<void> {
  const out = await child.output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `${what}: ${stderr}`);
  const bad = stderr.split("\n").filter((l) =>
    /^\s+at |Uncaught|panicked|^error|\bERROR\b/.test(l)
  );
  assertEquals(bad, [], `${what}: ${stderr}`);
}

Deno.test("SIGHUP while starting is applied once started; the process serves", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-hupstart-" });
  try {
    const setup = basicSetup(dir);
    const { child, log } = await spawnStarting(setup);
    child.kill("SIGHUP");
    await waitFor(async () => (await log()).includes(" reloaded "), 15_000);
    const text = await log();
    const at = (event: string) => text.indexOf(` ${event} `);
    assert(at("reload-queued") >= 0 && at("reload-queued") < at("started"), text);
    assert(at("started") < at("reloaded"), text);
    assertEquals(await loginCode(setup.port, "alice", "old-pass"), 230);
    child.kill("SIGTERM");
    await exitsCleanly(child, "SIGTERM after a SIGHUP while starting");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGHUP racing SIGTERM: exit 0 and a clean stderr, while starting and once started", async () => {
  for (const when of ["starting", "started"]) {
    const dir = await Deno.makeTempDir({ prefix: "cosftp-hupterm-" });
    try {
      const setup = basicSetup(dir);
      const log = () => Deno.readTextFile(`${dir}/log/cos_v5.log`);
      const child = when === "starting"
        ? (await spawnStarting(setup)).child
        : await spawnMain(["--config", await writeConfig(setup)], setup.port);
      child.kill("SIGHUP");
      child.kill("SIGTERM");
      await exitsCleanly(child, `SIGHUP, SIGTERM while ${when}`);
      const text = await log();
      assertMatch(text, / stopped\s*$/, `${when}: the log ends with "stopped"`);
      assert(!/ERROR/.test(text), `${when}: ${text}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }
});

/** Writes `setup`'s config (and its roots); returns the file's path. */
async function writeConfig(setup: Setup): Promise<string> {
  for (const a of setup.accounts) await Deno.mkdir(a.root, { recursive: true });
  const conf = `${setup.dir}/ftp.conf`;
  await Deno.writeTextFile(conf, configText(setup));
  return conf;
}

Deno.test("started as root, the server warns and says what to do", async () => {
  await withMain(basicSetup, async (r) => {
    const status = await Deno.readTextFile("/proc/self/status");
    const root = /^Uid:\s+\d+\s+0\b/m.test(status);
    await waitFor(async () => (await r.log()).includes(" started "));
    if (root) await waitFor(async () => (await r.log()).includes("running-as-root"));
    const text = await r.log();
    if (!root) {
      console.warn("reload_test: not root here; checking that no root warning is logged");
      assert(!text.includes("running-as-root"), text);
      return;
    }
    assertMatch(text, /WARNING running-as-root advice=".*unprivileged user/, text);
    assertMatch(text, /CAP_NET_BIND_SERVICE/, text);
  });
});

Deno.test("log_format = json: typed fields, secrets hidden, reserved names kept apart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-jsonlog-" });
  try {
    const log = await Logger.open("INFO", dir, false, "json");
    log.debug("not-written");
    log.info("transfer", { bytes: 42, ok: true, password: "hunter2", event: "x", skip: undefined });
    log.configure("DEBUG", "text");
    log.debug("now-text", { path: "a b" });
    log.close();
    const [json, text] = (await Deno.readTextFile(`${dir}/cos_v5.log`)).trimEnd().split("\n");
    const object = JSON.parse(json);
    assertEquals(Object.keys(object), [
      "time",
      "level",
      "event",
      "bytes",
      "ok",
      "password",
      "_event",
    ]);
    assertEquals([object.level, object.event, object.bytes, object.ok], [
      "INFO",
      "transfer",
      42,
      true,
    ]);
    assertEquals(object.password, "(hidden)");
    assertMatch(text, /^\S+ DEBUG now-text path="a b"$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Each line as an object with time, level and event; fails on any line that is not. */
function parseLines(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l !== "").map((line) => {
    const object = JSON.parse(line);
    for (const field of ["time", "level", "event"]) {
      assertEquals(typeof object[field], "string", `${field} in ${line}`);
    }
    return object;
  });
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A self-signed certificate for localhost, made with openssl. */
async function makeCertificate(cert: string, key: string): Promise<void> {
  const out = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-addext",
      "keyUsage=critical,digitalSignature",
      "-addext",
      "extendedKeyUsage=serverAuth",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
}

/** Whether AUTH TLS's handshake succeeds when only `ca` is trusted (then USER is answered). */
async function authTlsTrusts(port: number, ca: string): Promise<boolean> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const lines = lineReader(conn);
  try {
    assertMatch(await lines(), /^220 /);
    await conn.write(new TextEncoder().encode("AUTH TLS\r\n"));
    assertMatch(await lines(), /^234 /);
    const tls = await Deno.startTls(conn, { hostname: "localhost", caCerts: [ca] });
    try {
      await tls.handshake();
      await tls.write(new TextEncoder().encode("USER alice\r\n"));
      const buffer = new Uint8Array(512);
      const n = await tls.read(buffer);
      return n !== null && new TextDecoder().decode(buffer.subarray(0, n)).startsWith("331");
    } catch {
      return false;
    } finally {
      try {
        tls.close();
      } catch {
        // Already closed by a failed handshake.
      }
    }
  } catch (error) {
    conn.close();
    throw error;
  }
}

/** Reads CRLF lines from `conn` one byte at a time, so nothing after them is consumed. */
function lineReader(conn: Deno.Conn): () => Promise<string> {
  const byte = new Uint8Array(1);
  return async () => {
    let line = "";
    while (!line.endsWith("\r\n")) {
      const n = await conn.read(byte);
      if (n === null) throw new Error(`connection closed after ${JSON.stringify(line)}`);
      line += String.fromCharCode(byte[0]);
    }
    return line;
  };
}
