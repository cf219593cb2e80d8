/**
 * `deno task bench`: throughput and memory of the gateway, measured in one
 * run as ratios against a baseline doing the same work without the gateway,
 * and peak server RSS checked against the documented bound
 * (tools/bench/memory.ts, README "Memory").
 *
 * COS: the baseline is the official SDK feeding the same COS emulator
 * directly, with the gateway's part size and parallelism. Local storage:
 * vsftpd and pyftpdlib on the same machine, the same files and the same
 * client (tools/bench/peers.ts, tools/bench/versus.ts); small files are
 * compared with them on both backends.
 *
 * Environment: BENCH_BACKENDS (default "cos,local,tls,ops"; ops = HAProxy/PROXY
 * protocol and metrics costs, tools/bench/proxy.ts and metrics.ts), BENCH_MIB (size of
 * the throughput transfers, default 1024), BENCH_MEMORY_MIB (the memory
 * upload, default 2048), BENCH_PARALLEL (default 50), BENCH_PARALLEL_MIB
 * (default 20), BENCH_PART_MIB (min_part_size for COS, default 8), BENCH_SMALL
 * (small files per run, default 500), BENCH_ONLY=retr (only the COS download
 * rows: each file is uploaded once, untimed). BENCH_LOADS=1 (or "loads" in
 * BENCH_BACKENDS) adds the memory loads of tools/bench/loads.ts after the rest:
 * a 50 GiB unknown-length COS upload, LIST of a 100,000-object directory and
 * 300 concurrent sessions (sized by BENCH_LOADS_GIB, BENCH_LOADS_OBJECTS,
 * BENCH_LOADS_SESSIONS, BENCH_LOADS_SECONDS).
 */

import { memoryRow, printRows, type Row, spawnEndpoint } from "./bench/child.ts";
import { type Load, MEMORY_BOUND_DOC } from "./bench/memory.ts";
import { type Peer, type Skipped, startPeers } from "./bench/peers.ts";
import { makeRandomFile, type Measured, startServerProcess } from "./bench/server_process.ts";
import {
  compare,
  makeSmallFiles,
  manyFiles,
  median,
  type Rounds,
  rounds,
  syncDisks,
  type Target,
  transfer,
} from "./bench/versus.ts";
import { benchLoads } from "./bench/loads.ts";
import { partSize } from "../src/storage/cos/multipart.ts";
import { QUIET_MS } from "../src/idle_gc.ts";

const MIB = 1024 * 1024;
const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const BIG_MIB = env("BENCH_MIB", 1024);
const MEMORY_MIB = env("BENCH_MEMORY_MIB", 2048);
const PARALLEL = env("BENCH_PARALLEL", 50);
const PARALLEL_MIB = env("BENCH_PARALLEL_MIB", 20);
const SMALL_FILES = env("BENCH_SMALL", 500);
/** Rounds of the small-file runs (each server once per round). */
const SMALL_RUNS = 3;
const BACKENDS = (Deno.env.get("BENCH_BACKENDS") ?? "cos,local,tls,ops").split(",");
const RETR_ONLY = Deno.env.get("BENCH_ONLY") === "retr";
const LOADS = Deno.env.get("BENCH_LOADS") === "1" || BACKENDS.includes("loads");
const TARGET_RATIO = 0.8;
const RUNS = 5;
/** The gateway's part size (default min_part_size), which the SDK baseline copies. */
const PART_BYTES = env("BENCH_PART_MIB", 8) * MIB;
const THREADS = 4;
const BUDGET = 1024 * MIB;
/** No uploads: the load of downloads alone. */
const ONE_TRANSFER = { uploads: 0, partBytes: PART_BYTES, threads: THREADS, budgetBytes: BUDGET };
const HERE = new URL(".", import.meta.url).pathname;
const SECRET_ID = "AKIDbenchmark000000000000000000000";
const SECRET_KEY = "benchmark-secret-key";
const BUCKET = "bench-1250000000";

const rows: Row[] = [];
/** Peer servers that could not run here, printed with the table. */
let skipped: Skipped[] = [];
const work = await Deno.makeTempDir({ prefix: "cosftp-bench-" });
try {
  await main();
} finally {
  await Deno.remove(work, { recursive: true });
}

