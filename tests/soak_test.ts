/**
 * A bounded soak: two rounds of 200 concurrent sessions on the COS emulator doing mixed
 * work (uploads of 0..3 MiB with 1 MiB parts, downloads, LIST/NLST, renames,
 * a few ABORs, then DELE/RMD of what they made) while the emulator injects
 * faults: 5xx on PutObject and UploadPart, resets on UploadPart and
 * GetObject, 200-500 ms delays on ListObjects. Some uploads are doomed on
 * purpose (a fault rule on their key that never lets up), so failures are
 * certain.
 *
 * Checked: an upload answered 226 is byte-exact in the bucket right after
 * the reply and still when its session ends; an upload answered anything
 * else has no object, then or later; each session's listings show exactly
 * what it has committed; downloads answered 226 are byte-exact; once all is
 * over the bucket holds only the seed objects, no multipart upload is open,
 * no session or passive port is held, no session crashed, RSS did not grow
 * from the first round to the second (see ROUNDS), and the open file
 * descriptors are back to their count before the server started.
 *
 * Test data is generated and hashed chunk by chunk, so the test itself holds
 * little memory: what RSS shows is the server's and the emulator's.
 */

import { createHash } from "node:crypto";
import { assert, assertEquals } from "./support/assert.ts";
import type { CosEmulator } from "./support/cos_emulator.ts";
import { BUCKET, eventually, startCosServer } from "./support/cos_server.ts";
import { RawClient } from "./support/raw_client.ts";

const MIB = 1024 * 1024;
const SESSIONS = 200;
const OPS_PER_SESSION = 4;
/** Sessions connect this many milliseconds apart. */
const STAGGER_MS = 8;
/** Seed objects to download, preloaded into the bucket. */
const SEEDS = 24;
/** Test data is written in chunks of this size. */
const CHUNK = 256 * 1024;
/** One session's whole script must end within this. */
const SESSION_DEADLINE_MS = 45_000;
/** Share of uploads given a fault rule on their key that fails every attempt. */
const DOOMED_SHARE = 0.12;
/** Share of the other uploads the client aborts half-way with ABOR. */
const ABOR_SHARE = 0.06;
/**
 * Rounds of SESSIONS sessions, one after the other. The first sets the
 * process's memory high-water mark: freed memory stays mapped (V8 keeps its
 * heap pages, the C allocator its arenas), so RSS after a load never drops
 * to what it was before it. A leak shows as growth from one identical round
 * to the next, which is what is measured.
 */
const ROUNDS = 2;
/** How far RSS may grow from the end of the first round to the end of the last. */
const RSS_SLACK = 150 * MIB;
/** How many more open file descriptors than before are tolerated. */
const FD_SLACK = 10;

/** A small seeded PRNG (mulberry32), so a run's choices can be replayed with its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function openFds(): number {
  let count = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
  return count;
}

function rss(): number {
  return Deno.memoryUsage().rss;
}

const mib = (bytes: number) => (bytes / MIB).toFixed(0);

function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function randomChunk(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** Writes `size` random bytes in chunks, then a clean EOF unless `keepOpen`; returns their sha256. */
async function writeRandom(conn: Deno.Conn, size: number, keepOpen = false): Promise<string> {
  const hash = createHash("sha256");
  const writer = conn.writable.getWriter();
  for (let sent = 0; sent < size; sent += CHUNK) {
    const chunk = randomChunk(Math.min(CHUNK, size - sent));
    hash.update(chunk);
    await writer.write(chunk);
  }
  if (keepOpen) writer.releaseLock();
  else await writer.close();
  return hash.digest("hex");
}

/** Reads a data connection to EOF and returns the sha256 of what came, or null if it broke. */
async function readHashed(conn: Deno.Conn): Promise<string | null> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of conn.readable) hash.update(chunk);
    return hash.digest("hex");
  } catch {
    return null;
  } finally {
    closeQuietly(conn);
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed (its stream closes the resource).
  }
}

