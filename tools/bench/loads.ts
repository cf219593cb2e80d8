/**
 * The memory loads of issue 10, past what the default bench covers: each
 * runs in a fresh server process and prints its measured peak RSS against
 * the documented bound (tools/bench/memory.ts).
 *
 * - upload: one COS upload of unknown length (`head -c NG /dev/zero | curl
 *   -T -`) to a sink that keeps only sizes (tools/bench/cos_sink.ts); the
 *   stored size must equal the bytes sent.
 * - list: LIST of a synthetic COS directory of 100,000 objects, alone and
 *   four at once; every listing must have one line per object.
 * - sessions: 300 concurrent sessions of small STOR/RETR/LIST/DELE on local
 *   storage, then on COS (the emulator, which keeps the bytes)
 *   (tools/bench/sessions.py); any RETR that differs from its STOR
 *   fails the row.
 * After each, once its sessions have closed, the RSS that stays is shown
 * beside the idle figure (measured, no target): what the load retained.
 *
 * Opt-in from `deno task bench` (BENCH_LOADS=1, or "loads" in
 * BENCH_BACKENDS), or alone: `deno run --allow-all tools/bench/loads.ts
 * [upload] [list] [sessions]` (all three when none is named).
 * Environment: BENCH_LOADS_GIB (the upload, default 50), BENCH_LOADS_OBJECTS
 * (the listed directory, default 100000), BENCH_LOADS_SESSIONS (default 300),
 * BENCH_LOADS_SECONDS (the session load, default 60).
 */

import { type EndpointProcess, memoryRow, printRows, type Row, spawnEndpoint } from "./child.ts";
import { type Load, MEMORY_BOUND_DOC } from "./memory.ts";
import { spawnCosSink } from "./cos_sink.ts";
import { type Measured, readRss, startServerProcess } from "./server_process.ts";
import { partSize } from "../../src/storage/cos/multipart.ts";

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;
const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);
const UPLOAD_GIB = env("BENCH_LOADS_GIB", 50);
const OBJECTS = env("BENCH_LOADS_OBJECTS", 100_000);
const SESSIONS = env("BENCH_LOADS_SESSIONS", 300);
const SECONDS = env("BENCH_LOADS_SECONDS", 60);
/** The server's defaults (src/config/keys.ts): the loads run with them. */
const MIN_PART_BYTES = 8 * MIB;
const THREADS = 4;
const BUDGET = 1 * GIB;
/** How long after a load's sessions closed the retained RSS is read. */
const SETTLE_MS = 10_000;
const BUCKET = "bench-1250000000";
const SECRET_ID = "AKIDbenchmark000000000000000000000";
const SECRET_KEY = "benchmark-secret-key";
const EMULATOR = new URL("./emulator_process.ts", import.meta.url).pathname;
const SESSIONS_CLIENT = new URL("./sessions.py", import.meta.url).pathname;

/** One line of the bench's table. */
export type LoadRow = Row;

/** The loads by name, in the order they run. */
export const LOADS = ["upload", "list", "sessions"] as const;
export type LoadName = typeof LOADS[number];

/** Runs the named loads (all by default), pushing their rows. */
export async function benchLoads(
  work: string,
  rows: LoadRow[],
  which: readonly LoadName[] = LOADS,
): Promise<void> {
  if (which.includes("upload")) await unknownLengthUpload(work, rows);
  if (which.includes("list")) {
    await listings(work, rows, 1);
    await listings(work, rows, 4);
  }
  if (which.includes("sessions")) {
    await manySessions(work, rows, "local");
    await manySessions(work, rows, "COS");
  }
}

/** The gateway in front of a COS endpoint (the sink or the emulator), both fresh processes. */
async function withCos<E extends EndpointProcess>(
  work: string,
  startEndpoint: () => Promise<E>,
  optional: string[],
  run: (server: Measured, endpoint: E) => Promise<void>,
): Promise<void> {
  const endpoint = await startEndpoint();
  try {
    const account = [
      `cos_secretid = ${SECRET_ID}`,
      `cos_secretkey = ${SECRET_KEY}`,
      `cos_bucket = ${BUCKET}`,
      `cos_region = ${endpoint.region}`,
      `cos_endpoint = ${endpoint.url}`,
      // For COS only the account's name: FTP paths are keys from the bucket root.
      "home_dir = /bench",
    ];
    const server = await startServerProcess(work, account, optional);
    try {
      await run(server, endpoint);
    } finally {
      await server.stop();
    }
  } finally {
    await endpoint.stop();
  }
}