async function main(): Promise<void> {
  const big = `${work}/big.bin`;
  await makeRandomFile(big, BIG_MIB * MIB);
  await makeSmallFiles(`${work}/small`, SMALL_FILES);
  const started = await startPeers(work);
  skipped = started.skipped;
  try {
    if (BACKENDS.includes("cos")) await benchCos(big, started.peers);
    if (BACKENDS.includes("local") && !RETR_ONLY) await benchLocal(big, started.peers);
    if (BACKENDS.includes("tls") && !RETR_ONLY) await benchTls(big);
  } finally {
    for (const peer of started.peers) await peer.stop();
  }
  if (LOADS && !RETR_ONLY) await benchLoads(work, rows);
  printTable();
  const opsOk = BACKENDS.includes("ops") && !RETR_ONLY ? await benchOperations() : true;
  if (rows.some((r) => !r.ok) || !opsOk) Deno.exit(1);
}

/**
 * The costs of running in production (issue 9): HAProxy and the PROXY
 * protocol (connect+login of 1,000 sessions, a large STOR/RETR), and the
 * admin listener's metrics on a large transfer. Each is its own script
 * (runnable alone) printing its own table after the main one.
 */
async function benchOperations(): Promise<boolean> {
  let ok = true;
  for (
    const [script, args] of [
      ["proxy.ts", [String(BIG_MIB), "1000", "3"]],
      ["metrics.ts", [String(BIG_MIB), "3"]],
    ] as const
  ) {
    console.log(`\n== tools/bench/${script}`);
    const status = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", `${HERE}bench/${script}`, ...args],
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    ok &&= status.success;
  }
  return ok;
}

async function benchCos(big: string, peers: Peer[]): Promise<void> {
  const emulator = await startEmulator();
  const account = [
    `cos_secretid = ${SECRET_ID}`,
    `cos_secretkey = ${SECRET_KEY}`,
    `cos_bucket = ${BUCKET}`,
    `cos_region = ${emulator.region}`,
    `cos_endpoint = ${emulator.url}`,
    "home_dir = /bench",
  ];
  const optional = [`min_part_size = ${PART_BYTES}`];
  const sdk = (op: "put" | "get", key: string) =>
    runTimed("deno", [
      "run",
      "--allow-all",
      `${HERE}bench/sdk_client.ts`,
      op,
      emulator.url,
      emulator.region,
      SECRET_ID,
      SECRET_KEY,
      BUCKET,
      key,
      big,
      String(PART_BYTES),
      String(THREADS),
    ]);
  try {
    await withServer(account, async (server) => {
      const put = await storPairs(
        () => ftp(server, "ftp-put", big, "big.bin"),
        () => sdk("put", "sdk.bin"),
      );
      const get = await bestOfPairs(
        () => ftp(server, "ftp-get", "-", "big.bin"),
        () => sdk("get", "sdk.bin"),
      );
      if (put) addRatio(`COS STOR ${BIG_MIB} MiB: gateway / SDK`, BIG_MIB * MIB, put);
      addRatio(`COS RETR ${BIG_MIB} MiB: gateway / SDK`, BIG_MIB * MIB, get);
    }, optional);
    await benchVerify(account, optional, big);
    if (RETR_ONLY) return;
    await withServer(account, (server) => smallFiles("COS", gateway(server, null), peers, 0));
    // Fresh processes: memory freed by earlier transfers is not always returned to the OS.
    await withServer(account, memoryDuringUpload, optional);
    await withServer(account, (server) => parallelUploads(server, "COS", true), optional);
  } finally {
    await emulator.stop();
  }
}

/**
 * What CRC-64 verification costs: the same transfers through two servers on
 * the same emulator, verify_checksums on and off, in alternating pairs.
 * The goal is at most 10% slower (ratio >= 0.9).
 */
