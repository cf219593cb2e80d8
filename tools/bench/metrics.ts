/**
 * The cost of the admin listener's metrics on a large transfer: a 1 GiB
 * local STOR and RETR against two server processes started the same way,
 * one with `[ADMIN] listen` (scraped every second during the transfer, far
 * more often than Prometheus would) and one without. Runs alternate between
 * the two so drift (page cache, CPU frequency) hits both alike; the figures
 * are medians of 3, after one untimed warm-up run each. Files live in
 * /dev/shm when it exists, so the disk's noise does not drown the cost.
 * Besides the client's wall time it reports the server process's CPU time
 * per transfer (/proc), which a busy machine disturbs far less.
 *
 * usage: deno run --allow-all tools/bench/metrics.ts [size-in-MiB] [runs]
 *
 * @module
 */

import { ServerMetrics } from "../../src/admin/server_metrics.ts";
import { freePort, makeRandomFile, type Measured, startServerProcess } from "./server_process.ts";

const MIB = 1024 * 1024;
const CLIENT = new URL("./client.py", import.meta.url).pathname;
/** Scrapes during the metered runs: every second (Prometheus' default is every 15-60 s). */
const SCRAPE_EVERY_MS = 1000;
/** USER_HZ of /proc/<pid>/stat times (100 on Linux). */
const CLOCK_TICKS = 100;

interface Side {
  name: string;
  server: Measured;
  /** The /metrics URL, for the side with the listener. */
  metricsUrl: string | null;
  root: string;
  /** Per run: wall seconds (the client's) and the server's CPU seconds, of STOR and RETR. */
  put: number[];
  get: number[];
  putCpu: number[];
  getCpu: number[];
}

