/**
 * Running as a service: the systemd unit passes `systemd-analyze verify` (with no
 * warning) and holds the hardening the README promises, the logrotate example
 * parses, and install.sh puts a package's files in place under a DESTDIR.
 * Steps needing systemd-analyze or logrotate are ignored, with the reason printed,
 * where those are absent.
 */

import { SCALAR_KEYS } from "../src/config/keys.ts";
import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs } from "./support/clients.ts";
import { exists } from "./support/server.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const UNIT = `${ROOT}deploy/systemd/cos-ftp-server.service`;
const LOGROTATE = `${ROOT}deploy/logrotate/cos-ftp-server`;
const INSTALL = `${ROOT}deploy/install.sh`;

async function run(command: string, args: string[], cwd = ROOT) {
  const out = await new Deno.Command(command, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}

/** A directive's value in the unit (the last one set wins, as in systemd). */
function directive(unit: string, name: string): string {
  const values = [...unit.matchAll(new RegExp(`^${name}=(.*)$`, "gm"))].map((m) => m[1]);
  assert(values.length > 0, `${name}= missing from the unit`);
  return values.at(-1)!;
}

function defaultOf(key: string): number {
  return Number(SCALAR_KEYS.find((spec) => spec.key === key)!.default);
}

Deno.test("systemd unit: hardening, limits and signals as documented", async () => {
  const unit = await Deno.readTextFile(UNIT);
  assertEquals(directive(unit, "AmbientCapabilities"), "CAP_NET_BIND_SERVICE");
  assertEquals(directive(unit, "CapabilityBoundingSet"), "CAP_NET_BIND_SERVICE");
  assertEquals(directive(unit, "NoNewPrivileges"), "yes");
  assertEquals(directive(unit, "ProtectSystem"), "strict");
  assertEquals(directive(unit, "ProtectHome"), "yes");
  assertEquals(directive(unit, "PrivateTmp"), "yes");
  assertEquals(directive(unit, "Restart"), "on-failure");
  assertEquals(directive(unit, "KillSignal"), "SIGTERM");
  assertEquals(directive(unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
  assert(directive(unit, "User") !== "root", "runs as an unprivileged user");
  assertEquals(directive(unit, "LogsDirectory"), "cos-ftp-server");
  assertEquals(directive(unit, "StateDirectory"), "cos-ftp-server");
  const graceSeconds = defaultOf("shutdown_grace_period");
  assert(
    Number(directive(unit, "TimeoutStopSec")) > graceSeconds,
    `TimeoutStopSec must exceed shutdown_grace_period (${graceSeconds} s)`,
  );
  // About 3 descriptors per session, plus room for COS connections and the runtime.
  const sessions = defaultOf("max_connection_num");
  assert(Number(directive(unit, "LimitNOFILE")) >= 3 * sessions + 1024, "LimitNOFILE too small");
  assertMatch(directive(unit, "ExecStart"), /--config \/etc\/cos-ftp-server\/vsftpd\.conf$/);
});

Deno.test({
  name: "systemd unit: systemd-analyze verify passes without a warning",
  ...needs("systemd-analyze"),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "cosftp-unit-" });
    try {
      // verify needs ExecStart's binary to exist: a stub stands in for the launcher.
      const stub = `${dir}/cos-ftp-server`;
      await Deno.writeTextFile(stub, "#!/bin/sh\nexit 0\n");
      await Deno.chmod(stub, 0o755);
      const unit = (await Deno.readTextFile(UNIT)).replace("/usr/local/bin/cos-ftp-server", stub);
      const path = `${dir}/cos-ftp-server.service`;
      await Deno.writeTextFile(path, unit);
      const result = await run("systemd-analyze", ["verify", path], dir);
      assertEquals(result.code, 0, result.stderr);
      // Unknown or misspelt directives are only warnings: there must be none.
      assertEquals(result.stderr.trim(), "", "systemd-analyze warned");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "logrotate example: parses and signals the service after rotating",
  ...needs("logrotate"),
  fn: async () => {
    const text = await Deno.readTextFile(LOGROTATE);
    assertMatch(text, /^\s*su cos-ftp cos-ftp$/m);
    // --kill-who= is known to old and new systemd alike; a failure must reach logrotate.
    assertMatch(text, /--kill-who=main cos-ftp-server\.service$/m);
    assert(!/\|\| true|2>\/dev\/null/.test(text), "postrotate must not hide a failure");
    assertMatch(text, /^\/var\/log\/cos-ftp-server\/cos_v5\.log \{/m);
    assertMatch(text, /systemctl kill --signal=SIGUSR1/);
    assert(!/^\s*copytruncate/m.test(text), "renames and signals instead of copytruncate");
    const dir = await Deno.makeTempDir({ prefix: "cosftp-logrotate-" });
    try {
      // logrotate refuses an unknown `su` user: where cos-ftp does not exist, parse a copy
      // naming the user running the test.
      const me = (await run("id", ["-un"])).stdout.trim();
      const group = (await run("id", ["-gn"])).stdout.trim();
      const hasUser = (await run("id", ["cos-ftp"])).code === 0;
      const copy = `${dir}/cos-ftp-server`;
      await Deno.writeTextFile(
        copy,
        hasUser ? text : text.replace("su cos-ftp cos-ftp", `su ${me} ${group}`),
      );
      const result = await run("logrotate", ["-d", "-s", `${dir}/state`, copy], dir);
      assertEquals(result.code, 0, result.stderr);
      assert(!/error/i.test(result.stdout + result.stderr), result.stdout + result.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("install.sh: puts package, link, config, unit and logrotate under DESTDIR", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-install-" });
  try {
    // A package as dist.ts lays it out: install.sh at the top, deploy/ and conf/ beside it.
    const pkg = `${dir}/pkg`;
    const dest = `${dir}/root`;
    for (const sub of ["deploy/systemd", "deploy/logrotate", "conf"]) {
      await Deno.mkdir(`${pkg}/${sub}`, { recursive: true });
    }
    await Deno.copyFile(INSTALL, `${pkg}/install.sh`);
    await Deno.copyFile(UNIT, `${pkg}/deploy/systemd/cos-ftp-server.service`);
    await Deno.copyFile(LOGROTATE, `${pkg}/deploy/logrotate/cos-ftp-server`);
    await Deno.copyFile(`${ROOT}conf/vsftpd.conf.example`, `${pkg}/conf/vsftpd.conf.example`);
    await Deno.writeTextFile(`${pkg}/cos-ftp-server`, "#!/bin/sh\necho launcher\n");
    await Deno.chmod(`${pkg}/cos-ftp-server`, 0o755);
    for (const sub of ["bin", "app"]) await Deno.mkdir(`${pkg}/${sub}`);
    await Deno.writeTextFile(`${pkg}/bin/deno`, "#!/bin/sh\n");
    await Deno.writeTextFile(`${pkg}/app/cos-ftp-server.js`, "// bundle\n");
    await Deno.writeTextFile(`${pkg}/README.md`, "# readme\n");
    // The operator's config beside the package (README "Delivery"): it holds keys.
    await Deno.writeTextFile(`${pkg}/conf/vsftpd.conf`, "secret_key = s3cr3t\n");

    const first = await run("sh", [`${pkg}/install.sh`, "--destdir", dest, "--prefix", "/opt/cft"]);
    assertEquals(first.code, 0, first.stdout + first.stderr);
    assert((await Deno.stat(`${dest}/opt/cft/cos-ftp-server`)).isFile, "package copied");
    assertEquals((await Deno.stat(`${dest}/opt/cft/bin/deno`)).mode! & 0o777, 0o755);
    assert(
      !(await exists(`${dest}/opt/cft/conf/vsftpd.conf`)),
      "the operator's vsftpd.conf must not be copied into the package directory",
    );
    assertEquals(
      await Deno.readLink(`${dest}/usr/local/bin/cos-ftp-server`),
      "/opt/cft/cos-ftp-server",
    );
    assertEquals(
      await Deno.readTextFile(`${dest}/etc/systemd/system/cos-ftp-server.service`),
      await Deno.readTextFile(UNIT),
    );
    assert((await Deno.stat(`${dest}/etc/logrotate.d/cos-ftp-server`)).isFile);
    const conf = `${dest}/etc/cos-ftp-server/vsftpd.conf`;
    assertMatch(await Deno.readTextFile(conf), /^log_dir = \/var\/log\/cos-ftp-server$/m);
    assertEquals((await Deno.stat(conf)).mode! & 0o777, 0o640, "the config holds secrets");
    assertMatch(first.stdout, /not running systemctl daemon-reload/);

    // A second run keeps the operator's edited config, but takes away world access.
    await Deno.writeTextFile(conf, "# edited\n");
    await Deno.chmod(conf, 0o644);
    const second = await run("sh", [`${pkg}/install.sh`, `--destdir=${dest}`, "--prefix=/opt/cft"]);
    assertEquals(second.code, 0, second.stdout + second.stderr);
    assertEquals(await Deno.readTextFile(conf), "# edited\n");
    assertMatch(second.stdout, /kept the existing .*no access for others \(was 644/);
    assertMatch(second.stderr, /group is not set/);
    assertEquals((await Deno.stat(conf)).mode! & 0o777, 0o640, "kept config not world-readable");

    const bad = await run("sh", [`${pkg}/install.sh`, "--destdir", dest, "--prefix", "relative"]);
    assertEquals(bad.code, 2, bad.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
