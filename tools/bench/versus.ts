/**
 * Running the same FTP work against several servers (the gateway, vsftpd,
 * pyftpdlib) with one client (tools/bench/client.py), in rounds: each round
 * runs every server once, back to back, so a slow moment of a shared VM
 * hits them all alike.
 */

import type { Peer } from "./peers.ts";

/** One FTP server to run the work against; `localDir` is null on COS. */
export type Target = Omit<Peer, "stop" | "localDir"> & { localDir: string | null };

const CLIENT = new URL("./client.py", import.meta.url).pathname;

/** Per server, what each round measured (seconds or milliseconds, as `run` returns). */
export type Rounds = Map<string, number[][]>;

/** `runs` rounds of `run` on every target, in order; values per target and round. */
export async function rounds(
  targets: Target[],
  runs: number,
  run: (target: Target) => Promise<number[]>,
): Promise<Rounds> {
  const results: Rounds = new Map(targets.map((t) => [t.name, []]));
  for (let i = 0; i < runs; i++) {
    for (const target of targets) results.get(target.name)!.push(await run(target));
  }
  return results;
}

/**
 * Medians of value `index` for `name` and `baseline`, and the median of the
 * per-round ratios baseline / name (values are times: a ratio above 1 means
 * `name` was faster).
 */
export function compare(
  results: Rounds,
  name: string,
  baseline: string,
  index = 0,
): { gateway: number; baseline: number; ratio: number } {
  const ours = results.get(name)!.map((r) => r[index]);
  const theirs = results.get(baseline)!.map((r) => r[index]);
  return {
    gateway: median(ours),
    baseline: median(theirs),
    ratio: median(ours.map((t, i) => theirs[i] / t)),
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The path of `name` in the target's upload directory. */
export function remotePath(target: Target, name: string): string {
  return target.remoteDir ? `${target.remoteDir}/${name}` : name;
}

/** One timed transfer of `local` (or to nowhere, `-`); its seconds. */
export async function transfer(
  target: Target,
  kind: "ftp-put" | "ftp-get",
  local: string,
  remote: string,
): Promise<number> {
  const [seconds] = await runClient([kind, ...login(target), local, remotePath(target, remote)]);
  return seconds;
}

let directories = 0;

/**
 * Uploads every file of `dir` to a new directory (so every run creates its
 * files) and downloads them back, over one session; milliseconds per file
 * [up, down].
 */
export async function manyFiles(target: Target, dir: string): Promise<number[]> {
  await syncDisks();
  const remote = remotePath(target, `small-${++directories}`);
  return await runClient(["ftp-many", ...login(target), dir, remote]);
}

/**
 * Writes all dirty pages to disk, so one server's uploads are not still
 * being written back while the next server is measured.
 */
export async function syncDisks(): Promise<void> {
  await new Deno.Command("sync").output();
}

/**
 * `count` files of 100 B to 64 KiB, sizes and bytes from a fixed seed, so
 * every run and every server gets the same ones. Returns their total size.
 */
export async function makeSmallFiles(dir: string, count: number): Promise<number> {
  await Deno.mkdir(dir, { recursive: true });
  const next = mulberry32(8);
  let total = 0;
  for (let i = 0; i < count; i++) {
    const size = 100 + Math.floor(next() * (64 * 1024 - 100 + 1));
    const bytes = new Uint8Array(size);
    for (let j = 0; j < size; j++) bytes[j] = next() * 256;
    await Deno.writeFile(`${dir}/f${String(i).padStart(4, "0")}.bin`, bytes);
    total += size;
  }
  return total;
}

/** A small seeded generator of numbers in [0, 1): the same sequence on every run. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function login(target: Target): string[] {
  return ["127.0.0.1", String(target.port), target.user, target.password];
}

/** Runs the client; the numbers it prints. */
async function runClient(args: string[]): Promise<number[]> {
  const out = await new Deno.Command("python3", {
    args: [CLIENT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`client.py ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout).trim().split(/\s+/).map(Number);
}
