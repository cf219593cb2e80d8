/**
 * Packaging: `deno task dist` builds a tarball whose launcher serves FTP with the network cut
 * off (so it provably downloads nothing), and `deno task compile` fails with one clear
 * sentence when it cannot obtain the Deno runtime.
 *
 * The offline checks run in a new network namespace (`unshare -n`, needs root or user
 * namespaces); where that is impossible those steps are reported as ignored, with the reason.
 */

import { fileURLToPath } from "node:url";
import { VERSION } from "../src/version.ts";
import { tarballName } from "../tools/dist.ts";
import { assert, assertMatch } from "./support/assert.ts";
import { exists } from "./support/server.ts";

/** The repository root (this file lives in tests/). */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DENO = Deno.execPath();

/** Output of a finished subprocess. */
interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to run a subprocess. */
interface RunOptions {
  cwd?: string;
  /** Variables to set; `undefined` removes a variable from the inherited environment. */
  env?: Record<string, string | undefined>;
  timeoutMs: number;
}

/**
 * Runs a command to completion with piped output. On timeout it sends SIGTERM, then SIGKILL
 * 5 s later, and throws with whatever output there was, so a hang fails the test quickly.
 */
async function run(command: string, args: string[], options: RunOptions): Promise<Result> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd ?? ROOT,
    env: environment(options.env ?? {}),
    clearEnv: true,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const timer = setTimeout(() => {
    timedOut = true;
    signal(child, "SIGTERM");
    killTimer = setTimeout(() => signal(child, "SIGKILL"), 5000);
  }, options.timeoutMs);
  try {
    const output = await child.output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    const result = {
      code: output.code,
      stdout: decode(output.stdout),
      stderr: decode(output.stderr),
    };
    if (timedOut) throw new Error(`${command} ${args.join(" ")} timed out: ${show(result)}`);
    return result;
  } finally {
    clearTimeout(timer);
    clearTimeout(killTimer);
  }
}

/** The inherited environment with `changes` applied (colours off, for plain matching). */
function environment(changes: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = { ...Deno.env.toObject(), NO_COLOR: "1" };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // Already exited: nothing to stop.
  }
}

function show(result: Result): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

/**
 * Null when this machine can run commands in a new network namespace with a working
 * loopback, curl and cmp; otherwise why not.
 */
async function netnsProblem(): Promise<string | null> {
  const script = "ip link set lo up && command -v curl >/dev/null && command -v cmp >/dev/null";
  try {
    const result = await run("unshare", ["-n", "sh", "-c", script], { timeoutMs: 10_000 });
    if (result.code === 0) return null;
    return `"unshare -n" with ip, curl and cmp failed (exit ${result.code}): ${result.stderr.trim()}`;
  } catch (error) {
    return `"unshare -n" cannot run: ${error instanceof Error ? error.message : String(error)}`;
  }
}

const NETNS_PROBLEM = await netnsProblem();
if (NETNS_PROBLEM !== null) {
  // Printed, not silent: the steps that need it show as "ignored" in the summary.
  console.warn(`dist_test: offline steps are ignored: ${NETNS_PROBLEM}`);
}

/** Runs `script` with sh in a new network namespace that has only loopback (brought up). */
function offline(script: string, options: RunOptions): Promise<Result> {
  return run("unshare", ["-n", "sh", "-c", `ip link set lo up || exit 3\n${script}`], options);
}

/** The config the packaged server runs with: local storage under the start directory. */
const OFFLINE_CONFIG = `[COS_ACCOUNT_0]
storage = local
local_root = ./data
home_dir = ./data
ftp_login_user_name = demo
ftp_login_user_password = demo
authority = RW
[NETWORK]
listen_address = 127.0.0.1
listen_port = 2121
passive_port = 41000,41100
[OPTIONAL]
log_dir = none
`;

/**
 * Starts the launcher ($LAUNCHER) in the background, waits (boundedly) until it answers,
 * uploads random bytes with curl, downloads them again, compares, and stops the server with
 * SIGTERM. `timeout` bounds the server even if this shell is killed.
 */
