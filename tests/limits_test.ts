/**
 * Limits that keep one client from hurting the others (connections per
 * address, logged-in users, bans after failed logins) and password hashes
 * (PBKDF2 logins, --hash-password, plaintext warnings).
 */

import { formatIssue, loadConfigFile, parseConfig } from "../src/config/load.ts";
import { UserDirectory } from "../src/ftp/auth.ts";
import { AdmissionControl, type LimitSettings } from "../src/ftp/limits.ts";
import { DEFAULT_ITERATIONS, hashPassword, parseHash } from "../src/password.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, python, run } from "./support/clients.ts";
import { RawClient, readAll } from "./support/raw_client.ts";
import { eventually, SERVER_PERMISSIONS, startServer, user } from "./support/server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const PERMISSIONS = SERVER_PERMISSIONS;

/** Logs in from 127.0.0.2 (a second address on Linux loopback) and prints each reply. */
const LOGIN_FROM_SECOND_ADDRESS = `
import ftplib, sys
port, name, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ftp = ftplib.FTP(source_address=("127.0.0.2", 0), timeout=10)
try:
    print(ftp.connect("127.0.0.1", port))
    print(ftp.login(name, password))
    print(ftp.quit())
except ftplib.all_errors as error:
    print("ERROR", error)
`;
import { withServer } from "./support/kit.ts";

async function loginFromSecondAddress(port: number, name = "demo", password = "demo") {
  const out = await python(LOGIN_FROM_SECOND_ADDRESS, [String(port), name, password], 20_000);
  assertEquals(out.code, 0, out.stderr);
  return out.stdout;
}

/** Connects from 127.0.0.1 and returns everything the server sends before it hangs up. */
async function refusal(port: number): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  // A server that does not hang up fails the test in 5 s rather than at its idle timeout.
  const timer = setTimeout(() => conn.close(), 5000);
  try {
    return new TextDecoder().decode(await readAll(conn)); // reading to EOF closes conn
  } finally {
    clearTimeout(timer);
  }
}

function deno(args: string[], stdin?: string) {
  return run(Deno.execPath(), ["run", ...PERMISSIONS, MAIN, ...args], {
    cwd: ROOT,
    stdin,
    timeoutMs: 30_000,
  });
}

// ---------------------------------------------------------------------------------------
// Connections per address.

Deno.test({
  name: "per-IP limit: the connection over the limit gets 421; other addresses are unaffected",
  ...needs("python3"),
  async fn() {
    await withServer({ adjust: (c) => c.maxConnectionsPerIp = 2 }, async (s) => {
      const first = await RawClient.login(s.port);
      const second = await RawClient.connect(s.port);
      assertEquals(await refusal(s.port), "421 Too many connections from your address\r\n");
      assertMatch(await loginFromSecondAddress(s.port), /^230 /m);
      second.close();
      await eventually(() => s.server.sessionCount === 1);
      const third = await RawClient.login(s.port);
      await first.expect("NOOP", 200);
      first.close();
      third.close();
    });
  },
});

// ---------------------------------------------------------------------------------------
// Logged-in users.

Deno.test("logged-in cap: a PASS over it gets 421 and a hang-up; QUIT frees the slot", async () => {
  await withServer({
    adjust: (c) => {
      c.maxLoggedInUsers = 1;
      c.loginFailDelayMs = 10;
    },
  }, async (s) => {
    const first = await RawClient.login(s.port);
    const second = await RawClient.connect(s.port);
    await second.expect("USER demo", 331);
    await second.expect("PASS wrong", 530); // a wrong password is still just wrong
    await second.expect("USER demo", 331);
    const full = await second.expect("PASS demo", 421);
    assertEquals(full.text, "421 Too many users logged in; try later");
    assert(await second.closedByServer(), "closed after 421");
    second.close();
    await first.expect("QUIT", 221);
    assert(await first.closedByServer());
    first.close();
    await eventually(() => s.server.sessionCount === 0);
    const third = await RawClient.login(s.port);
    third.close(); // a dropped connection (no QUIT) frees its slot as well
    await eventually(() => s.server.sessionCount === 0);
    const fourth = await RawClient.login(s.port);
    fourth.close();
    const log = await s.logText();
    assertMatch(log, /WARNING login .*user=demo .*result=too-many-users/);
  });
});

// ---------------------------------------------------------------------------------------
// Bans.