/** Opens an EPSV data connection (EPSV must not fail). */
async function epsv(c: RawClient): Promise<Deno.TcpConn> {
  const reply = await c.command("EPSV");
  if (reply.code !== 229) throw new Error(`EPSV -> ${reply.text}`);
  const port = Number(/\(\|\|\|(\d+)\|\)/.exec(reply.text)![1]);
  return await Deno.connect({ hostname: "127.0.0.1", port });
}

/** Races `promise` against a deadline; on expiry runs `onTimeout` and rejects. */
async function within<T>(
  ms: number,
  what: string,
  promise: Promise<T>,
  onTimeout: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what}: no end after ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** One upload attempt and how it ended. */
interface Upload {
  key: string;
  size: number;
  /** The reply that ended the transfer. */
  code: number;
  doomed: boolean;
  aborted: boolean;
}

/** What the run saw, for the summary and the checks. */
class Tally {
  readonly uploads: Upload[] = [];
  readonly failures = new Map<string, number>();
  ops = 0;
  ok = 0;
  failed = 0;
  renames = 0;
  downloads = 0;
  listings = 0;
  readonly problems: string[] = [];

  count(op: string, code: number, success: boolean): void {
    this.ops++;
    if (success) {
      this.ok++;
      return;
    }
    this.failed++;
    const label = `${op}:${code}`;
    this.failures.set(label, (this.failures.get(label) ?? 0) + 1);
  }
}

/** Everything a session needs from the test. */
interface Env {
  port: number;
  tally: Tally;
  seeds: Map<string, string>;
  stored(key: string): Uint8Array | undefined;
  /** Makes every PutObject/UploadPart of `key` fail; returns the undo. */
  doom(key: string, random: () => number): () => void;
}

/** One session's script. */
class Worker {
  /** This session's committed keys -> sha256. */
  readonly #own = new Map<string, string>();
  #n = 0;

  constructor(
    readonly id: string,
    readonly c: RawClient,
    readonly random: () => number,
    readonly env: Env,
  ) {}

  get dir(): string {
    return `s${this.id}`;
  }

  problem(text: string): void {
    this.env.tally.problems.push(text);
  }