async function benchVerify(account: string[], optional: string[], big: string): Promise<void> {
  const off = [...optional, "verify_checksums = false"];
  await withServer(account, (checked) =>
    withServer(account, async (unchecked) => {
      const put = await storPairs(
        () => ftp(checked, "ftp-put", big, "verified.bin"),
        () => ftp(unchecked, "ftp-put", big, "unverified.bin"),
      );
      // The uploads' part buffers are freed once the server is quiet (src/idle_gc.ts):
      // the downloads are measured from there, as on a server that only serves them.
      await new Promise((resolve) => setTimeout(resolve, QUIET_MS + 1000));
      checked.resetPeak();
      const get = await bestOfPairs(
        () => ftp(checked, "ftp-get", "-", "verified.bin"),
        () => ftp(unchecked, "ftp-get", "-", "unverified.bin"),
      );
      const load = { ...ONE_TRANSFER, transfers: 1, sessions: 1, verifiedDownloads: 1 };
      checkMemory(
        `COS peak RSS, verified ${BIG_MIB} MiB downloads`,
        checked,
        checked.peakRss(),
        load,
      );
      if (put) addRatio(`COS STOR ${BIG_MIB} MiB: verified / unverified`, BIG_MIB * MIB, put, 0.9);
      addRatio(`COS RETR ${BIG_MIB} MiB: verified / unverified`, BIG_MIB * MIB, get, 0.9);
    }, off), optional);
}

/** Timed upload pairs, or with BENCH_ONLY=retr one untimed upload each and `null`. */
async function storPairs(
  gatewayRun: () => Promise<number>,
  baselineRun: () => Promise<number>,
): Promise<{ gateway: number; baseline: number; ratio: number } | null> {
  if (!RETR_ONLY) return await bestOfPairs(gatewayRun, baselineRun);
  await gatewayRun();
  await baselineRun();
  return null;
}

/** Runs `work` against a fresh server process. */
async function withServer(
  account: string[],
  run: (server: Measured) => Promise<void>,
  optional: string[] = [],
): Promise<void> {
  const server = await startServerProcess(work, account, optional);
  try {
    await run(server);
  } finally {
    await server.stop();
  }
}

/**
 * Local storage against vsftpd and pyftpdlib: 1 GiB up and down (each
 * upload a new file, the disks synced before it, so no server pays for the
 * write-back of another's file), what the gateway's fsync costs, and small
 * files.
 */
async function benchLocal(big: string, peers: Peer[]): Promise<void> {
  const root = `${work}/root`;
  const account = ["storage = local", `local_root = ${root}`];
  await withServer(account, async (server) => {
    const targets = [gateway(server, root), ...peers];
    const put = await rounds(targets, RUNS, async (target) => {
      await Deno.remove(`${target.localDir}/big.bin`).catch(() => {});
      await syncDisks();
      return [await transfer(target, "ftp-put", big, "big.bin")];
    });
    const get = await rounds(
      targets,
      RUNS,
      async (target) => [await transfer(target, "ftp-get", "-", "big.bin")],
    );
    for (const peer of peers) {
      const target = peer.name === "vsftpd" ? TARGET_RATIO : 0;
      addRatio(
        `local STOR ${BIG_MIB} MiB: gateway / ${peer.name}`,
        BIG_MIB * MIB,
        compare(put, "gateway", peer.name),
        target,
      );
      addRatio(
        `local RETR ${BIG_MIB} MiB: gateway / ${peer.name}`,
        BIG_MIB * MIB,
        compare(get, "gateway", peer.name),
        target,
      );
    }
    await fsyncCost(big, median(put.get("gateway")!.map((r) => r[0])));
    await smallFiles("local", targets[0], peers, 1);
  });
  await withServer(account, (server) => parallelUploads(server, "local", false));
}

/** The gateway as a target of the same work as the peers. */
function gateway(server: Measured, localDir: string | null): Target {
  return {
    name: "gateway",
    port: server.port,
    user: "bench",
    password: "bench",
    remoteDir: "",
    localDir,
  };
}

/**
 * What the fsync before 226 costs: a fresh copy of `big` written the way
 * the gateway writes an upload (1 MiB writes), then timed fdatasync calls;
 * medians of {@link SMALL_RUNS}, against the gateway's median STOR time.
 */