async function main(): Promise<void> {
  const size = Number(Deno.args[0] ?? 1024) * MIB;
  const runs = Number(Deno.args[1] ?? 3);
  const work = await Deno.makeTempDir({ prefix: "cosftp-bench-metrics-", dir: await ramDisk() });
  try {
    const file = `${work}/big.bin`;
    await makeRandomFile(file, size);
    const off = await side("off", work, []);
    const adminPort = freePort();
    const on = await side("on", work, ["[ADMIN]", `listen = 127.0.0.1:${adminPort}`]);
    on.metricsUrl = `http://127.0.0.1:${adminPort}/metrics`;
    try {
      // Untimed: JIT warm-up and page cache for both, so the first timed run is like the others.
      for (const s of [off, on]) await measure(s, file, -1);
      for (const s of [off, on]) {
        s.put.length =
          s.get.length =
          s.putCpu.length =
          s.getCpu.length =
            0;
      }
      for (let i = 0; i < runs; i++) {
        for (const s of i % 2 === 0 ? [off, on] : [on, off]) await measure(s, file, i);
      }
      report(size, off, on);
      await showCounters(on, size * (runs + 1));
      direct(median(on.put));
    } finally {
      await off.server.stop();
      await on.server.stop();
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

async function side(name: string, work: string, extra: string[]): Promise<Side> {
  const root = `${work}/root-${name}`;
  await Deno.mkdir(root);
  const server = await startServerProcess(work, [
    "storage = local",
    `local_root = ${root}`,
    `home_dir = ${root}`,
  ], extra);
  return { name, server, metricsUrl: null, root, put: [], get: [], putCpu: [], getCpu: [] };
}

/** One STOR and one RETR of `file`, scraping meanwhile when the side has metrics. */
async function measure(s: Side, file: string, run: number): Promise<void> {
  const scraping = scrapeWhile(s.metricsUrl);
  try {
    // STOR ends with an fsync: without a sync first, it would also pay for the previous
    // run's dirty pages, which made single runs take 0.7 s or 3.3 s by chance.
    await sync();
    let cpu = cpuSeconds(s.server.pid);
    s.put.push(await client(s, "ftp-put", file, `run${run}.bin`));
    s.putCpu.push(cpuSeconds(s.server.pid) - cpu);
    await sync();
    cpu = cpuSeconds(s.server.pid);
    s.get.push(await client(s, "ftp-get", file, `run${run}.bin`));
    s.getCpu.push(cpuSeconds(s.server.pid) - cpu);
  } finally {
    await scraping.stop();
  }
  await Deno.remove(`${s.root}/run${run}.bin`);
}

/**
 * /dev/shm when there is one: on a disk, the STOR's fsync and the page cache's
 * writeback varied single runs by 0.5-2 s, hiding a cost measured in milliseconds.
 */
async function ramDisk(): Promise<string | undefined> {
  const shm = await Deno.stat("/dev/shm").catch(() => null);
  return shm?.isDirectory ? "/dev/shm" : undefined;
}

/** User + system CPU seconds of a process so far (all its threads), from /proc. */
function cpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function sync(): Promise<void> {
  await new Deno.Command("sync").output();
}

function scrapeWhile(url: string | null): { stop(): Promise<void> } {
  if (url === null) return { stop: () => Promise.resolve() };
  let last = Promise.resolve();
  const timer = setInterval(() => {
    last = fetch(url).then((r) => r.text()).then(() => {});
  }, SCRAPE_EVERY_MS);
  return {
    async stop() {
      clearInterval(timer);
      await last;
    },
  };
}

async function client(s: Side, kind: string, file: string, remote: string): Promise<number> {
  const args = [CLIENT, kind, "127.0.0.1", String(s.server.port), "bench", "bench", file, remote];
  const out = await new Deno.Command("python3", { args, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`${kind}: ${new TextDecoder().decode(out.stderr)}`);
  return Number(new TextDecoder().decode(out.stdout).trim());
}

function report(size: number, off: Side, on: Side): void {
  const row = (what: string, a: number[], b: number[]) => {
    const [m0, m1] = [median(a), median(b)];
    const cost = (m1 / m0 - 1) * 100;
    console.log(
      `${what}: off ${fmt(a)} (median ${m0.toFixed(2)}s, ${rate(size, m0)}); ` +
        `on ${fmt(b)} (median ${m1.toFixed(2)}s, ${rate(size, m1)}); ` +
        `cost ${cost >= 0 ? "+" : ""}${cost.toFixed(1)}%`,
    );
  };
  console.log(`metrics cost, ${size / MIB} MiB local, medians of ${off.put.length}:`);
  row("STOR wall", off.put, on.put);
  row("RETR wall", off.get, on.get);
  row("STOR server CPU", off.putCpu, on.putCpu);
  row("RETR server CPU", off.getCpu, on.getCpu);
}

/**
 * The work metrics add, timed alone (a busy machine moves the end-to-end
 * figures by more than this): one session's events for one transfer, and a
 * scrape, against the time of one transfer.
 */
function direct(transferSeconds: number): void {
  const metrics = new ServerMetrics({
    sessions: () => 1,
    passivePortsInUse: () => 0,
    passivePortsTotal: 1000,
    bansActive: () => 0,
    uploadMemoryInUse: () => 0,
    uploadMemoryBudget: 1 << 30,
    storageReady: () => [["A", true]],
  });
  const session = () => {
    for (const [command, code] of [["USER", 331], ["PASS", 230], ["TYPE", 200], ["EPSV", 229]]) {
      metrics.onLog("command", { session: 1, command, code });
    }
    metrics.onLog("login", { session: 1, user: "bench", ip: "127.0.0.1", result: "ok" });
    metrics.onLog("transfer", {
      command: "STOR",
      path: "/x",
      bytes: 1 << 30,
      ms: 900,
      result: "ok",
    });
    metrics.onLog("command", { session: 1, command: "QUIT", code: 221 });
  };
  const events = timeEach(100_000, session);
  const scrape = timeEach(2_000, () => metrics.registry.render());
  const scrapes = transferSeconds * 1000 / SCRAPE_EVERY_MS;
  const share = (events + scrape * scrapes) / transferSeconds * 100;
  console.log(
    `direct: one session's events ${(events * 1e6).toFixed(2)} µs, one scrape ` +
      `${(scrape * 1e6).toFixed(0)} µs; with a scrape every ${SCRAPE_EVERY_MS / 1000} s, ` +
      `${share.toFixed(4)}% of a ${transferSeconds.toFixed(2)} s transfer`,
  );
}

/** Seconds per call of `fn`, over `n` calls (after a warm-up). */
function timeEach(n: number, fn: () => unknown): number {
  for (let i = 0; i < n / 10; i++) fn();
  const start = performance.now();
  for (let i = 0; i < n; i++) fn();
  return (performance.now() - start) / 1000 / n;
}

/** The counters of the metered side must show every byte moved. */
async function showCounters(on: Side, bytesEachWay: number): Promise<void> {
  const text = await (await fetch(on.metricsUrl!)).text();
  const value = (direction: string) =>
    Number(
      new RegExp(`cosftp_transfer_bytes_total\\{direction="${direction}"\\} (\\d+)`)
        .exec(text)?.[1],
    );
  const ok = value("in") === bytesEachWay && value("out") === bytesEachWay;
  console.log(`bytes counted in/out: ${value("in")}/${value("out")} (${ok ? "exact" : "WRONG"})`);
}

function median(values: number[]): number {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function fmt(values: number[]): string {
  return values.map((v) => `${v.toFixed(2)}s`).join(" ");
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / MIB / seconds).toFixed(0)} MiB/s`;
}

if (import.meta.main) await main();