/** The COS emulator (it keeps bytes, so RETR can be checked) as its own process. */
function startEmulator(): Promise<EndpointProcess> {
  return spawnEndpoint(["--allow-all", EMULATOR, SECRET_ID, SECRET_KEY, BUCKET]);
}

/**
 * One upload whose length the gateway cannot know: parts grow every 100
 * parts up to half the budget, so a long stream ends with the largest
 * parts the defaults allow.
 */
async function unknownLengthUpload(work: string, rows: LoadRow[]): Promise<void> {
  const bytes = UPLOAD_GIB * GIB;
  await withCos(work, () => spawnCosSink(), [], async (server, sink) => {
    server.resetPeak();
    const started = performance.now();
    const sent = await shell(
      `head -c ${bytes} /dev/zero | curl -sS -T - ftp://bench:bench@127.0.0.1:${server.port}/big.bin`,
    );
    const seconds = (performance.now() - started) / 1000;
    const peak = server.peakRss();
    const stored = await sink.sizeOf(BUCKET, "big.bin");
    rows.push({
      what: `COS unknown-length upload of ${UPLOAD_GIB} GiB`,
      value: `${seconds.toFixed(1)} s (${(bytes / MIB / seconds).toFixed(0)} MiB/s), ` +
        `stored ${stored ?? "nothing"}${sent.ok ? "" : `, curl: ${sent.error}`}`,
      check: `stored = ${bytes} bytes`,
      ok: sent.ok && stored === bytes,
    });
    const load = {
      uploads: 1,
      transfers: 1,
      sessions: 1,
      partBytes: largestPart(bytes),
      threads: THREADS,
      budgetBytes: BUDGET,
    };
    checkMemory(rows, `COS peak RSS, ${UPLOAD_GIB} GiB unknown-length upload`, server, peak, load);
    await retained(rows, `COS ${UPLOAD_GIB} GiB unknown-length upload`, server);
  });
}

/** Size of the last (largest) part of an upload of `bytes` under the default part sizes. */
function largestPart(bytes: number): number {
  let part = MIN_PART_BYTES;
  for (let n = 1, total = 0; total < bytes; n++) {
    part = partSize(n, MIN_PART_BYTES, BUDGET / 2);
    total += part;
  }
  return part;
}

/** `count` LISTs at once of the synthetic directory, each in a session of its own. */
async function listings(work: string, rows: LoadRow[], count: number): Promise<void> {
  const listing = { prefix: "dir/", count: OBJECTS };
  // max_list_file = 0: no cap, every object is listed (the default stops at 10,000).
  await withCos(work, () => spawnCosSink(listing), ["max_list_file = 0"], async (server) => {
    server.resetPeak();
    const started = performance.now();
    const lines = await Promise.all(
      Array.from({ length: count }, () => listLines(server.port, "dir/")),
    );
    const seconds = (performance.now() - started) / 1000;
    const peak = server.peakRss();
    const what = `COS LIST of ${OBJECTS} objects` + (count > 1 ? `, ${count} at once` : "");
    rows.push({
      what,
      value: `${seconds.toFixed(1)} s, lines ${lines.join(", ")}`,
      check: `${OBJECTS} lines each`,
      ok: lines.every((n) => n === OBJECTS),
    });
    const load = {
      uploads: 0,
      transfers: count,
      sessions: count,
      listings: count,
      partBytes: MIN_PART_BYTES,
      threads: THREADS,
      budgetBytes: BUDGET,
    };
    checkMemory(rows, `${what}: peak RSS`, server, peak, load);
    await retained(rows, what, server);
  });
}