const ROUND_TRIP_SCRIPT = `set -u
timeout 60 "$LAUNCHER" --config ftp.conf >server.out 2>server.err &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT INT TERM
url=ftp://127.0.0.1:2121
i=0
until curl -s --noproxy '*' --max-time 1 -u demo:demo "$url/" >/dev/null 2>&1; do
  i=$((i + 1))
  if [ "$i" -ge 150 ]; then echo "server did not answer on $url"; exit 1; fi
  kill -0 $pid 2>/dev/null || { echo "server exited before answering"; exit 1; }
  sleep 0.1
done
head -c 262144 /dev/urandom >up.bin
curl -sS --noproxy '*' --max-time 20 -u demo:demo -T up.bin "$url/up.bin" || exit 1
curl -sS --noproxy '*' --max-time 20 -u demo:demo -o down.bin "$url/up.bin" || exit 1
cmp up.bin down.bin || exit 1
kill $pid
wait $pid
status=$?
trap - EXIT
echo "DIST_ROUNDTRIP_OK server_status=$status"
`;

Deno.test("dist: the tarball's launcher runs and serves FTP offline", async (t) => {
  const unpacked = await Deno.makeTempDir({ prefix: "cosftp-dist-" });
  try {
    const launcher = `${unpacked}/cos-ftp-server-${VERSION}/cos-ftp-server`;
    await t.step("deno task dist builds the tarball", async () => {
      const built = await run(DENO, ["task", "dist"], { timeoutMs: 300_000 });
      assert(built.code === 0, `deno task dist failed: ${show(built)}`);
      const tarball = `${ROOT}dist/${tarballName()}`;
      assert(built.stdout.includes(tarball), `no output path printed: ${show(built)}`);
      const unpack = await run("tar", ["-xzf", tarball, "-C", unpacked], { timeoutMs: 60_000 });
      assert(unpack.code === 0, `tar -x failed: ${show(unpack)}`);
      await assertLayout(`${unpacked}/cos-ftp-server-${VERSION}`);
    });
    await t.step("the launcher prints the version", async () => {
      const result = await run(launcher, ["--version"], { cwd: unpacked, timeoutMs: 30_000 });
      assert(result.code === 0, `--version failed: ${show(result)}`);
      assert(result.stdout.includes(`cos-ftp-server ${VERSION}`), show(result));
    });
    await t.step("install.sh installs the package into a DESTDIR", async () => {
      const dest = `${unpacked}/root`;
      const top = `${unpacked}/cos-ftp-server-${VERSION}`;
      const result = await run("sh", [`${top}/install.sh`, "--destdir", dest], {
        timeoutMs: 60_000,
      });
      assert(result.code === 0, `install.sh failed: ${show(result)}`);
      for (
        const file of [
          "opt/cos-ftp-server/bin/deno",
          "opt/cos-ftp-server/app/cos-ftp-server.js",
          "etc/cos-ftp-server/vsftpd.conf",
          "etc/systemd/system/cos-ftp-server.service",
          "etc/logrotate.d/cos-ftp-server",
        ]
      ) assert((await Deno.stat(`${dest}/${file}`)).isFile, `${file} not installed`);
      const link = await Deno.readLink(`${dest}/usr/local/bin/cos-ftp-server`);
      assert(link === "/opt/cos-ftp-server/cos-ftp-server", `launcher link: ${link}`);
      // The installed copy runs like the unpacked one.
      const installed = await run(`${dest}/opt/cos-ftp-server/cos-ftp-server`, ["--version"], {
        cwd: unpacked,
        timeoutMs: 30_000,
      });
      assert(installed.stdout.includes(`cos-ftp-server ${VERSION}`), show(installed));
    });
    await t.step({
      name: "the launcher serves an upload and download with no network",
      ignore: NETNS_PROBLEM !== null,
      fn: () => roundTripOffline(launcher),
    });
  } finally {
    await Deno.remove(unpacked, { recursive: true });
  }
});

/** Fails unless the unpacked package has every file, with the modes the launcher needs. */
async function assertLayout(top: string): Promise<void> {
  const executables = ["cos-ftp-server", "bin/deno", "install.sh"];
  const files = [
    "app/cos-ftp-server.js",
    "conf/vsftpd.conf.example",
    "README.md",
    "deploy/systemd/cos-ftp-server.service",
    "deploy/logrotate/cos-ftp-server",
  ];
  for (const file of [...executables, ...files]) {
    const info = await Deno.stat(`${top}/${file}`);
    assert(info.isFile, `${file} missing from the package`);
    if (executables.includes(file)) {
      assert(((info.mode ?? 0) & 0o755) === 0o755, `${file} has mode ${info.mode?.toString(8)}`);
    }
  }
}