async function fsyncCost(big: string, storSeconds: number): Promise<void> {
  const times: number[] = [];
  const copy = `${work}/fsync.bin`;
  for (let i = 0; i < SMALL_RUNS; i++) {
    await syncDisks();
    await Deno.remove(copy).catch(() => {});
    await Deno.copyFile(big, copy);
    const file = await Deno.open(copy, { write: true });
    const started = performance.now();
    await file.syncData();
    times.push((performance.now() - started) / 1000);
    file.close();
  }
  await Deno.remove(copy);
  const seconds = median(times);
  rows.push({
    what: `local STOR ${BIG_MIB} MiB: its fdatasync before 226`,
    value: `${seconds.toFixed(2)} s of ${storSeconds.toFixed(2)} s (${
      (100 * seconds / storSeconds).toFixed(0)
    }%)`,
    check: "measured (no target)",
    ok: true,
  });
}

/**
 * {@link SMALL_FILES} files of 100 B to 64 KiB up and then down over one
 * session, per file, against each peer (on local disk). On local storage the
 * goal is at least vsftpd's speed (`vsftpdTarget` 1); on COS the rows only
 * show where the gateway stands.
 */
async function smallFiles(
  label: string,
  ours: Target,
  peers: Peer[],
  vsftpdTarget: number,
): Promise<void> {
  const times: Rounds = await rounds(
    [ours, ...peers],
    SMALL_RUNS,
    (target) => manyFiles(target, `${work}/small`),
  );
  for (const peer of peers) {
    const target = peer.name === "vsftpd" ? vsftpdTarget : 0;
    for (const [index, command] of ["STOR", "RETR"].entries()) {
      const result = compare(times, ours.name, peer.name, index);
      rows.push({
        what: `${label} ${SMALL_FILES} small files ${command}: gateway / ${peer.name}`,
        value: `${result.gateway.toFixed(2)} / ${result.baseline.toFixed(2)} ms per file, ratio ${
          result.ratio.toFixed(2)
        }`,
        check: target > 0 ? `>= ${target}` : "measured (no target)",
        ok: result.ratio >= target,
      });
    }
  }
}

/**
 * What FTPS costs: the same curl transfers with and without TLS (PROT P) on
 * local storage. Deno has no server-side STARTTLS, so TLS runs through a
 * loopback relay (src/ftp/tls.ts); this measures encryption and relay together.
 */
async function benchTls(big: string): Promise<void> {
  const fixtures = new URL("../tests/fixtures/", import.meta.url).pathname;
  const account = ["storage = local", `local_root = ${work}/tls-root`];
  const ftps = [
    "[FTPS]",
    `cert_file = ${fixtures}tls-cert.pem`,
    `key_file = ${fixtures}tls-key.pem`,
  ];
  await withServer(account, async (server) => {
    const url = `ftp://127.0.0.1:${server.port}`;
    const tls = ["--ssl-reqd", "--cacert", `${fixtures}tls-cert.pem`];
    const curl = (extra: string[], args: string[]) =>
      runTimed("curl", [
        "-sS",
        "--user",
        "bench:bench",
        "-o",
        "/dev/null",
        "-w",
        "%{time_total}",
        ...extra,
        ...args,
      ]);
    const put = await bestOfPairs(
      () => curl(tls, ["-T", big, `${url}/tls.bin`]),
      () => curl([], ["-T", big, `${url}/plain.bin`]),
    );
    const get = await bestOfPairs(
      () => curl(tls, [`${url}/tls.bin`]),
      () => curl([], [`${url}/plain.bin`]),
    );
    addRatio(`FTPS STOR ${BIG_MIB} MiB: TLS / plain`, BIG_MIB * MIB, put, 0);
    addRatio(`FTPS RETR ${BIG_MIB} MiB: TLS / plain`, BIG_MIB * MIB, get, 0);
  }, ftps);
}

/** Peak RSS while one large COS upload streams through. */
async function memoryDuringUpload(server: Measured): Promise<void> {
  const file = `${work}/memory.bin`;
  await makeRandomFile(file, MEMORY_MIB * MIB);
  server.resetPeak();
  await ftp(server, "ftp-put", file, "memory.bin");
  const peak = server.peakRss();
  await Deno.remove(file);
  const parts = Math.ceil(MEMORY_MIB * MIB / PART_BYTES);
  const load = {
    uploads: 1,
    transfers: 1,
    sessions: 1,
    partBytes: partSize(parts, PART_BYTES, BUDGET / 2),
    threads: THREADS,
    budgetBytes: BUDGET,
  };
  checkMemory(`COS peak RSS during a ${MEMORY_MIB} MiB upload`, server, peak, load);
}