Deno.test({
  name: "ban: N failed logins from an address refuse its new connections, not other addresses",
  ...needs("python3"),
  async fn() {
    await withServer({
      adjust: (c) => {
        c.banAfterFailures = 3;
        c.banWindowMs = 60_000;
        c.banTimeMs = 60_000;
        c.loginFailDelayMs = 10;
        c.maxLoginAttempts = 10;
      },
    }, async (s) => {
      const attacker = await RawClient.connect(s.port);
      for (const name of ["demo", "nobody"]) {
        await attacker.expect(`USER ${name}`, 331);
        await attacker.expect("PASS wrong", 530);
      }
      await RawClient.login(s.port).then((c) => c.close()); // 2 failures: not banned yet
      await attacker.expect("USER demo", 331);
      await attacker.expect("PASS wrong", 530);
      const banned = "421 Temporarily banned after repeated failed logins\r\n";
      assertEquals(await refusal(s.port), banned);
      assertMatch(await loginFromSecondAddress(s.port), /^230 /m);
      // The session that was already open may finish.
      await attacker.expect("USER demo", 331);
      await attacker.expect("PASS demo", 230);
      await attacker.expect("QUIT", 221);
      attacker.close();
      assertEquals(await refusal(s.port), banned);
      assertMatch(await s.logText(), /WARNING banned ip=127\.0\.0\.1 seconds=60/);
    });
  },
});

Deno.test("ban: expires after ban_time; failures outside the window do not add up", async () => {
  await withServer({
    adjust: (c) => {
      c.banAfterFailures = 2;
      c.banWindowMs = 500;
      c.banTimeMs = 500;
      c.loginFailDelayMs = 0;
    },
  }, async (s) => {
    const c = await RawClient.connect(s.port);
    await c.expect("USER demo", 331);
    await c.expect("PASS wrong", 530);
    await new Promise((r) => setTimeout(r, 600)); // the first failure leaves the window
    await c.expect("USER demo", 331);
    await c.expect("PASS wrong", 530);
    await RawClient.login(s.port).then((ok) => ok.close());
    await c.expect("USER demo", 331);
    await c.expect("PASS wrong", 530); // two within the window: banned
    c.close();
    assertMatch(await refusal(s.port), /^421 Temporarily banned/);
    await new Promise((r) => setTimeout(r, 650));
    const after = await RawClient.login(s.port);
    after.close();
  });
});

Deno.test("limits: the failure table stays bounded and forgets stale addresses", () => {
  let now = 1_000_000;
  const settings: LimitSettings = {
    maxConnectionsPerIp: 2,
    maxLoggedInUsers: 1,
    banAfterFailures: 3,
    banWindowMs: 1000,
    banTimeMs: 5000,
  };
  const limits = new AdmissionControl(settings, 100, () => now);
  for (let i = 0; i < 1000; i++) limits.loginFailed(`10.0.${i >> 8}.${i & 255}`);
  assertEquals(limits.trackedAddresses, 100);
  // The newest are kept, the oldest dropped.
  limits.loginFailed("10.0.3.231");
  limits.loginFailed("10.0.3.231");
  assert(limits.isBanned("10.0.3.231"), "third failure of a kept address bans it");
  assert(!limits.isBanned("10.0.0.0"));
  now += 1500; // past the window: unbanned entries are stale, the ban is not
  limits.loginFailed("192.0.2.1");
  assertEquals(limits.trackedAddresses, 2);
  assert(limits.isBanned("10.0.3.231"));
  assertEquals(limits.admit("10.0.3.231"), {
    ok: false,
    refuse: "Temporarily banned after repeated failed logins",
  });
  now += 5000;
  assert(!limits.isBanned("10.0.3.231"), "bans expire");
  limits.loginFailed("192.0.2.2");
  assertEquals(limits.trackedAddresses, 1);
  // Connections per address, and logged-in slots.
  assertEquals(limits.admit("192.0.2.9"), { ok: true });
  assertEquals(limits.admit("192.0.2.9"), { ok: true });
  assertEquals(limits.admit("192.0.2.9"), {
    ok: false,
    refuse: "Too many connections from your address",
  });
  limits.release("192.0.2.9");
  assertEquals(limits.admit("192.0.2.9"), { ok: true });
  assert(limits.claimLogin());
  assert(!limits.claimLogin());
  limits.releaseLogin();
  assert(limits.claimLogin());
});

