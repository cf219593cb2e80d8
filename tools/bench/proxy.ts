/**
 * The cost of running behind HAProxy with the PROXY protocol: connect+login
 * time of sequential sessions and a large STOR/RETR, on three paths to
 * server processes on loopback:
 *
 * - direct: the client talks to a server (proxy_protocol = off);
 * - haproxy: through HAProxy, no PROXY header (the same server);
 * - haproxy+proxy: through HAProxy with send-proxy-v2 to a server with
 *   proxy_protocol = v2 (the header is read on every control and data connection).
 *
 * haproxy+proxy vs haproxy is the PROXY protocol's own cost; haproxy vs
 * direct is the cost of the extra relay. HAProxy listens on 127.0.0.2 (the
 * "public" address). Transfers alternate between paths so drift hits all
 * alike; figures are medians.
 *
 * usage: deno run --allow-all tools/bench/proxy.ts [size-in-MiB=1024] [sessions=1000] [runs=3]
 *
 * @module
 */

import { freePort, makeRandomFile } from "./server_process.ts";

const MIB = 1024 * 1024;
const HAPROXY = "/usr/sbin/haproxy";
const ROOT = new URL("../../", import.meta.url).pathname;
const CLIENT = new URL("./client.py", import.meta.url).pathname;
const PUBLIC = "127.0.0.2";

interface Path {
  name: string;
  host: string;
  port: number;
  root: string;
  put: number[];
  get: number[];
}

/** A server process on 127.0.0.1. */
interface Server {
  port: number;
  passive: [number, number];
  root: string;
  stop(): Promise<void>;
}

async function main(): Promise<void> {
  const size = Number(Deno.args[0] ?? 1024) * MIB;
  const sessions = Number(Deno.args[1] ?? 1000);
  const runs = Number(Deno.args[2] ?? 3);
  try {
    Deno.statSync(HAPROXY);
  } catch {
    console.log(`proxy bench skipped: ${HAPROXY} not installed (apt-get install haproxy)`);
    return;
  }
  const work = await Deno.makeTempDir({ prefix: "cosftp-bench-proxy-" });
  const stops: (() => Promise<void>)[] = [];
  try {
    const plain = await startServer(work, "plain", [44000, 44099], "off");
    stops.push(plain.stop);
    const proxied = await startServer(work, "proxied", [44100, 44199], "v2");
    stops.push(proxied.stop);
    const fronts = { plain: freePort(), proxied: freePort() };
    stops.push(await startHaproxy(work, plain, proxied, fronts));
    const paths: Path[] = [
      path("direct", "127.0.0.1", plain.port, plain.root),
      path("haproxy", PUBLIC, fronts.plain, plain.root),
      path("haproxy+proxy", PUBLIC, fronts.proxied, proxied.root),
    ];
    console.log(`connect+login+QUIT, ${sessions} sessions one after another (ms per session):`);
    for (const p of paths) await sessionsOn(p, Math.min(50, sessions)); // warm-up
    const timings = new Map<string, number[]>();
    for (const p of paths) timings.set(p.name, await sessionsOn(p, sessions));
    for (const p of paths) console.log(`  ${p.name.padEnd(14)} ${summary(timings.get(p.name)!)}`);
    const file = `${work}/big.bin`;
    await makeRandomFile(file, size);
    for (const p of paths) await transfer(p, file, -1); // warm-up: JIT and page cache
    for (const p of paths) p.put.length = p.get.length = 0;
    for (let i = 0; i < runs; i++) {
      for (const p of i % 2 === 0 ? paths : paths.toReversed()) await transfer(p, file, i);
    }
    report(size, paths);
  } finally {
    for (const stop of stops.reverse()) await stop();
    await Deno.remove(work, { recursive: true });
  }
}

function path(name: string, host: string, port: number, root: string): Path {
  return { name, host, port, root, put: [], get: [] };
}

