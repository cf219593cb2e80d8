/**
 * `deno task bench`: throughput and memory of the gateway, measured in one
 * run as ratios against a baseline doing the same work without FTP, and
 * peak server RSS checked against the documented bound.
 *
 * Local storage: the baseline is a plain Deno TCP peer writing the socket to
 * a file (1 MiB writes + fsync, as the local backend does) or sending a file.
 *
 * Environment: BENCH_MIB (size of the big transfers, default 1024),
 * BENCH_PARALLEL (default 50) and BENCH_PARALLEL_MIB (default 20).
 */

import { MEMORY_BOUND_DOC, memoryBoundBytes } from "./bench/memory.ts";
import { type Measured, startServerProcess } from "./bench/server_process.ts";

const MIB = 1024 * 1024;
const BIG_MIB = Number(Deno.env.get("BENCH_MIB") ?? 1024);
const PARALLEL = Number(Deno.env.get("BENCH_PARALLEL") ?? 50);
const PARALLEL_MIB = Number(Deno.env.get("BENCH_PARALLEL_MIB") ?? 20);
const TARGET_RATIO = 0.8;
const RUNS = 3;
const HERE = new URL(".", import.meta.url).pathname;

interface Row {
  what: string;
  value: string;
  check: string;
  ok: boolean;
}

const rows: Row[] = [];
const work = await Deno.makeTempDir({ prefix: "cosftp-bench-" });
try {
  await main();
} finally {
  await Deno.remove(work, { recursive: true });
}

async function main(): Promise<void> {
  const big = `${work}/big.bin`;
  await makeRandomFile(big, BIG_MIB * MIB);
  const server = await startServerProcess(work);
  try {
    await compareThroughput(server, big);
    await parallelUploads(server);
  } finally {
    await server.stop();
  }
  printTable();
  if (rows.some((r) => !r.ok)) Deno.exit(1);
}

async function compareThroughput(server: Measured, big: string): Promise<void> {
  const bytes = BIG_MIB * MIB;
  const ftp = (kind: string, local: string) =>
    client([kind, "127.0.0.1", String(server.port), "bench", "bench", local, "big.bin"]);
  const stored = `${server.root}/big.bin`;
  server.resetPeak();
  // Interleaved pairs, best of each, and every written file deleted before the next run:
  // disk write-back and caches then favour neither side.
  const put = await bestOfPairs(
    async () => (await removeFile(stored), await ftp("ftp-put", big)),
    () => rawTransfer("sink", `${work}/raw.bin`, ["raw-put", big]),
  );
  const storPeak = server.peakRss();
  const get = await bestOfPairs(
    () => ftp("ftp-get", "-"),
    () => rawTransfer("source", stored, ["raw-get"]),
  );
  addRatio(`STOR ${BIG_MIB} MiB`, bytes, put.gateway, put.baseline);
  addRatio(`RETR ${BIG_MIB} MiB`, bytes, get.gateway, get.baseline);
  const bound = memoryBoundBytes(server.idleRss, 1);
  rows.push({
    what: `peak RSS during the ${BIG_MIB} MiB STORs`,
    value: mib(storPeak),
    check: `<= ${mib(bound)} (bound for 1 transfer)`,
    ok: storPeak <= bound,
  });
}

/** The fastest of {@link RUNS} alternating runs of each, in seconds. */
async function bestOfPairs(
  gatewayRun: () => Promise<number>,
  baselineRun: () => Promise<number>,
): Promise<{ gateway: number; baseline: number }> {
  let gateway = Infinity;
  let baseline = Infinity;
  for (let i = 0; i < RUNS; i++) {
    gateway = Math.min(gateway, await gatewayRun());
    baseline = Math.min(baseline, await baselineRun());
  }
  return { gateway, baseline };
}

async function removeFile(path: string): Promise<void> {
  await Deno.remove(path).catch(() => {});
}

async function parallelUploads(server: Measured): Promise<void> {
  const file = `${work}/p.bin`;
  await makeRandomFile(file, PARALLEL_MIB * MIB);
  server.resetPeak();
  const started = performance.now();
  await Promise.all(
    Array.from(
      { length: PARALLEL },
      (_, i) =>
        client(["ftp-put", "127.0.0.1", String(server.port), "bench", "bench", file, `p${i}.bin`]),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const peak = server.peakRss();
  const bound = memoryBoundBytes(server.idleRss, PARALLEL);
  const total = PARALLEL * PARALLEL_MIB;
  rows.push({
    what: `${PARALLEL} parallel ${PARALLEL_MIB} MiB uploads`,
    value: `${seconds.toFixed(2)} s (${(total / seconds).toFixed(0)} MiB/s)`,
    check: "all complete",
    ok: true,
  });
  rows.push({
    what: `peak RSS during ${PARALLEL} parallel uploads`,
    value: mib(peak),
    check: `<= ${mib(bound)} (bound for ${PARALLEL} transfers)`,
    ok: peak <= bound,
  });
}

function addRatio(what: string, bytes: number, gateway: number, baseline: number): void {
  const ratio = baseline / gateway;
  rows.push({
    what: `${what}: gateway / baseline`,
    value: `${rate(bytes, gateway)} / ${rate(bytes, baseline)} = ${ratio.toFixed(2)}`,
    check: `>= ${TARGET_RATIO}`,
    ok: ratio >= TARGET_RATIO,
  });
}

/** Runs the Python benchmark client; returns the seconds it measured. */
async function client(args: string[]): Promise<number> {
  const out = await new Deno.Command("python3", {
    args: [`${HERE}bench/client.py`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) throw new Error(`bench client failed: ${new TextDecoder().decode(out.stderr)}`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

/** One transfer through the raw baseline peer. */
async function rawTransfer(mode: "sink" | "source", path: string, args: string[]): Promise<number> {
  const port = freePort();
  const peer = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-read",
      "--allow-write",
      `${HERE}bench/raw_peer.ts`,
      String(port),
      mode,
      path,
    ],
    stdout: "piped",
  }).spawn();
  const reader = peer.stdout.getReader();
  await reader.read(); // "ready"
  reader.releaseLock();
  const [kind, ...rest] = args;
  const seconds = await client([kind, "127.0.0.1", String(port), ...rest]);
  await peer.status;
  await peer.stdout.cancel();
  return seconds;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

async function makeRandomFile(path: string, size: number): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(MIB);
  for (let done = 0; done < size; done += MIB) {
    for (let i = 0; i < MIB; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
    await file.write(chunk.subarray(0, Math.min(MIB, size - done)));
  }
  file.close();
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / MIB / seconds).toFixed(0)} MiB/s`;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

function printTable(): void {
  const cpu = Deno.readTextFileSync("/proc/cpuinfo").match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
  console.log(
    `\ncos-ftp-server benchmark (local storage, loopback, ${navigator.hardwareConcurrency} cores, ${cpu})`,
  );
  console.log(`memory bound: ${MEMORY_BOUND_DOC}\n`);
  const width = Math.max(...rows.map((r) => r.what.length));
  const valueWidth = Math.max(...rows.map((r) => r.value.length));
  for (const row of rows) {
    console.log(
      `${row.ok ? "PASS" : "FAIL"}  ${row.what.padEnd(width)}  ${
        row.value.padEnd(valueWidth)
      }  ${row.check}`,
    );
  }
}
