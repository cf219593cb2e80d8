/**
 * Interrupted transfers (issue 7): ABOR in every byte form real clients send
 * (in band, after Telnet IAC IP / IAC DM with urgent bytes lost, ftplib's
 * urgent line with its LF lost, tnftp's stray DM), during STOR and RETR, and
 * clients killed mid-upload. Every case runs on local storage and on COS (the
 * emulator) and checks the store: an interrupted upload leaves nothing, or
 * leaves an older object of that name byte-exact.
 *
 * Urgent (MSG_OOB) bytes need a python3 helper (tests/support/interrupt_client.py);
 * lftp's Ctrl-C needs a terminal (tests/support/lftp_tty.py).
 */

import { assert, assertEquals } from "./support/assert.ts";
import { type ClientRun, needs, run } from "./support/clients.ts";
import { BUCKET, startCosServer } from "./support/cos_server.ts";
import { RawClient } from "./support/raw_client.ts";
import { eventually, startServer, type TestServer } from "./support/server.ts";

const MIB = 1024 * 1024;
/** A RETR source much larger than every socket buffer on the way, so an ignored ABOR shows. */
const BIG_FILE = 64 * MIB;
/** Bytes sent before interrupting an upload: several 1 MiB COS parts, so a multipart upload is open. */
const PARTIAL = 3 * MIB;
/** The 12-byte object an interrupted upload must not replace. */
const OLDER = new TextEncoder().encode("older bytes\n");

const HELPER = new URL("./support/interrupt_client.py", import.meta.url).pathname;
const LFTP_TTY = new URL("./support/lftp_tty.py", import.meta.url).pathname;

// ---------------------------------------------------------------------------
// One harness over both storages
// ---------------------------------------------------------------------------

/** A running server plus direct access to what its storage holds. */
interface Env {
  port: number;
  logText(): Promise<string>;
  put(name: string, bytes: Uint8Array): Promise<void>;
  /** The stored bytes of `name`, or undefined. */
  get(name: string): Uint8Array | undefined;
  /** Whether `name` exists as a file or a directory. */
  exists(name: string): boolean;
  /** Uploads begun and neither committed nor cleaned up (staged files, open multipart uploads). */
  leftovers(): string[];
  stop(): Promise<void>;
}

interface Backend {
  name: string;
  start(): Promise<Env>;
}

function localEnv(s: TestServer): Env {
  const staging = `${s.root}/.cos-ftp-staging`;
  return {
    port: s.port,
    logText: s.logText,
    put: (name, bytes) => Deno.writeFile(`${s.root}/${name}`, bytes),
    get(name) {
      try {
        return Deno.readFileSync(`${s.root}/${name}`);
      } catch {
        return undefined;
      }
    },
    exists: (name) => {
      try {
        Deno.statSync(`${s.root}/${name}`);
        return true;
      } catch {
        return false;
      }
    },
    leftovers: () => [...Deno.readDirSync(staging)].map((e) => e.name),
    stop: s.stop,
  };
}

const BACKENDS: Backend[] = [
  { name: "local", start: async () => localEnv(await startServer()) },
  {
    name: "COS",
    async start() {
      const s = await startCosServer();
      const e = s.emulator;
      return {
        port: s.port,
        logText: s.logText,
        put: (name, bytes) => Promise.resolve(void e.putObject(BUCKET, name, bytes)),
        get: (name) => e.getObject(BUCKET, name),
        exists: (name) => e.objects(BUCKET).some((k) => k === name || k.startsWith(`${name}/`)),
        leftovers: () => e.inflightUploads().map((u) => `${u.key} (${u.parts} parts)`),
        stop: s.stop,
      };
    },
  },
];

