/**
 * Two server processes behind a real HAProxy speaking the PROXY protocol v2,
 * configured from deploy/haproxy/haproxy.cfg with loopback addresses:
 * 127.0.0.2 plays the public address, the instances listen on 127.0.0.1, and
 * clients connect from 127.0.0.3 / 127.0.0.4 so the real client address
 * differs from HAProxy's. Both instances serve the same directory (the
 * shared storage COS is in production).
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import {
  CLIENT_TIMEOUT_MS,
  curl,
  freePort,
  needs,
  ok,
  python,
  randomBytes,
  sha256,
  show,
  spawnMain,
  withTempDir,
} from "./support/kit.ts";

const HAPROXY = "/usr/sbin/haproxy";
const EXAMPLE = new URL("../deploy/haproxy/haproxy.cfg", import.meta.url).pathname;
const PUBLIC = "127.0.0.2";

/** HAProxy's package installs it in /usr/sbin, which may not be on PATH. */
function haproxyPresent(): { ignore: boolean } {
  try {
    Deno.statSync(HAPROXY);
    return needs("curl", "python3");
  } catch {
    console.error(`skipping: ${HAPROXY} not installed (apt-get install haproxy)`);
    return { ignore: true };
  }
}

interface Instance {
  name: string;
  port: number;
  passive: [number, number];
  dir: string;
  child: Deno.ChildProcess | null;
}

interface Cluster {
  front: number;
  instances: Instance[];
  shared: string;
}

/** The example, with the test's addresses, ports and quicker health checks. */
function haproxyConfig(c: Cluster): string {
  const [one, two] = c.instances;
  let text = Deno.readTextFileSync(EXAMPLE);
  const replace = (from: string, to: string) => {
    assert(text.includes(from), `the example no longer contains ${from}`);
    text = text.replaceAll(from, to);
  };
  replace("203.0.113.10:21\n", `${PUBLIC}:${c.front}\n`);
  replace("203.0.113.10:60000-60099", `${PUBLIC}:${one.passive.join("-")}`);
  replace("203.0.113.10:60100-60199", `${PUBLIC}:${two.passive.join("-")}`);
  replace("10.0.0.11:2121", `127.0.0.1:${one.port}`);
  replace("10.0.0.12:2121", `127.0.0.1:${two.port}`);
  replace("server ftp1 10.0.0.11 ", "server ftp1 127.0.0.1 ");
  replace("server ftp2 10.0.0.12 ", "server ftp2 127.0.0.1 ");
  replace("inter 2s", "inter 300ms");
  return text;
}

/** One instance's config, as the example's header describes it. */
function instanceConfig(i: Instance, shared: string): string {
  return [
    "[COS_ACCOUNT]",
    `cos_user_home_dir = ${shared}`,
    "[FTP_ACCOUNT]",
    "login_users = demo:demo:RW",
    "[NETWORK]",
    "listen_address = 127.0.0.1",
    `listen_port = ${i.port}`,
    `passive_port = ${i.passive.join(",")}`,
    "masquerade_address = 127.0.0.2",
    "proxy_protocol = v2",
    "[OPTIONAL]",
    "log_dir = logs",
    "log_level = INFO",
    "max_connections_per_ip = 2",
    "login_failure_delay = 0.05",
  ].join("\n");
}

async function withCluster(fn: (c: Cluster) => Promise<void>): Promise<void> {
  await withTempDir(async (root) => {
    // Disjoint passive ranges per instance, somewhere in 40000-59999.
    const base = 40000 + Math.floor(Math.random() * 990) * 20;
    const instances: Instance[] = [0, 1].map((n) => ({
      name: `ftp${n + 1}`,
      port: freePort(),
      passive: [base + n * 10, base + n * 10 + 9],
      dir: `${root}/ftp${n + 1}`,
      child: null,
    }));
    const c: Cluster = { front: freePort(), instances, shared: `${root}/shared` };
    await Deno.mkdir(c.shared);
    let haproxy: Deno.ChildProcess | null = null;
    try {
      for (const i of instances) {
        await Deno.mkdir(i.dir);
        await Deno.writeTextFile(`${i.dir}/vsftpd.conf`, instanceConfig(i, c.shared));
        i.child = await spawnMain(["--config", "vsftpd.conf"], i.port, { cwd: i.dir });
      }
      await Deno.writeTextFile(`${root}/haproxy.cfg`, haproxyConfig(c));
      haproxy = new Deno.Command(HAPROXY, {
        args: ["-db", "-f", `${root}/haproxy.cfg`],
        stdout: "null",
        stderr: "null",
      }).spawn();
      await waitForBanner(c.front);
      await fn(c);
    } finally {
      for (const child of [haproxy, ...instances.map((i) => i.child)]) stop(child);
      for (const child of [haproxy, ...instances.map((i) => i.child)]) await child?.status;
      for (const i of instances) await i.child?.stderr.cancel().catch(() => {});
    }
  });
}

function stop(child: Deno.ChildProcess | null, signal: Deno.Signal = "SIGTERM"): void {
  try {
    child?.kill(signal);
  } catch {
    // Already gone.
  }
}

/** Until HAProxy answers with a server's banner (its health checks have passed). */
async function waitForBanner(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await python(BANNER, [String(port), "127.0.0.3"], 5000);
    if (r.stdout.startsWith("220")) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("HAProxy never served a banner");
}

const BANNER = `
import socket, sys
s = socket.create_connection(("${PUBLIC}", int(sys.argv[1])), timeout=3, source_address=(sys.argv[2], 0))
print(s.makefile("rb").readline().decode().strip())
`;

function url(c: Cluster, path: string): string {
  return `ftp://demo:demo@${PUBLIC}:${c.front}${path}`;
}

