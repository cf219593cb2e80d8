/**
 * Files a config names (log_dir and its cos_v5.log, FTPS PEM files, local roots) that
 * the server cannot use: `--check` and start-up both say `file:line: key: message` and
 * exit 1, never a stack trace. Tests run as root, so "not writable" is made with
 * shapes root cannot write through either: a path through a regular file, a directory
 * or FIFO where a file belongs, procfs.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { run } from "./support/clients.ts";
import { SERVER_PERMISSIONS } from "./support/server.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

/** Whatever Deno prints for an uncaught error: the word, or a `at file:line` frame. */
const CRASH = /Uncaught|\bat .*[\w.]+:\d+(:\d+)?\)?$/m;

function mainRun(args: string[], cwd: string) {
  return run(Deno.execPath(), ["run", ...SERVER_PERMISSIONS, MAIN, ...args], {
    cwd,
    timeoutMs: 20_000,
  });
}

/** A valid one-account config with `extra` lines appended (they may open new sections). */
function config(extra: string[], accountLines = ["home_dir = ./data"]): string {
  return [
    "[COS_ACCOUNT_0]",
    "storage = local",
    ...accountLines,
    "ftp_login_user_name = u",
    "ftp_login_user_password = p",
    "authority = RW",
    "[NETWORK]",
    "listen_address = 127.0.0.1",
    "listen_port = 0",
    ...extra,
  ].join("\n") + "\n";
}

interface Case {
  name: string;
  text: (dir: string) => string;
  key: string;
  message: RegExp;
}

const CASES: Case[] = [
  {
    name: "log_dir through a regular file",
    text: () => config(["[OPTIONAL]", "log_dir = /etc/passwd/logs"]),
    key: "log_dir",
    message: /\/etc\/passwd is not a directory/,
  },
  {
    name: "log_dir with a name longer than 255 bytes",
    text: (dir) => config(["[OPTIONAL]", `log_dir = ${dir}/${"n".repeat(300)}`]),
    key: "log_dir",
    message: /longer than 255 bytes/,
  },
  {
    name: "log_dir in procfs",
    text: () => config(["[OPTIONAL]", "log_dir = /proc/self/nope"]),
    key: "log_dir",
    message: /cannot be (created|used)/,
  },
  {
    name: "log_dir that is a regular file",
    text: () => config(["[OPTIONAL]", "log_dir = /etc/hostname"]),
    key: "log_dir",
    message: /is not a directory/,
  },
  {
    name: "cos_v5.log is a directory",
    text: (dir) => config(["[OPTIONAL]", `log_dir = ${dir}/logdir`]),
    key: "log_dir",
    message: /cos_v5\.log: is not a regular file/,
  },
  {
    name: "cos_v5.log is a FIFO",
    text: (dir) => config(["[OPTIONAL]", `log_dir = ${dir}/fifolog`]),
    key: "log_dir",
    message: /cos_v5\.log: is not a regular file/,
  },
  {
    name: "cert_file missing, key_file a directory",
    text: (dir) =>
      config([
        "[OPTIONAL]",
        "log_dir = none",
        "[FTPS]",
        "cert_file = ./nope.pem",
        `key_file = ${dir}`,
      ]),
    key: "cert_file",
    message: /nope\.pem: cannot be read: no such file/,
  },
  {
    name: "cert_file is a FIFO",
    text: (dir) =>
      config(["[OPTIONAL]", "log_dir = none", "[FTPS]", `cert_file = ${dir}/fifo`, "key_file = k"]),
    key: "cert_file",
    message: /fifo: is not a regular file/,
  },
  {
    name: "local_root through a regular file",
    text: () => config(["[OPTIONAL]", "log_dir = none"], ["local_root = /etc/hostname/data"]),
    key: "local_root",
    message: /\/etc\/hostname is not a directory/,
  },
  {
    name: "home_dir (a local root) in procfs",
    text: () => config(["[OPTIONAL]", "log_dir = none"], ["home_dir = /proc/self/data"]),
    key: "home_dir",
    message: /cannot be (created|used)/,
  },
];

async function prepare(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-files-" });
  await Deno.mkdir(`${dir}/logdir/cos_v5.log`, { recursive: true });
  await Deno.mkdir(`${dir}/fifolog`);
  for (const fifo of [`${dir}/fifolog/cos_v5.log`, `${dir}/fifo`]) {
    const made = await run("mkfifo", [fifo]);
    assertEquals(made.code, 0, made.stderr);
  }
  return dir;
}

for (const c of CASES) {
  Deno.test(`unusable path: ${c.name}: --check and start-up exit 1 with file:line: key`, async () => {
    const dir = await prepare();
    try {
      const file = `${dir}/c.conf`;
      const text = c.text(dir);
      await Deno.writeTextFile(file, text);
      const line = text.split("\n").findIndex((l) => l.startsWith(`${c.key} =`)) + 1;
      assert(line > 0, "the case names its key");
      for (const args of [["--check"], []]) {
        const out = await mainRun([...args, "--config", file], dir);
        const all = out.stdout + out.stderr;
        assertEquals(out.code, 1, all);
        assertMatch(out.stderr, new RegExp(`error: ${file}:${line}: ${c.key}: `));
        assertMatch(out.stderr, c.message);
        assert(!CRASH.test(all), `no crash or stack trace:\n${all}`);
        assert(all.length < 2000, `short output:\n${all}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("a usable log_dir that does not exist yet passes --check, which leaves it uncreated", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-files-" });
  try {
    const file = `${dir}/c.conf`;
    await Deno.writeTextFile(file, config(["[OPTIONAL]", "log_dir = ./new/logs"]));
    const checked = await mainRun(["--check", "--config", file], dir);
    assertEquals(checked.code, 0, checked.stdout + checked.stderr);
    assert(!(await exists(`${dir}/new`)), "--check leaves log_dir uncreated");
    assertEquals(
      (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.name.startsWith(".cos-ftp-probe")),
      [],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