async function startServer(
  work: string,
  name: string,
  passive: [number, number],
  proxy: "off" | "v2",
): Promise<Server> {
  const port = freePort();
  const root = `${work}/root-${name}`;
  await Deno.mkdir(root);
  const config = `${work}/${name}.conf`;
  await Deno.writeTextFile(
    config,
    [
      "[COS_ACCOUNT_0]",
      "storage = local",
      `local_root = ${root}`,
      `home_dir = ${root}`,
      "ftp_login_user_name = bench",
      "ftp_login_user_password = bench",
      "authority = RW",
      "[NETWORK]",
      "listen_address = 127.0.0.1",
      `listen_port = ${port}`,
      `passive_port = ${passive.join(",")}`,
      "masquerade_address = control",
      `proxy_protocol = ${proxy}`,
      "[OPTIONAL]",
      "log_dir = none",
      "log_level = WARNING",
      "max_connection_num = 0",
      "max_connections_per_ip = 0",
    ].join("\n"),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}main.ts`, "--config", config],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await waitForPort("127.0.0.1", port);
  return {
    port,
    passive,
    root,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** HAProxy in front of both servers: one frontend without and one with send-proxy-v2. */
async function startHaproxy(
  work: string,
  plain: Server,
  proxied: Server,
  fronts: { plain: number; proxied: number },
): Promise<() => Promise<void>> {
  const frontend = (name: string, bind: string, server: string) => [
    `frontend ${name}`,
    `    bind ${bind}`,
    `    default_backend ${name}`,
    `backend ${name}`,
    `    server s ${server}`,
  ];
  const config = [
    "global",
    "    maxconn 4096",
    "defaults",
    "    mode tcp",
    "    timeout connect 5s",
    "    timeout client 1h",
    "    timeout server 1h",
    ...frontend("plain", `${PUBLIC}:${fronts.plain}`, `127.0.0.1:${plain.port}`),
    ...frontend("plain_passive", `${PUBLIC}:${plain.passive.join("-")}`, "127.0.0.1"),
    ...frontend(
      "proxied",
      `${PUBLIC}:${fronts.proxied}`,
      `127.0.0.1:${proxied.port} send-proxy-v2`,
    ),
    ...frontend(
      "proxied_passive",
      `${PUBLIC}:${proxied.passive.join("-")}`,
      "127.0.0.1 send-proxy-v2",
    ),
  ].join("\n") + "\n";
  await Deno.writeTextFile(`${work}/haproxy.cfg`, config);
  const child = new Deno.Command(HAPROXY, {
    args: ["-db", "-f", `${work}/haproxy.cfg`],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(PUBLIC, fronts.plain);
  return async () => {
    child.kill("SIGTERM");
    await child.status;
  };
}

const SESSIONS = `
import ftplib, json, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(n):
    start = time.perf_counter()
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=10)
    ftp.login("bench", "bench")
    ftp.quit()
    times.append((time.perf_counter() - start) * 1000)
print(json.dumps(times))
`;

/** Milliseconds of each of `n` sequential sessions. */
async function sessionsOn(p: Path, n: number): Promise<number[]> {
  const out = await new Deno.Command("python3", {
    args: ["-c", SESSIONS, p.host, String(p.port), String(n)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`sessions: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

function summary(ms: number[]): string {
  const sorted = ms.toSorted((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  const total = ms.reduce((a, b) => a + b, 0);
  return `median ${at(0.5).toFixed(2)}  p95 ${at(0.95).toFixed(2)}  total ${
    (total / 1000).toFixed(2)
  } s`;
}

/** One STOR and one RETR of `file`, with byte-exact check of what was stored. */
async function transfer(p: Path, file: string, run: number): Promise<void> {
  const remote = `run${run}.bin`;
  p.put.push(await client(p, "ftp-put", file, remote));
  p.get.push(await client(p, "ftp-get", file, remote));
  const [a, b] = [await Deno.stat(file), await Deno.stat(`${p.root}/${remote}`)];
  if (a.size !== b.size) throw new Error(`${p.name}: stored ${b.size} bytes of ${a.size}`);
  await Deno.remove(`${p.root}/${remote}`);
}

async function client(p: Path, kind: string, file: string, remote: string): Promise<number> {
  const args = [CLIENT, kind, p.host, String(p.port), "bench", "bench", file, remote];
  const out = await new Deno.Command("python3", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${p.name} ${kind}: ${new TextDecoder().decode(out.stderr)}`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

function report(size: number, paths: Path[]): void {
  const runs = paths[0].put.length;
  console.log(`${size / MIB} MiB local STOR / RETR, medians of ${runs}:`);
  const [direct, relay] = paths;
  for (const p of paths) {
    const [put, get] = [median(p.put), median(p.get)];
    const vs = (base: Path) =>
      `STOR time ${pct(put, median(base.put))}, RETR time ${pct(get, median(base.get))}`;
    const cost = p === direct
      ? ""
      : p === relay
      ? `  vs direct: ${vs(direct)}`
      : `  vs haproxy (PROXY protocol's own cost): ${vs(relay)}; vs direct: ${vs(direct)}`;
    console.log(
      `  ${p.name.padEnd(14)} STOR ${rate(size, put)} RETR ${rate(size, get)}${cost}`,
    );
  }
}

function pct(value: number, base: number): string {
  const cost = (value / base - 1) * 100;
  return `${cost >= 0 ? "+" : ""}${cost.toFixed(1)}%`;
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / MIB / seconds).toFixed(0)} MiB/s`;
}

async function waitForPort(hostname: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const conn = await Deno.connect({ hostname, port }).catch(() => null);
    if (conn) return conn.close();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${hostname}:${port}`);
}

if (import.meta.main) await main();