/** Lines of both instances' logs. */
async function logs(c: Cluster): Promise<string> {
  let text = "";
  for (const i of c.instances) {
    text += await Deno.readTextFile(`${i.dir}/logs/cos_v5.log`).catch(() => "");
  }
  return text;
}

const FTPLIB = `
import ftplib, hashlib, io, socket, sys
port, name, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
data = bytes((i * 7 + 3) % 251 for i in range(size))
ftp = ftplib.FTP()
ftp.source_address = ("127.0.0.3", 0)
ftp.connect("${PUBLIC}", port, timeout=20)
ftp.login("demo", "demo")
ftp.trust_server_pasv_ipv4_address = True
print(ftp.sendcmd("PASV"))
ftp.storbinary("STOR " + name, io.BytesIO(data))
got = io.BytesIO()
ftp.af = socket.AF_INET6  # makes ftplib use EPSV (it then connects to the control peer)
ftp.retrbinary("RETR " + name, got.write)
print("epsv", got.getvalue() == data)
ftp.af = socket.AF_INET
got = io.BytesIO()
ftp.retrbinary("RETR " + name, got.write)
print("pasv", got.getvalue() == data)
ftp.quit()
`;

Deno.test({
  name: "HAProxy: logins and byte-exact transfers (curl, ftplib; PASV and EPSV) on both instances",
  ...haproxyPresent(),
  async fn() {
    await withCluster(async (c) => {
      const bytes = randomBytes(3 * 2 ** 20 + 17);
      const local = `${c.shared}/../up.bin`;
      await Deno.writeFile(local, bytes);
      const source = ["--interface", "127.0.0.3"];
      // Several rounds so both instances serve (leastconn alternates between idle servers).
      for (let round = 0; round < 4; round++) {
        const pasv = round % 2 === 0 ? ["--disable-epsv"] : [];
        ok(await curl([...source, ...pasv, "-T", local, url(c, `/curl${round}.bin`)]), "upload");
        const stored = await Deno.readFile(`${c.shared}/curl${round}.bin`);
        assertEquals(await sha256(stored), await sha256(bytes), `round ${round}`);
        const fetched = await curlBytes([...source, ...pasv, url(c, `/curl${round}.bin`)]);
        assertEquals(await sha256(fetched), await sha256(bytes), `download ${round}`);
      }
      for (let round = 0; round < 2; round++) {
        const r = ok(
          await python(FTPLIB, [String(c.front), `lib${round}.bin`, String(1_000_003)]),
          "ftplib",
        );
        assertMatch(r.stdout, /227 Entering Passive Mode \(127,0,0,2,\d+,\d+\)/, show(r));
        assertMatch(r.stdout, /epsv True\npasv True/, show(r));
      }
      const log = await logs(c);
      const logins = log.split("\n").filter((line) => / login .*ip=127\.0\.0\.3/.test(line));
      assert(logins.length >= 10, `logins from 127.0.0.3 in the logs:\n${log.slice(-3000)}`);
      assert(!/ login .*ip=127\.0\.0\.1/.test(log), "a login logged with HAProxy's address");
      for (const i of c.instances) {
        const own = await Deno.readTextFile(`${i.dir}/logs/cos_v5.log`);
        assertMatch(own, / login .*ip=127\.0\.0\.3/, `${i.name} served no login`);
      }
    });
  },
});

/** curl's download as bytes (its stdout decoded as text would not be byte-exact). */
async function curlBytes(args: string[]): Promise<Uint8Array<ArrayBuffer>> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "--max-time", "20", "-o", "-", ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return new Uint8Array(out.stdout);
}

const LIMITS = `
import json, socket, sys
port = int(sys.argv[1])
def banner(src):
    s = socket.create_connection(("${PUBLIC}", port), timeout=10, source_address=(src, 0))
    return s, s.makefile("rb").readline().decode().strip()
held, lines = [], []
for _ in range(5):
    s, line = banner("127.0.0.3")
    held.append(s)
    lines.append(line)
s, line = banner("127.0.0.4")
lines.append(line)
print(json.dumps(lines))
`;

Deno.test({
  name: "HAProxy: max_connections_per_ip counts the real client, not HAProxy's address",
  ...haproxyPresent(),
  async fn() {
    await withCluster(async (c) => {
      // Two per client address on each of the two instances: 127.0.0.3's fifth is refused.
      const r = ok(await python(LIMITS, [String(c.front)]), "connections");
      const lines: string[] = JSON.parse(r.stdout);
      assertEquals(lines.slice(0, 4).map((l) => l.slice(0, 3)), ["220", "220", "220", "220"]);
      assertEquals(lines[4], "421 Too many connections from your address");
      assertEquals(lines[5].slice(0, 3), "220", "127.0.0.4 is another client");
      const log = await logs(c);
      assert(!/proxy-refused/.test(log.replace(/.*closed before a PROXY header.*\n/g, "")), log);
    });
  },
});

Deno.test({
  name: "HAProxy: new sessions are served after one instance is killed (SIGKILL)",
  ...haproxyPresent(),
  async fn() {
    await withCluster(async (c) => {
      await Deno.writeTextFile(`${c.shared}/hello.txt`, "hello from the shared storage\n");
      const victim = c.instances[0];
      stop(victim.child, "SIGKILL");
      await victim.child?.status;
      for (let n = 0; n < 6; n++) {
        const pasv = n % 2 === 0 ? ["--disable-epsv"] : [];
        const r = await curl(["--interface", "127.0.0.3", ...pasv, url(c, "/hello.txt")]);
        assertEquals(r.stdout, "hello from the shared storage\n", `session ${n}: ${show(r)}`);
      }
    });
  },
});