/** Runs the round trip in a fresh namespace and directory; checks nothing was fetched. */
async function roundTripOffline(launcher: string): Promise<void> {
  const cwd = await Deno.makeTempDir({ prefix: "cosftp-offline-" });
  try {
    await Deno.writeTextFile(`${cwd}/ftp.conf`, OFFLINE_CONFIG);
    const result = await offline(ROUND_TRIP_SCRIPT, {
      cwd,
      env: { LAUNCHER: launcher },
      timeoutMs: 90_000,
    });
    const serverErr = await Deno.readTextFile(`${cwd}/server.err`).catch(() => "");
    const context = `${show(result)}\n--- server stderr\n${serverErr}`;
    assert(result.code === 0, `offline round trip failed: ${context}`);
    assertMatch(result.stdout, /DIST_ROUNDTRIP_OK server_status=0/, context);
    assertMatch(serverErr, /\bstarted\b/, "the server did not log its start");
    // Any module resolution or download attempt would fail here and say so on stderr.
    const suspicious = serverErr.split("\n").filter((line) => /error|fetch|download/i.test(line));
    assert(
      suspicious.length === 0,
      `server stderr mentions the network:\n${suspicious.join("\n")}`,
    );
    // The launcher must not create deno's project files in the directory it runs from.
    for (const name of ["deno.lock", "node_modules", "deno.json"]) {
      assert(!(await exists(`${cwd}/${name}`)), `${name} appeared in the cwd`);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

/** Where deno compile would find an already downloaded runtime for this machine. */
async function cachedRuntime(): Promise<string | null> {
  const result = await run(DENO, ["info", "--json"], { timeoutMs: 30_000 });
  const info: unknown = JSON.parse(result.stdout);
  const dir = typeof info === "object" && info !== null && "denoDir" in info
    ? info.denoDir
    : undefined;
  if (typeof dir !== "string") throw new Error(`deno info --json has no denoDir: ${show(result)}`);
  const path = `${dir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  return (await exists(path)) ? path : null;
}

/**
 * Runs `deno task compile ...args` with DENORT_BIN as given (undefined = unset); with
 * `isolate`, in a network namespace without network.
 */
function compileTask(
  args: string[],
  denortBin: string | undefined,
  isolate: boolean,
): Promise<Result> {
  // RUST_BACKTRACE=1 on purpose: not even then may a backtrace appear.
  const options = { env: { DENO, DENORT_BIN: denortBin, RUST_BACKTRACE: "1" }, timeoutMs: 120_000 };
  if (!isolate) return run(DENO, ["task", "compile", ...args], options);
  const command = ["task", "compile", ...args].map((arg) => `'${arg}'`).join(" ");
  return offline(`exec "$DENO" ${command}`, options);
}

/** Fails unless `result` is a failure with one clear message matching `pattern`. */
function assertCleanFailure(result: Result, pattern: RegExp): void {
  assert(result.code !== 0, `deno task compile should have failed: ${show(result)}`);
  assertMatch(result.stderr, pattern, show(result));
  assert(!/Stack backtrace|^\s+at /m.test(result.stderr), `a stack trace: ${show(result)}`);
}

Deno.test("compile: fails clearly when the Deno runtime cannot be obtained", async (t) => {
  const cached = NETNS_PROBLEM === null ? await cachedRuntime() : null;
  await t.step({
    name: "without DENORT_BIN and without network it explains DENORT_BIN and dist",
    // A cached runtime lets deno compile work offline, so failing would then be wrong.
    ignore: NETNS_PROBLEM !== null || cached !== null,
    fn: async () => {
      const result = await compileTask([], undefined, true);
      assertCleanFailure(result, /cannot be downloaded from here/);
      assertMatch(result.stderr, /Set DENORT_BIN=\/path\/to\/denort/, show(result));
      assertMatch(result.stderr, /deno task dist/, show(result));
      assertMatch(result.stderr, new RegExp(`denort-${Deno.build.target}\\.zip`), show(result));
    },
  });
  if (cached !== null) console.warn(`dist_test: offline compile step ignored: ${cached} exists`);
  // These fail before any network access, so they need no namespace.
  await t.step("DENORT_BIN naming a missing file is reported with that path", async () => {
    const result = await compileTask([], "/nonexistent", false);
    assertCleanFailure(result, /DENORT_BIN=\/nonexistent: no such file/);
  });
  await t.step("DENORT_BIN naming a file that is not executable is reported", async () => {
    const file = await Deno.makeTempFile({ prefix: "cosftp-denort-" });
    try {
      const result = await compileTask([], file, false);
      assertCleanFailure(result, new RegExp(`DENORT_BIN=${file}: not executable`));
    } finally {
      await Deno.remove(file);
    }
  });
  await t.step("an unknown argument is reported", async () => {
    const result = await compileTask(["--bogus"], "/nonexistent", false);
    assertCleanFailure(result, /unknown argument --bogus/);
  });
});