async function parallelUploads(server: Measured, label: string, cos: boolean): Promise<void> {
  const file = `${work}/p.bin`;
  await makeRandomFile(file, PARALLEL_MIB * MIB);
  server.resetPeak();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: PARALLEL }, (_, i) => ftp(server, "ftp-put", file, `p${i}.bin`)),
  );
  const seconds = (performance.now() - started) / 1000;
  const peak = server.peakRss();
  const total = PARALLEL * PARALLEL_MIB;
  rows.push({
    what: `${label} ${PARALLEL} parallel ${PARALLEL_MIB} MiB uploads`,
    value: `${seconds.toFixed(2)} s (${(total / seconds).toFixed(0)} MiB/s)`,
    check: "all complete",
    ok: true,
  });
  const load = {
    uploads: cos ? PARALLEL : 0,
    transfers: PARALLEL,
    sessions: PARALLEL,
    partBytes: PART_BYTES,
    threads: THREADS,
    budgetBytes: BUDGET,
  };
  checkMemory(`${label} peak RSS, ${PARALLEL} parallel uploads`, server, peak, load);
}

function checkMemory(what: string, server: Measured, peak: number, load: Load): void {
  rows.push(memoryRow(what, server.idleRss, peak, load));
}

function addRatio(
  what: string,
  bytes: number,
  times: { gateway: number; baseline: number; ratio: number },
  target = TARGET_RATIO,
): void {
  rows.push({
    what,
    value: `${rate(bytes, times.gateway)} / ${rate(bytes, times.baseline)}, ratio ${
      times.ratio.toFixed(2)
    }`,
    check: target > 0 ? `>= ${target}` : "measured (no target)",
    ok: times.ratio >= target,
  });
}

/**
 * {@link RUNS} back-to-back pairs (gateway, then baseline); the medians of
 * each side's seconds and of the per-pair ratios. Medians: on a shared VM one
 * unusually fast or slow run should not decide the result.
 */
async function bestOfPairs(
  gatewayRun: () => Promise<number>,
  baselineRun: () => Promise<number>,
): Promise<{ gateway: number; baseline: number; ratio: number }> {
  const gateway: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    gateway.push(await gatewayRun());
    baseline.push(await baselineRun());
  }
  const ratios = gateway.map((g, i) => baseline[i] / g);
  return { gateway: median(gateway), baseline: median(baseline), ratio: median(ratios) };
}

/** One FTP transfer to the gateway by the Python client; returns its seconds. */
function ftp(
  server: Measured,
  kind: "ftp-put" | "ftp-get",
  local: string,
  remote: string,
): Promise<number> {
  return transfer(gateway(server, null), kind, local, remote);
}

/** Runs a client that prints its own seconds. */
async function runTimed(command: string, args: string[]): Promise<number> {
  const exe = command === "deno" ? Deno.execPath() : command;
  const out = await new Deno.Command(exe, { args, stdout: "piped", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`${command} ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** The emulator as a child process. */
function startEmulator() {
  return spawnEndpoint([
    "--allow-all",
    `${HERE}bench/emulator_process.ts`,
    SECRET_ID,
    SECRET_KEY,
    BUCKET,
  ]);
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / MIB / seconds).toFixed(0)} MiB/s`;
}

function printTable(): void {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  const memory = Deno.readTextFileSync("/proc/meminfo").match(/MemTotal:\s*(\d+)/)?.[1] ?? "0";
  console.log(
    `\ncos-ftp-server benchmark: loopback, ${navigator.hardwareConcurrency} cores (${cpu}), ` +
      `${(Number(memory) / MIB).toFixed(0)} GiB; medians of ${RUNS} back-to-back rounds ` +
      `(${SMALL_RUNS} for small files), every server once per round`,
  );
  console.log(`memory bound: ${MEMORY_BOUND_DOC}`);
  for (const peer of skipped) console.log(`${peer.name} skipped: ${peer.reason}`);
  console.log();
  printRows(rows);
}