/** Lines of one `LIST` by curl, counted as they stream (the listing is never held). */
async function listLines(port: number, dir: string): Promise<number> {
  const child = new Deno.Command("curl", {
    args: ["-sS", `ftp://bench:bench@127.0.0.1:${port}/${dir}`],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let lines = 0;
  for await (const chunk of child.stdout) {
    for (const byte of chunk) if (byte === 10) lines++;
  }
  return (await child.status).success ? lines : -1;
}

/**
 * {@link SESSIONS} sessions of small transfers on `storage`, then the
 * RSS left once every session has closed.
 *
 * The bound counts transfers = sessions: a session runs one command at a
 * time, so at most one data connection each, whether STOR, RETR or LIST.
 * Local storage: no part buffers and no COS listings. COS: any session may
 * be uploading or listing at once, so uploads = listings = sessions, as an
 * operator sizing for the worst case would count them (the bound is loose
 * for small files: they take a 1 MiB head, never a part buffer).
 */
async function manySessions(work: string, rows: LoadRow[], storage: "local" | "COS") {
  if (storage === "COS") {
    return await withCos(work, startEmulator, [], (server) => sessionLoad(server, rows, true));
  }
  const root = `${work}/sessions-root`;
  await Deno.mkdir(root, { recursive: true });
  const server = await startServerProcess(work, ["storage = local", `local_root = ${root}`]);
  try {
    await sessionLoad(server, rows, false);
  } finally {
    await server.stop();
  }
}

/** Runs tools/bench/sessions.py against `server`; pushes its rows. */
async function sessionLoad(server: Measured, rows: LoadRow[], cos: boolean): Promise<void> {
  server.resetPeak();
  const out = await new Deno.Command("python3", {
    args: [
      SESSIONS_CLIENT,
      "127.0.0.1",
      String(server.port),
      "bench",
      "bench",
      String(SESSIONS),
      String(SECONDS),
    ],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const peak = server.peakRss();
  const result = out.success
    ? JSON.parse(new TextDecoder().decode(out.stdout)) as SessionTotals
    : undefined;
  const what = `${cos ? "COS" : "local"} ${SESSIONS} sessions of small transfers`;
  rows.push({
    what,
    value: result
      ? `${result.operations} rounds in ${result.seconds} s (${
        (result.operations / result.seconds).toFixed(0)
      }/s), ${result.mismatches} mismatches, ${result.failures} failures` +
        (result.first_error ? ` (${result.first_error})` : "")
      : "the client failed",
    check: `${SESSIONS} logged in, no mismatch or failure`,
    ok: result !== undefined && result.sessions === SESSIONS && result.mismatches === 0 &&
      result.failures === 0 && result.operations > 0,
  });
  const load = {
    // On COS every session may be uploading, or listing its bucket, at once.
    uploads: cos ? SESSIONS : 0,
    listings: cos ? SESSIONS : 0,
    transfers: SESSIONS,
    sessions: SESSIONS,
    partBytes: MIN_PART_BYTES,
    threads: THREADS,
    budgetBytes: BUDGET,
  };
  checkMemory(rows, `${what}: peak RSS`, server, peak, load);
  await retained(rows, what, server);
}

/** What sessions.py prints. */
interface SessionTotals {
  sessions: number;
  operations: number;
  mismatches: number;
  failures: number;
  first_error: string;
  seconds: number;
}

function checkMemory(
  rows: LoadRow[],
  what: string,
  server: Measured,
  peak: number,
  load: Load,
): void {
  rows.push(memoryRow(what, server.idleRss, peak, load));
}

/** The RSS {@link SETTLE_MS} after a load whose sessions have all closed. */
async function retained(rows: LoadRow[], what: string, server: Measured): Promise<void> {
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  rows.push({
    what: `${what}: RSS ${SETTLE_MS / 1000} s after`,
    value: `${mib(readRss(server.pid))} (idle ${mib(server.idleRss)})`,
    check: "measured (no target)",
    ok: true,
  });
}

/** Runs a shell pipeline; its success and, on failure, its stderr. */
async function shell(script: string): Promise<{ ok: boolean; error: string }> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stderr: "piped" }).output();
  return { ok: out.success, error: new TextDecoder().decode(out.stderr).trim() };
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(0)} MiB`;
}

if (import.meta.main) {
  const named = Deno.args.filter((a): a is LoadName => (LOADS as readonly string[]).includes(a));
  const work = await Deno.makeTempDir({ prefix: "cosftp-loads-" });
  const rows: LoadRow[] = [];
  try {
    await benchLoads(work, rows, named.length > 0 ? named : LOADS);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  console.log(`memory bound: ${MEMORY_BOUND_DOC}\n`);
  printRows(rows);
  if (rows.some((r) => !r.ok)) Deno.exit(1);
}
