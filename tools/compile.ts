/**
 * `deno task compile [--target TRIPLE]`: builds the single-file executable
 * `dist/cos-ftp-server` with `deno compile` and exactly the permissions the server needs.
 *
 * `deno compile` does not embed the running `deno`; it downloads a smaller runtime ("denort")
 * from dl.deno.land, or takes the file named by the DENORT_BIN environment variable. This
 * tool checks that one of the two will work before compiling, so that an offline machine gets
 * one clear sentence instead of deno's error chain.
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { SERVER_PERMISSIONS } from "./permissions.ts";

/** The repository root (this file lives in tools/). */
const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where the executable is written, relative to ROOT. */
const OUTPUT = "dist/cos-ftp-server";
/** How long the reachability probe of the download server may take. */
const PROBE_TIMEOUT_MS = 5000;
/** How long the built executable may take to print its version. */
const VERIFY_TIMEOUT_MS = 30_000;

/** A problem the user can fix; printed as one line without a stack trace. */
class UserError extends Error {}

interface Options {
  /** A Rust target triple such as x86_64-unknown-linux-gnu; undefined = this machine. */
  target?: string;
}

/** Runs the tool; resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    const options = parseArgs(args);
    const target = options.target ?? Deno.build.target;
    await ensureRuntime(target);
    await compile(options.target);
    if (target === Deno.build.target) await verifyOutput();
    await reportOutput(target);
    return 0;
  } catch (error) {
    // Only the message: a stack trace would bury the one line that says what to do.
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function parseArgs(args: string[]): Options {
  const options: Options = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--target" || arg.startsWith("--target=")) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
      if (!value) throw new UserError("--target needs a target triple");
      options.target = value;
    } else throw new UserError(`unknown argument ${arg} (usage: deno task compile [--target T])`);
  }
  return options;
}

/** Throws a UserError unless `deno compile` can obtain the runtime for `target`. */
async function ensureRuntime(target: string): Promise<void> {
  const denortBin = Deno.env.get("DENORT_BIN");
  // Deno reads DENORT_BIN itself; we only check it first for a clearer message.
  if (denortBin !== undefined) return await checkDenortBin(denortBin);
  const cached = await cachedRuntimePath(target);
  if (cached && (await isFile(cached))) return;
  const url = runtimeUrl(target);
  const problem = await probe(url);
  if (problem === null) return;
  throw new UserError(
    `deno compile needs the Deno runtime (denort) for ${target}; it cannot be downloaded ` +
      `from here (${url}: ${problem}). Set DENORT_BIN=/path/to/denort (from a machine with ` +
      `internet: the denort-${target}.zip of Deno ${Deno.version.deno}), or use ` +
      "`deno task dist` for an offline tarball.",
  );
}

/** Throws a UserError naming `path` unless it is an executable file. */
async function checkDenortBin(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
    throw new UserError(`DENORT_BIN=${path}: ${why}; it must name a denort executable`);
  }
  if (!info.isFile) throw new UserError(`DENORT_BIN=${path}: not a file`);
  // Windows has no execute bits; there any file is accepted.
  if (Deno.build.os !== "windows" && ((info.mode ?? 0) & 0o111) === 0) {
    throw new UserError(`DENORT_BIN=${path}: not executable (chmod +x it)`);
  }
}

/** The URL deno compile downloads the runtime from (seen in its own "Download" line). */
function runtimeUrl(target: string): string {
  return `https://dl.deno.land/release/v${Deno.version.deno}/denort-${target}.zip`;
}

/**
 * Where deno compile keeps a downloaded runtime (DENO_DIR/dl/release/v<version>/...): when it
 * is there, no download is needed. Null when the cache directory cannot be determined.
 */
async function cachedRuntimePath(target: string): Promise<string | null> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
    env: { NO_COLOR: "1" },
  }).output();
  if (!output.success) return null;
  try {
    const info: unknown = JSON.parse(new TextDecoder().decode(output.stdout));
    const dir = typeof info === "object" && info !== null && "denoDir" in info
      ? info.denoDir
      : undefined;
    if (typeof dir !== "string") return null;
    return `${dir}/dl/release/v${Deno.version.deno}/denort-${target}.zip`;
  } catch {
    return null;
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** Null when `url` answers with success within the timeout, else why not. */
async function probe(url: string): Promise<string | null> {
  try {
    const response = await fetch(url, {
      method: "HEAD",
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await response.body?.cancel();
    return response.ok ? null : `HTTP ${response.status}`;
  } catch (error) {
    if (error instanceof DOMException && error.name === "TimeoutError") {
      return `no answer within ${PROBE_TIMEOUT_MS / 1000} s`;
    }
    return describeFetchError(error);
  }
}

/** The innermost cause of a fetch failure (e.g. the DNS error), without the URL again. */
function describeFetchError(error: unknown): string {
  let cause: unknown = error;
  while (cause instanceof Error && cause.cause !== undefined) cause = cause.cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  return message.replace(/^error sending request for url \([^)]*\): /, "");
}

/** Runs deno compile; throws a UserError when it fails (its own output explains why). */
async function compile(target: string | undefined): Promise<void> {
  const args = [
    "compile",
    ...SERVER_PERMISSIONS,
    "--output",
    OUTPUT,
    ...(target ? ["--target", target] : []),
    "main.ts",
  ];
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdin: "null",
    // RUST_BACKTRACE=1 (set in some shells) makes deno append a backtrace to its errors.
    env: { RUST_BACKTRACE: "0" },
  }).spawn().status;
  if (!status.success) throw new UserError(`deno compile failed (exit code ${status.code})`);
}

/**
 * Runs the new executable with --version: a DENORT_BIN that names the full `deno` instead of
 * denort yields a binary that silently behaves as plain deno, which is worth catching here.
 */
async function verifyOutput(): Promise<void> {
  const output = await new Deno.Command(`${ROOT}${OUTPUT}`, {
    args: ["--version"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(VERIFY_TIMEOUT_MS),
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (output.success && text.startsWith("cos-ftp-server ")) return;
  // A broken executable left in dist/ would later be mistaken for a good one.
  await Deno.remove(`${ROOT}${OUTPUT}`);
  const hint = Deno.env.get("DENORT_BIN") === undefined
    ? ""
    : ` (is DENORT_BIN=${Deno.env.get("DENORT_BIN")} the full deno rather than denort?)`;
  throw new UserError(
    `${OUTPUT} --version printed "${text.split("\n")[0]}", not the server's version${hint}`,
  );
}

/** Prints where the executable is and how big (deno adds .exe for Windows targets). */
async function reportOutput(target: string): Promise<void> {
  const path = `${ROOT}${OUTPUT}${target.includes("windows") ? ".exe" : ""}`;
  const size = (await Deno.stat(path)).size;
  console.log(`${path} (${(size / 1024 / 1024).toFixed(1)} MiB)`);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