Deno.test("limits: 0 means unlimited and never banned", () => {
  const limits = new AdmissionControl({
    maxConnectionsPerIp: 0,
    maxLoggedInUsers: 0,
    banAfterFailures: 0,
    banWindowMs: 1000,
    banTimeMs: 1000,
  });
  for (let i = 0; i < 100; i++) {
    assertEquals(limits.admit("192.0.2.1"), { ok: true });
    assert(limits.claimLogin());
    assert(!limits.loginFailed("192.0.2.1"));
  }
  assertEquals(limits.trackedAddresses, 0);
});

// ---------------------------------------------------------------------------------------
// Password hashes.

Deno.test("hash format: $pbkdf2-sha256$<iterations>$<salt>$<hash>, salted", async () => {
  const a = await hashPassword("correct horse");
  const b = await hashPassword("correct horse");
  const format = /^\$pbkdf2-sha256\$310000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/;
  assertMatch(a, format);
  assert(a !== b, "a random salt makes every hash different");
  const parsed = parseHash(a);
  assert(typeof parsed !== "string");
  assertEquals([parsed.iterations, parsed.salt.length, parsed.hash.length], [310000, 16, 32]);
  assertEquals(DEFAULT_ITERATIONS, 310000);
});

Deno.test("hashed passwords log in; wrong ones and unknown names fail alike", async () => {
  const hash = await hashPassword("s3cret pw");
  await withServer({
    adjust: (c) => {
      c.users = [user("demo", "demo"), user("hashed", hash)];
      c.loginFailDelayMs = 10;
    },
  }, async (s) => {
    const c = await RawClient.login(s.port, "hashed", "s3cret pw");
    await c.expect("PWD", 257);
    c.close();
    const wrong = await RawClient.connect(s.port);
    await wrong.expect("USER hashed", 331);
    await wrong.expect("PASS s3cret pw ", 530);
    await wrong.expect("USER hashed", 331);
    await wrong.expect(`PASS ${hash}`, 530); // the hash itself is not the password
    wrong.close();
    (await RawClient.login(s.port, "demo", "demo")).close(); // plaintext still works
    const log = await s.logText();
    assert(!log.includes("s3cret") && !log.includes(hash.split("$")[4]), "no secrets in the log");
  });
});

Deno.test("unknown names and plaintext users cost a hash check too (no name probing)", async () => {
  const users = new UserDirectory([
    user("hashed", await hashPassword("pw")),
    user("plain", "pw"),
  ]);
  assertEquals((await users.check("hashed", "pw"))?.name, "hashed");
  assertEquals((await users.check("plain", "pw"))?.name, "plain");
  assertEquals(await users.check("hashed", "nope"), null);
  assertEquals(await users.check("nobody", "pw"), null);
  const time = async (name: string) => {
    const samples: number[] = [];
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await users.check(name, "wrong");
      samples.push(performance.now() - started);
    }
    return samples.sort((x, y) => x - y)[1];
  };
  const hashed = await time("hashed");
  for (const name of ["nobody", "plain"]) {
    const other = await time(name);
    assert(other > hashed / 3, `${name}: ${other} ms vs a hashed user's ${hashed} ms`);
  }
});

