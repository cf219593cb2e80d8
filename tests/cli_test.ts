/**
 * The command line as an operator meets it: a subprocess of main.ts with its
 * real permissions, signals, config files and log files.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, run } from "./support/clients.ts";
import { freePort, randomBytes, SERVER_PERMISSIONS } from "./support/server.ts";
import { spawnMain } from "./support/kit.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const PERMISSIONS = SERVER_PERMISSIONS;

function deno(args: string[], cwd = ROOT) {
  return run(Deno.execPath(), ["run", ...PERMISSIONS, MAIN, ...args], { cwd, timeoutMs: 30_000 });
}

async function stopWith(child: Deno.ChildProcess, signal: Deno.Signal) {
  child.kill(signal);
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("--version, --help and a bad argument", async () => {
  assertMatch((await deno(["--version"])).stdout, /^cos-ftp-server \d+\.\d+\.\d+\n$/);
  const help = await deno(["--help"]);
  assertEquals(help.code, 0);
  assertMatch(help.stdout, /--config PATH/);
  assertMatch(help.stdout, /--check/);
  const bad = await deno(["--frobnicate"]);
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /unknown argument --frobnicate/);
});

Deno.test("--check: the example config is valid; a broken one lists every problem as file:line: key", async () => {
  const ok = await deno(["--check", "--config", "conf/vsftpd.conf.example"]);
  assertEquals(ok.code, 0, ok.stderr);
  assertMatch(ok.stdout, /valid \(\d+ accounts/);
  assertMatch(ok.stdout, /: OK\n/);
  const dir = await Deno.makeTempDir();
  const file = `${dir}/bad.conf`;
  await Deno.writeTextFile(
    file,
    [
      "[COS_ACCOUNT_0]",
      "storage = local",
      "home_dir = /tmp/cosftp-x",
      "ftp_login_user_name = a",
      "ftp_login_user_password = s3cret#;pw",
      "authority = RX",
      "[NETWORK]",
      "listen_port = 99999",
      "passive_port = 5,3",
      "[OPTIONAL]",
      "max_list_file = lots",
      "colour = blue",
    ].join("\n"),
  );
  const bad = await deno(["--check", "--config", file]);
  assertEquals(bad.code, 1);
  assertMatch(bad.stderr, new RegExp(`error: ${file}:6: authority: `));
  assertMatch(bad.stderr, new RegExp(`error: ${file}:8: listen_port: `));
  assertMatch(bad.stderr, new RegExp(`error: ${file}:9: passive_port: `));
  assertMatch(bad.stderr, new RegExp(`error: ${file}:11: max_list_file: `));
  assertMatch(bad.stderr, new RegExp(`warning: ${file}:12: colour: unknown key`));
  assert(!/\bat .*\.ts:\d+/.test(bad.stderr), "no stack trace");
  assert(!bad.stderr.includes("s3cret"), "no password in messages");
  const missing = await deno(["--config", `${dir}/nope.conf`]);
  assertEquals(missing.code, 1);
  assertMatch(missing.stderr, /nope\.conf: file not found/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "embedded default: no config file -> 127.0.0.1:2121, demo/demo, ./data, SIGTERM exits 0",
  ...needs("curl"),
  async fn() {
    const cwd = await Deno.makeTempDir();
    const child = await spawnMain([], 2121, { cwd, stdout: "piped" });
    try {
      const bytes = randomBytes(100_000);
      await Deno.writeFile(`${cwd}/up.bin`, bytes);
      const put = await run("curl", [
        "-sS",
        "-T",
        `${cwd}/up.bin`,
        "ftp://demo:demo@127.0.0.1:2121/up.bin",
      ]);
      assertEquals(put.code, 0, put.stderr);
      assertEquals(await Deno.readFile(`${cwd}/data/up.bin`), bytes);
    } finally {
      const { code, stderr } = await stopWith(child, "SIGTERM");
      assertEquals(code, 0, stderr);
      assertMatch(stderr, /No config file at conf\/vsftpd\.conf: running the embedded default/);
      assertMatch(stderr, /127\.0\.0\.1:2121/);
      assertMatch(stderr, /demo \/ password demo/);
      assertMatch(stderr, new RegExp(`local directory ${cwd}/data`));
      await Deno.remove(cwd, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "config file: original keys serve, the log file records logins and transfers, never passwords",
  ...needs("curl"),
  async fn() {
    const cwd = await Deno.makeTempDir();
    const port = freePort();
    await Deno.writeTextFile(
      `${cwd}/vsftpd.conf`,
      [
        "[COS_ACCOUNT]",
        "cos_user_home_dir = ./files   # comments after values are fine",
        "[FTP_ACCOUNT]",
        "login_users = alice:pa#ss:w0rd:RW;bob:bobpw:RO",
        "[NETWORK]",
        "listen_address = 127.0.0.1",
        `listen_port = ${port}`,
        "passive_port = 42000,42100",
        "[OPTIONAL]",
        "log_dir = logs",
        "log_level = INFO",
        "login_failure_delay = 0.05",
      ].join("\n"),
    );
    const child = await spawnMain(["--config", "vsftpd.conf"], port, { cwd, stdout: "piped" });
    try {
      await Deno.writeTextFile(`${cwd}/a.txt`, "alpha");
      const put = await run("curl", [
        "-sS",
        "-T",
        `${cwd}/a.txt`,
        `ftp://127.0.0.1:${port}/a.txt`,
        "--user",
        "alice:pa#ss:w0rd",
      ]);
      assertEquals(put.code, 0, put.stderr);
      assertEquals(await Deno.readTextFile(`${cwd}/files/a.txt`), "alpha");
      const get = await run("curl", ["-sS", `ftp://bob:bobpw@127.0.0.1:${port}/a.txt`]);
      assertEquals(get.stdout, "alpha");
      const denied = await run("curl", [
        "-sS",
        "-T",
        `${cwd}/a.txt`,
        `ftp://bob:bobpw@127.0.0.1:${port}/b.txt`,
      ]);
      assert(denied.code !== 0, "RO user cannot upload");
      const wrong = await run("curl", ["-sS", `ftp://bob:guess-me@127.0.0.1:${port}/a.txt`]);
      assert(wrong.code !== 0);
    } finally {
      const { code, stderr } = await stopWith(child, "SIGINT");
      assertEquals(code, 0, stderr);
    }
    const log = await Deno.readTextFile(`${cwd}/logs/cos_v5.log`);
    assertMatch(log, /INFO login .*user=alice .*result=ok/);
    assertMatch(
      log,
      /INFO transfer user=alice command=STOR path=\/a\.txt bytes=5 ms=\d+ result=ok/,
    );
    assertMatch(log, /INFO transfer user=bob command=RETR path=\/a\.txt bytes=5 ms=\d+ result=ok/);
    assertMatch(log, /WARNING command-failed .*user=bob .*command=STOR .*code=550/);
    assertMatch(log, /WARNING login .*user=bob .*result=failed/);
    for (const secret of ["pa#ss:w0rd", "bobpw", "guess-me"]) {
      assert(!log.includes(secret), `log must not contain ${secret}`);
    }
    await Deno.remove(cwd, { recursive: true });
  },
});

Deno.test("a port already in use is a one-line startup error", async () => {
  const cwd = await Deno.makeTempDir();
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await Deno.writeTextFile(
    `${cwd}/c.conf`,
    `[COS_ACCOUNT_0]\nstorage = local\nhome_dir = ./d\nftp_login_user_name = u\nftp_login_user_password = p\nauthority = RW\n[NETWORK]\nlisten_address = 127.0.0.1\nlisten_port = ${blocker.addr.port}\n[OPTIONAL]\nlog_dir = none\n`,
  );
  const out = await deno(["--config", "c.conf"], cwd);
  blocker.close();
  assertEquals(out.code, 1);
  assertMatch(
    out.stderr,
    new RegExp(`error: cannot start: 127\\.0\\.0\\.1:${blocker.addr.port} is already in use`),
  );
  await Deno.remove(cwd, { recursive: true });
});