  async run(): Promise<void> {
    await this.c.expect(`MKD ${this.dir}`, 257);
    for (let i = 0; i < OPS_PER_SESSION; i++) {
      const roll = this.random();
      if (roll < 0.45) await this.upload();
      else if (roll < 0.65) await this.download();
      else if (roll < 0.85) await this.list(this.random() < 0.5 ? "NLST" : "LIST");
      else if (this.#own.size > 0) await this.rename();
      else await this.upload();
    }
    await this.list("NLST");
    // Still byte-exact at the end of the session; then clean up through the gateway.
    for (const [key, sha] of this.#own) {
      this.checkStored(key, sha, "at the end of its session");
      await this.c.expect(`DELE ${key}`, 250);
    }
    await this.c.expect(`RMD ${this.dir}`, 250);
    await this.c.expect("QUIT", 221);
  }

  checkStored(key: string, sha: string, when: string): void {
    const stored = this.env.stored(key);
    if (!stored) this.problem(`${key}: no object ${when}`);
    else if (digest(stored) !== sha) this.problem(`${key}: stored bytes differ ${when}`);
  }

  async upload(): Promise<void> {
    const key = `${this.dir}/u${this.#n++}.bin`;
    const size = Math.floor(this.random() * (3 * MIB + 1));
    const doomed = this.random() < DOOMED_SHARE;
    const aborted = !doomed && size > CHUNK && this.random() < ABOR_SHARE;
    const upload: Upload = { key, size, code: 0, doomed, aborted };
    this.env.tally.uploads.push(upload);
    const lift = doomed ? this.env.doom(key, this.random) : () => {};
    let sha = "";
    try {
      const data = await epsv(this.c);
      const start = await this.c.command(`STOR ${key}`);
      if (start.code !== 150) {
        closeQuietly(data);
        upload.code = start.code;
      } else if (aborted) {
        await writeRandom(data, size >> 1, true).catch(() => "");
        // The transfer's own reply (426 when ABOR caught it) comes first, then ABOR's.
        upload.code = (await this.c.command("ABOR")).code;
        await this.c.read();
        closeQuietly(data);
      } else {
        sha = await writeRandom(data, size).catch(() => {
          closeQuietly(data);
          return "";
        });
        upload.code = (await this.c.read()).code;
      }
    } finally {
      lift();
    }
    const success = upload.code === 226;
    this.env.tally.count("STOR", upload.code, success);
    if (success && (doomed || aborted || sha === "")) {
      this.problem(`${key}: answered 226 although ${doomed ? "doomed" : "cut short"}`);
    } else if (success) {
      this.checkStored(key, sha, "right after 226");
      this.#own.set(key, sha);
    } else if (this.env.stored(key)) {
      this.problem(`${key}: answered ${upload.code} but the object exists`);
    }
  }

  async download(): Promise<void> {
    this.env.tally.downloads++;
    const own = [...this.#own.entries()];
    const seeds = [...this.env.seeds.entries()];
    const pool = own.length > 0 && this.random() < 0.5 ? own : seeds;
    const [key, sha] = pool[Math.floor(this.random() * pool.length)];
    const data = await epsv(this.c);
    const start = await this.c.command(`RETR ${key}`);
    let code = start.code;
    let got: string | null = null;
    if (start.code === 150) {
      got = await readHashed(data);
      code = (await this.c.read()).code;
    } else {
      closeQuietly(data);
    }
    this.env.tally.count("RETR", code, code === 226);
    if (code === 226 && got !== sha) this.problem(`${key}: RETR answered 226, bytes differ`);
  }

  async list(command: "LIST" | "NLST"): Promise<void> {
    this.env.tally.listings++;
    const data = await epsv(this.c);
    const start = await this.c.command(`${command} ${this.dir}`);
    let code = start.code;
    let text = "";
    if (start.code === 150) {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of data.readable) text += decoder.decode(chunk, { stream: true });
      } catch {
        // Counted by the reply.
      } finally {
        closeQuietly(data);
      }
      code = (await this.c.read()).code;
    } else {
      closeQuietly(data);
    }
    this.env.tally.count(command, code, code === 226);
    if (code !== 226) return;
    const lines = text.split("\r\n").filter((l) => l !== "");
    const names = command === "NLST"
      ? lines.map((l) => l.slice(l.lastIndexOf("/") + 1))
      : lines.map((l) => l.split(/\s+/).slice(8).join(" "));
    const expected = [...this.#own.keys()].map((k) => k.slice(k.lastIndexOf("/") + 1));
    if (JSON.stringify(names.sort()) !== JSON.stringify(expected.sort())) {
      this.problem(`${command} ${this.dir}: listed ${names}, committed ${expected}`);
    }
  }

  async rename(): Promise<void> {
    this.env.tally.renames++;
    const keys = [...this.#own.keys()];
    const from = keys[Math.floor(this.random() * keys.length)];
    const to = `${this.dir}/r${this.#n++}.bin`;
    const sha = this.#own.get(from)!;
    await this.c.expect(`RNFR ${from}`, 350);
    const code = (await this.c.command(`RNTO ${to}`)).code;
    this.env.tally.count("RENAME", code, code === 250);
    if (code !== 250) {
      this.problem(`RNTO ${to}: ${code} (no copy fault was injected)`);
      return;
    }
    this.#own.delete(from);
    this.#own.set(to, sha);
    if (this.env.stored(from)) this.problem(`${from}: still there after its rename`);
    this.checkStored(to, sha, "after a rename");
  }
}

/** Faults for one round, counted from now: the server's retries absorb most of them. */
function injectTransientFaults(emulator: CosEmulator, random: () => number): void {
  const ops = SESSIONS * OPS_PER_SESSION;
  const at = (n: number) => 1 + Math.floor(random() * n);
  for (let i = 0; i < 30; i++) {
    emulator.injectFault({ op: "UploadPart", kind: "status", status: 503, nth: at(ops) });
    emulator.injectFault({ op: "PutObject", kind: "status", status: 500, nth: at(ops / 2) });
  }
  for (let i = 0; i < 15; i++) {
    emulator.injectFault({ op: "UploadPart", kind: "reset", nth: at(ops) });
    emulator.injectFault({ op: "GetObject", kind: "reset", nth: at(ops / 4) });
  }
  for (let i = 0; i < 60; i++) {
    const ms = 200 + Math.floor(random() * 300);
    emulator.injectFault({ op: "ListObjects", kind: "delay", ms, nth: at(ops / 2), times: 3 });
  }
}

/** Runs SESSIONS sessions (connects staggered); returns the sessions' errors. */
async function runRound(round: number, seed: number, env: Env): Promise<string[]> {
  const errors: string[] = [];
  const sessions: Promise<void>[] = [];
  for (let n = 0; n < SESSIONS; n++) {
    const id = `${round}-${n}`;
    const random = prng(seed * 1000 + round * SESSIONS + n);
    let client: RawClient | null = null;
    sessions.push(
      within(
        SESSION_DEADLINE_MS,
        `session ${id}`,
        (async () => {
          client = await RawClient.login(env.port);
          await new Worker(id, client, random, env).run();
        })(),
        () => client?.close(),
      )
        .catch((error) => void errors.push(`session ${id}: ${(error as Error).message}`))
        .finally(() => client?.close()),
    );
    await new Promise((r) => setTimeout(r, STAGGER_MS));
  }
  await Promise.all(sessions);
  return errors;
}

Deno.test("soak: 2 x 200 sessions of mixed work on COS with injected faults; nothing leaks", async () => {
  const seed = Number(Deno.env.get("SOAK_SEED") ?? Date.now() % 1_000_000);
  const random = prng(seed);
  const fdsBefore = openFds();
  const s = await startCosServer((config) => {
    config.maxConnections = 0;
    config.maxConnectionsPerIp = 0;
    config.maxLoggedInUsers = 0;
    // 200 uploads share 64 MiB of part buffers: they take turns (backpressure).
    config.uploadMemoryBudget = 64 * MIB;
    config.idleTimeoutMs = 60_000;
    config.dataTimeoutMs = 20_000;
    config.passiveAcceptTimeoutMs = 20_000;
  });
  const tally = new Tally();
  const rssAt: number[] = [];
  const fdsIdle: number[] = [];
  let rssPeak = 0;
  let seconds = 0;
  let summary = "";
  try {
    const seeds = new Map<string, string>();
    for (let i = 0; i < SEEDS; i++) {
      const bytes = randomChunk(Math.floor(random() * 3 * MIB));
      seeds.set(`seed/k${i}.bin`, digest(bytes));
      s.emulator.putObject(BUCKET, `seed/k${i}.bin`, bytes);
    }
    // Some seeds can never be downloaded: every GET of them is reset.
    for (let i = 0; i < 3; i++) {
      s.emulator.injectFault({
        op: "GetObject",
        kind: "reset",
        key: `seed/k${i}.bin`,
        every: true,
      });
    }
    const env: Env = {
      port: s.port,
      tally,
      seeds,
      stored: (key) => s.emulator.getObject(BUCKET, key),
      doom(key, rnd) {
        const op: ("PutObject" | "UploadPart")[] = ["PutObject", "UploadPart"];
        const rule = rnd() < 0.7
          ? s.emulator.injectFault({
            op,
            key,
            kind: "status",
            status: rnd() < 0.5 ? 500 : 503,
            every: true,
          })
          : s.emulator.injectFault({ op, key, kind: "reset", every: true });
        return () => rule.remove();
      },
    };
    rssAt.push(rss());
    rssPeak = rssAt[0];
    const sampler = setInterval(() => rssPeak = Math.max(rssPeak, rss()), 200);
    const started = Date.now();
    const errors: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      injectTransientFaults(s.emulator, random);
      errors.push(...await runRound(round, seed, env));
      await eventually(() => s.server.sessionCount === 0, 10_000);
      await eventually(() => s.server.passivePortsInUse === 0, 10_000);
      await eventually(() => s.emulator.inflightUploads().length === 0, 10_000);
      // Let the process settle (bounded), then take the round's memory and descriptors.
      const settleUntil = Date.now() + (round === 0 ? 2000 : 15_000);
      while (Date.now() < settleUntil && (round === 0 || rss() > rssAt[1] + RSS_SLACK)) {
        await new Promise((r) => setTimeout(r, 250));
      }
      rssAt.push(rss());
      fdsIdle.push(openFds());
    }
    seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);

    const uploads = tally.uploads;
    const failedUploads = uploads.filter((u) => u.code !== 226);
    const failures = [...tally.failures].map(([k, v]) => `${k}=${v}`).join(" ");
    summary = `soak: seed=${seed} sessions=${ROUNDS}x${SESSIONS} ops=${tally.ops} ok=${tally.ok} ` +
      `failed=${tally.failed} {${failures}} uploads=${uploads.length} ` +
      `(226: ${uploads.length - failedUploads.length}, failed: ${failedUploads.length}, ` +
      `doomed: ${uploads.filter((u) => u.doomed).length}, ` +
      `aborted: ${uploads.filter((u) => u.aborted).length}) downloads=${tally.downloads} ` +
      `listings=${tally.listings} renames=${tally.renames} seconds=${seconds.toFixed(1)}`;
    if (errors.length + tally.problems.length > 0) console.log(summary);
    assertEquals([...errors, ...tally.problems], [], "sessions ended cleanly and consistently");
    // Every failed upload left nothing, and nothing else is left: the sessions removed theirs.
    assertEquals(s.emulator.objects(BUCKET), [...seeds.keys()].sort(), "only the seeds are left");
    assertEquals(s.emulator.inflightUploads(), []);
    assertEquals(s.server.sessionCount, 0);
    assertEquals(s.server.passivePortsInUse, 0);
    assert(failedUploads.some((u) => u.doomed), "doomed uploads failed");
    assert(tally.ok > tally.failed * 3, "most operations succeeded");
    const log = await s.logText();
    assertEquals(log.split("\n").filter((l) => l.includes("session-crashed")), []);
  } finally {
    await s.stop();
  }
  // Pooled HTTP connections to the emulator close asynchronously after stop.
  await eventually(() => openFds() <= fdsBefore + FD_SLACK, 10_000).catch(() => {});
  const fdsAfter = openFds();
  const [before, first, last] = [rssAt[0], rssAt[1], rssAt[rssAt.length - 1]];
  console.log(
    `${summary} rss MiB: before-load=${mib(before)} peak=${mib(rssPeak)} ` +
      `after-each-round=${rssAt.slice(1).map(mib).join(",")} fds: before=${fdsBefore} ` +
      `idle-after-each-round=${fdsIdle.join(",")} after-stop=${fdsAfter}`,
  );
  assert(
    fdsAfter <= fdsBefore + FD_SLACK,
    `file descriptors: ${fdsBefore} before, ${fdsAfter} after`,
  );
  assert(
    last <= first + RSS_SLACK,
    `RSS grew from ${mib(first)} MiB after round 1 to ${mib(last)} MiB after round ${ROUNDS}`,
  );
});