async function withEnv(backend: Backend, fn: (env: Env) => Promise<void>): Promise<void> {
  const env = await backend.start();
  try {
    await fn(env);
  } finally {
    await env.stop();
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * After interrupted uploads: once the server has cleaned up (it aborts
 * multipart uploads asynchronously, so this polls, bounded), no object of
 * any of `names` exists, or each holds exactly `older`.
 */
async function assertNothingStored(env: Env, names: string[], older?: Uint8Array): Promise<void> {
  await eventually(() => env.leftovers().length === 0, 5000).catch(() => {
    throw new Error(`uploads neither committed nor cleaned up: ${env.leftovers().join(", ")}`);
  });
  const wrong = names.flatMap((name) => {
    const bytes = env.get(name);
    if (older ? sameBytes(bytes, older) : !env.exists(name)) return [];
    return [`${name}: ${bytes === undefined ? "missing" : `${bytes.length} bytes`}`];
  });
  assertEquals(
    wrong,
    [],
    older ? "the older object must stay intact" : "an interrupted upload must leave nothing",
  );
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

/** Runs the python helper with one plan; returns what it printed. */
async function helper<T>(plan: Record<string, unknown>, timeoutMs = 90_000): Promise<T> {
  const r = await run("python3", [HELPER, JSON.stringify(plan)], { timeoutMs });
  if (r.code !== 0) {
    throw new Error(`helper ${plan.mode} failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
  }
  return JSON.parse(r.stdout) as T;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A random whole number of milliseconds in [min, max). */
function randomMs(min: number, max: number): number {
  return Math.floor(min + Math.random() * (max - min));
}

/** A local file of `size` bytes in a fresh temp dir (removed by the caller). */
async function localFile(size: number): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-interrupt-" });
  const path = `${dir}/upload.bin`;
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 253;
  await Deno.writeFile(path, bytes);
  return { dir, path };
}

/** Whether `promise` settles within `ms` (the timer is cleared either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts `command`, sends it `signal` after `afterMs`, and waits (bounded) for it to end. */
async function killAfter(
  command: string,
  args: string[],
  signal: Deno.Signal,
  afterMs: number,
): Promise<void> {
  const child = new Deno.Command(command, {
    args,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  await delay(afterMs);
  try {
    child.kill(signal);
  } catch {
    // It ended before the signal: the caller's checks show whether that mattered.
  }
  // SIGINT may let a client linger over its ABOR exchange: bounded, then SIGKILL.
  if (!await settlesWithin(child.status, 5000)) child.kill("SIGKILL");
  await child.status;
}

/** Log lines of transfers of `/name`. */
function transferLines(log: string, name: string): string[] {
  return log.split("\n").filter((l) => / transfer /.test(l) && l.includes(` path=/${name} `));
}

/** Asserts most of the interrupted uploads really began (the interruption hit mid-transfer). */
async function assertMostStarted(env: Env, names: string[]): Promise<void> {
  const log = await env.logText();
  const started = names.filter((n) => transferLines(log, n).length > 0);
  assert(
    started.length * 2 >= names.length,
    `only ${started.length} of ${names.length} uploads began before the interruption`,
  );
}

// ---------------------------------------------------------------------------
// 1. Raw ABOR byte forms during STOR and RETR
// ---------------------------------------------------------------------------

interface VariantResult {
  variant: string;
  op: string;
  start: string;
  sent?: number;
  received?: number;
  replies: string[];
  late_replies?: string[];
  noop: string;
  noop_ms: number;
  mkd_iac_iac: string;
  noop2: string;
}

/** Each ABOR form (see VARIANTS in the helper), and a STAT answered before it. */
const VARIANT_PLANS = [
  { variant: "inband", tag: "inband" },
  { variant: "telnet-inband", tag: "telnet-inband" },
  { variant: "lftp", tag: "lftp" },
  { variant: "tnftp", tag: "tnftp" },
  { variant: "ftplib", tag: "ftplib" },
  { variant: "inband", tag: "stat", stat: true },
];

/** What is wrong with one variant's run (empty when right). */
function variantProblems(r: VariantResult, stat: boolean, op: string): string[] {
  const codes = r.replies.map((t) => t.slice(0, 3));
  const problems: string[] = [];
  const expected = stat ? ["213", "426", "226"] : ["426", "226"];
  if (codes.join() !== expected.join()) problems.push(`replies ${codes.join()} (want ${expected})`);
  if (!r.noop.startsWith("200") || r.noop_ms > 1000) {
    problems.push("NOOP after ABOR not 200 at once");
  }
  if (!r.mkd_iac_iac.startsWith("501")) problems.push("IAC IAC in an argument not a literal 0xFF");
  if (!r.noop2.startsWith("200")) problems.push("NOOP after IAC IAC not 200");
  if (op === "RETR" && (r.received ?? 0) >= BIG_FILE) problems.push("the whole file was sent");
  return problems;
}

for (const backend of BACKENDS) {
  for (const op of ["STOR", "RETR"]) {
    Deno.test({
      name:
        `${backend.name}: ABOR during ${op}: in band, IAC IP/DM (lftp, tnftp), urgent LF lost (ftplib)`,
      ...needs("python3"),
      fn: () =>
        withEnv(backend, async (env) => {
          if (op === "RETR") await env.put("big.bin", new Uint8Array(BIG_FILE));
          const plans = VARIANT_PLANS.map((v) => ({
            mode: "variant",
            port: env.port,
            op,
            name: op === "STOR" ? `up-${v.tag}.bin` : "big.bin",
            bytes: op === "STOR" ? PARTIAL : MIB,
            ...v,
          }));
          const results = await Promise.all(plans.map((p) => helper<VariantResult>(p)));
          const problems = results.flatMap((r, i) => {
            const found = variantProblems(r, plans[i].stat === true, op);
            return found.length === 0
              ? []
              : [`${plans[i].tag}: ${found.join("; ")}: ${JSON.stringify(r)}`];
          });
          assertEquals(problems, [], "ABOR forms");
          const iacDirs = VARIANT_PLANS.filter((v) => env.exists(`${v.tag}-ab`));
          assertEquals(iacDirs, [], "IAC IAC dropped instead of kept as 0xFF");
          if (op === "STOR") await assertNothingStored(env, plans.map((p) => p.name));
          else assertEquals(env.get("big.bin")?.length, BIG_FILE);
        }),
    });
  }
}

// ---------------------------------------------------------------------------
// 2. ftplib.FTP.abort()
// ---------------------------------------------------------------------------

interface FtplibResult {
  op: string;
  sent?: number;
  received?: number;
  abort?: string;
  second?: string;
  noop?: string;
  failed_at?: string;
}

for (const backend of BACKENDS) {
  Deno.test({
    name: `${backend.name}: ftplib abort() during STOR and RETR: 426 then 226, no 30 s hang`,
    ...needs("python3"),
    fn: () =>
      withEnv(backend, async (env) => {
        await env.put("big.bin", new Uint8Array(BIG_FILE));
        const base = { mode: "ftplib", port: env.port, timeout: 5 };
        const [stor, retr] = await Promise.all([
          helper<FtplibResult>({ ...base, op: "STOR", name: "ftplib.bin", bytes: PARTIAL }),
          helper<FtplibResult>({ ...base, op: "RETR", name: "big.bin", bytes: MIB }),
        ]);
        const problems = [stor, retr].flatMap((r) => {
          const ok = r.failed_at === undefined && r.abort?.startsWith("426") &&
            r.second?.startsWith("226") && r.noop?.startsWith("200") &&
            (r.op === "STOR" || (r.received ?? 0) < BIG_FILE);
          return ok ? [] : [`${r.op}: ${JSON.stringify(r)}`];
        });
        assertEquals(problems, [], "ftplib abort()");
        await assertNothingStored(env, ["ftplib.bin"]);
      }),
  });
}

// ---------------------------------------------------------------------------
// 3. ABOR and the data close at the same moment
// ---------------------------------------------------------------------------

interface RaceResult {
  iterations: { name: string; start: string; replies: string[]; noop: string }[];
}

for (const backend of BACKENDS) {
  Deno.test({
    name:
      `${backend.name}: the whole file, then ABOR and data close back to back (40 times): discarded`,
    ...needs("python3"),
    fn: () =>
      withEnv(backend, async (env) => {
        const names = Array.from({ length: 40 }, (_, i) => `race${i}.bin`);
        // 1.5 MiB: on COS the upload has a part in flight when ABOR arrives.
        const r = await helper<RaceResult>({
          mode: "race",
          port: env.port,
          names,
          bytes: 1.5 * MIB,
        });
        const wrong = r.iterations.filter((it) =>
          it.replies.map((t) => t.slice(0, 3)).join() !== "426,226" || !it.noop.startsWith("200")
        );
        assertEquals(
          wrong.map((it) => `${it.name}: ${it.replies.join(" | ")} / ${it.noop}`),
          [],
          "ABOR racing the data close must answer 426 then 226",
        );
        await assertNothingStored(env, names);
      }),
  });
}

// ---------------------------------------------------------------------------
// 4. Killed clients
// ---------------------------------------------------------------------------

interface KillResult {
  iterations: { name: string; start: string; sent: number; order: string }[];
}

for (const backend of BACKENDS) {
  for (const how of ["fin", "rst"]) {
    Deno.test({
      name: `${backend.name}: a raw client closing control and data at once mid-upload (${
        how === "fin" ? "FIN" : "RST via SO_LINGER 0"
      }, 30 times) leaves nothing`,
      ...needs("python3"),
      fn: () =>
        withEnv(backend, async (env) => {
          const names = Array.from({ length: 30 }, (_, i) => `${how}${i}.bin`);
          const r = await helper<KillResult>({
            mode: "kill",
            port: env.port,
            how,
            names,
            min: 256 * 1024,
            max: PARTIAL,
          });
          assertEquals(r.iterations.filter((it) => !it.start.startsWith("150")), []);
          await assertNothingStored(env, names).catch((error) => {
            const orders = r.iterations.map((it) => `${it.name}:${it.order}:${it.sent}`);
            throw new Error(`${(error as Error).message}\n(close orders: ${orders.join(" ")})`);
          });
        }),
    });
  }
}

/** How many killed clients of each kind; they run at once, each with its own random delay. */
const KILLS = 10;

function curlArgs(env: Env, file: string, name: string): string[] {
  return ["-sS", "--limit-rate", "3M", "-T", file, `ftp://demo:demo@127.0.0.1:${env.port}/${name}`];
}

function lftpArgs(env: Env, file: string, name: string): string[] {
  const script = `set net:limit-rate 3M; set net:max-retries 1; put ${file} -o ${name}`;
  return ["-u", "demo,demo", "-p", String(env.port), "127.0.0.1", "-e", `${script}; exit`];
}

for (const backend of BACKENDS) {
  for (const [tool, argsOf] of [["curl", curlArgs], ["lftp", lftpArgs]] as const) {
    for (const signal of ["SIGKILL", "SIGINT"] as const) {
      Deno.test({
        name:
          `${backend.name}: ${tool} ${signal} mid-upload (${KILLS} at random moments) leaves nothing`,
        ...needs(tool),
        fn: () =>
          withEnv(backend, async (env) => {
            const file = await localFile(20 * MIB);
            try {
              const names = Array.from({ length: KILLS }, (_, i) => `${tool}-${signal}-${i}.bin`);
              const moments = names.map(() => randomMs(700, 2500));
              await Promise.all(
                names.map((n, i) => killAfter(tool, argsOf(env, file.path, n), signal, moments[i])),
              );
              await assertNothingStored(env, names).catch((error) => {
                throw new Error(`${(error as Error).message}\n(killed after ms: ${moments})`);
              });
              await assertMostStarted(env, names);
            } finally {
              await Deno.remove(file.dir, { recursive: true });
            }
          }),
      });
    }
  }
}

// ---------------------------------------------------------------------------
// 5. lftp interrupted by Ctrl-C on its terminal
// ---------------------------------------------------------------------------

/** Runs lftp under a pseudo-terminal, types `command`, then Ctrl-C after `afterMs`. */
async function lftpCtrlC(env: Env, command: string, afterMs: number): Promise<string> {
  const logDir = await Deno.makeTempDir({ prefix: "cosftp-lftp-" });
  try {
    const r: ClientRun = await run("python3", [
      LFTP_TTY,
      JSON.stringify({ port: env.port, command, afterMs, log: `${logDir}/debug.log` }),
    ], { timeoutMs: 30_000, cwd: logDir });
    assertEquals(r.code, 0, `lftp driver: ${r.stderr}`);
    return await Deno.readTextFile(`${logDir}/debug.log`);
  } finally {
    await Deno.remove(logDir, { recursive: true });
  }
}

for (const backend of BACKENDS) {
  Deno.test({
    name:
      `${backend.name}: lftp put and get interrupted by Ctrl-C: ABOR sent, nothing stored, server serves on`,
    ...needs("lftp", "python3"),
    fn: () =>
      withEnv(backend, async (env) => {
        const file = await localFile(20 * MIB);
        try {
          await env.put("down.bin", new Uint8Array(BIG_FILE));
          const [put, get] = await Promise.all([
            lftpCtrlC(env, `put ${file.path} -o up.bin`, 1500),
            lftpCtrlC(env, `get down.bin -o ${file.dir}/down.bin`, 1500),
          ]);
          assert(/---> STOR up\.bin/.test(put), `lftp never sent STOR:\n${put.slice(-2000)}`);
          assert(/---> ABOR/.test(put), `lftp sent no ABOR during put:\n${put.slice(-2000)}`);
          assert(/---> RETR down\.bin/.test(get), `lftp never sent RETR:\n${get.slice(-2000)}`);
          assert(/---> ABOR/.test(get), `lftp sent no ABOR during get:\n${get.slice(-2000)}`);
          await assertNothingStored(env, ["up.bin"]);
          const log = await env.logText();
          const lines = [...transferLines(log, "up.bin"), ...transferLines(log, "down.bin")];
          assertEquals(lines.filter((l) => l.includes("result=ok")), [], "interrupted transfers");
          assertEquals(lines.length, 2, `one log line per transfer:\n${lines.join("\n")}`);
          const c = await RawClient.login(env.port);
          await c.expect("NOOP", 200);
          c.close();
        } finally {
          await Deno.remove(file.dir, { recursive: true });
        }
      }),
  });
}

// ---------------------------------------------------------------------------
// 6. An older object of the same name survives
// ---------------------------------------------------------------------------

for (const backend of BACKENDS) {
  Deno.test({
    name: `${backend.name}: an interrupted upload leaves the older 12-byte object intact`,
    ...needs("python3"),
    fn: () =>
      withEnv(backend, async (env) => {
        const port = env.port;
        const kill = { mode: "kill", port, min: PARTIAL, max: PARTIAL, order: "data-first" };
        const stor = { port, op: "STOR", bytes: PARTIAL };
        const plans = [
          { ...stor, mode: "variant", name: "abor-inband.bin", variant: "inband", tag: "o1" },
          { ...stor, mode: "variant", name: "abor-lftp.bin", variant: "lftp", tag: "o2" },
          { ...stor, mode: "ftplib", name: "ftplib-abort.bin", timeout: 5 },
          { ...kill, how: "fin", names: ["fin.bin"] },
          { ...kill, how: "rst", names: ["rst.bin"] },
          { mode: "race", port, names: ["race.bin"], bytes: 1.5 * MIB },
        ];
        const names = [
          "abor-inband.bin",
          "abor-lftp.bin",
          "ftplib-abort.bin",
          "fin.bin",
          "rst.bin",
          "race.bin",
        ];
        const c = await RawClient.login(port);
        for (const name of names) await c.store(name, OLDER);
        c.close();
        await Promise.all(plans.map((p) => helper(p)));
        await assertNothingStored(env, names, OLDER);
      }),
  });
}