Deno.test("--hash-password reads stdin and prints a hash that logs in from a config file", async () => {
  const password = "pa ss:wörd#1";
  const out = await deno(["--hash-password"], `${password}\nignored second line\n`);
  assertEquals(out.code, 0, out.stderr);
  assertMatch(out.stdout, /^\$pbkdf2-sha256\$310000\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+\n$/);
  assert(!out.stdout.includes(password) && !out.stderr.includes(password));
  const noNewline = await deno(["--hash-password"], "until-eof");
  assertEquals(noNewline.code, 0, noNewline.stderr);
  const empty = await deno(["--hash-password"], "");
  assertEquals(empty.code, 2);
  assertMatch(empty.stderr, /empty password/);
  assertMatch((await deno(["--help"])).stdout, /--hash-password/);

  const dir = await Deno.makeTempDir();
  const file = `${dir}/hashed.conf`;
  const hash = out.stdout.trim();
  await Deno.writeTextFile(
    file,
    `[COS_ACCOUNT_0]\nstorage = local\nhome_dir = ${dir}/files\nftp_login_user_name = u\n` +
      `ftp_login_user_password = ${hash}\nauthority = RW\n[OPTIONAL]\nlog_dir = none\n`,
  );
  const check = await deno(["--check", "--config", file]);
  assertEquals(check.code, 0, check.stderr);
  assert(!check.stderr.includes("plaintext"), check.stderr);
  assert(!check.stdout.includes(hash) && !check.stderr.includes(hash), "no hash in messages");
  const loaded = await loadConfigFile(file);
  assert(loaded.config !== null);
  const s = await startServer((c) => c.users = loaded.config!.users);
  try {
    (await RawClient.login(s.port, "u", password)).close();
    const untilEof = parseHash(noNewline.stdout.trim());
    assert(typeof untilEof !== "string", "the line without a newline was hashed too");
  } finally {
    await s.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--check warns about plaintext passwords at file:line: key, never showing them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const modern = `${dir}/modern.conf`;
    await Deno.writeTextFile(
      modern,
      `[COS_ACCOUNT_0]\nstorage = local\nhome_dir = ${dir}/files\nftp_login_user_name = u\n` +
        `ftp_login_user_password = Pl41n-S3cret\nauthority = RW\n[OPTIONAL]\nlog_dir = none\n`,
    );
    const out = await deno(["--check", "--config", modern]);
    assertEquals(out.code, 0, out.stderr);
    assertMatch(
      out.stderr,
      new RegExp(
        `warning: ${modern}:5: ftp_login_user_password: plaintext password; ` +
          "use --hash-password to store a hash",
      ),
    );
    assert(!(out.stdout + out.stderr).includes("Pl41n-S3cret"), "no password in messages");

    const hash = await hashPassword("bob's");
    const older = `${dir}/older.conf`;
    await Deno.writeTextFile(
      older,
      `[COS_ACCOUNT]\nstorage = local\ncos_user_home_dir = ${dir}/shared\n[FTP_ACCOUNT]\n` +
        `login_users = alice:Pl41n-S3cret:RW;bob:${hash}:RO\n[OPTIONAL]\nlog_dir = none\n`,
    );
    const legacy = await deno(["--check", "--config", older]);
    assertEquals(legacy.code, 0, legacy.stderr);
    assertMatch(
      legacy.stderr,
      new RegExp(
        `warning: ${older}:5: login_users: entry 1 \\(user "alice"\\): plaintext password`,
      ),
    );
    assertEquals(legacy.stderr.match(/plaintext/g)?.length, 1, "bob's hash is not plaintext");
    const all = legacy.stdout + legacy.stderr;
    assert(!all.includes("Pl41n-S3cret") && !all.includes(hash), "no secrets in messages");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a malformed $pbkdf2-sha256$ value is an error that does not quote it", () => {
  const good = "$pbkdf2-sha256$1000$AAAAAAAAAAAAAAAAAAAAAA$" + "A".repeat(43);
  const cases: [string, RegExp][] = [
    ["$pbkdf2-sha256$310000$abc", /expected \$pbkdf2-sha256\$<iterations>\$<salt>\$<hash>/],
    [good.replace("$1000$", "$12$"), /iterations must be a whole number from 1000/],
    [good.replace("$1000$", "$1e6$"), /iterations must be a whole number/],
    [good.replace("AAAAAAAAAAAAAAAAAAAAAA", "AA+A"), /the salt must be base64url/],
    [good.slice(0, -30), /the hash must be base64url of 16 to 64 bytes/],
  ];
  for (const [value, message] of cases) {
    const text = `[COS_ACCOUNT_0]\nstorage = local\nhome_dir = /d\nftp_login_user_name = u\n` +
      `ftp_login_user_password = ${value}\nauthority = RW\n`;
    const result = parseConfig(text, "t.conf", {}, "/");
    assertEquals(result.config, null, value);
    const errors = result.errors.map(formatIssue);
    assertEquals(errors.length, 1, errors.join("\n"));
    assertMatch(errors[0], /^t\.conf:5: ftp_login_user_password: malformed password hash: /);
    assertMatch(errors[0], message);
    assert(!errors[0].includes(value.slice(15)), errors[0]);
  }
  const valid = parseConfig(
    `[COS_ACCOUNT]\nstorage = local\nhome_dir = /d\n[FTP_ACCOUNT]\nlogin_users = a:${good}:RW\n`,
    "t.conf",
    {},
    "/",
  );
  assertEquals(valid.errors, []);
  assertEquals(valid.warnings, []);
  const bad = parseConfig(
    `[COS_ACCOUNT]\nstorage = local\nhome_dir = /d\n[FTP_ACCOUNT]\nlogin_users = a:$pbkdf2-sha256$x:RW\n`,
    "t.conf",
    {},
    "/",
  );
  assertEquals(bad.errors.map(formatIssue), [
    't.conf:5: login_users: entry 1 (user "a"): malformed password hash: expected ' +
    "$pbkdf2-sha256$<iterations>$<salt>$<hash> (see --hash-password)",
  ]);
});
