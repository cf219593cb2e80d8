/**
 * Fuzzing the control connection with Debian's `doona` (a BED fork): long
 * strings, format strings, non-UTF-8 bytes, huge numbers and odd separators
 * in every command, before and after login. Afterwards the server must still
 * serve a normal client byte-exact, hold no session or passive port, and
 * never have logged a crashed session.
 *
 * doona numbers its FTP test cases 1..N: cases 1-392 try the login commands
 * (fast: nothing waits), every later case logs in first and then sleeps one
 * second (doona's `sleep(1)` after sending USER/PASS, which no option turns
 * off). To get hundreds of post-login cases within the time budget, several
 * doona processes run side by side, each on its own slice of case indexes
 * (`-r` first case, `-M` how many), `-o 0` (no pause between cases).
 */

import { assert, assertEquals } from "./support/assert.ts";
import { needs } from "./support/clients.ts";
import { RawClient } from "./support/raw_client.ts";
import { eventually, randomBytes, sha256, user } from "./support/server.ts";
import { withServer } from "./support/kit.ts";

/** doona's FTP module logs in as anonymous with this password (bedmod/ftp.pm). */
const DOONA_USER = "anonymous";
const DOONA_PASSWORD = "user@this.bed";

/** Number of login-phase cases: 7 login templates x (45 overflow + 11 format strings). */
const LOGIN_CASES = 392;
/** First case index of each post-login section (97 command templates each). */
const OVERFLOW = 393; // 45 strings per command
const FORMAT = 4758; // 11 per command
const UNICODE = 5825; // 7 per command
const NUMBERS = 6504; // 22 per command
const MISC = 8638; // 29 per command, first (shortest) round
/** Post-login cases each worker runs (about one second each). */
const PER_WORKER = 45;

/**
 * Slices of post-login cases: the first index of each. Overflow slices cover
 * one command template with every long string (index in doona's list in the
 * comment); the others cover several templates each.
 */
const POST_LOGIN_STARTS = [
  OVERFLOW + 0 * 45, // "XAXAX" (a bare unknown command)
  OVERFLOW + 12 * 45, // CWD
  OVERFLOW + 19 * 45, // EPRT |1|127.0.0.1|XAXAX|
  OVERFLOW + 24 * 45, // LIST
  OVERFLOW + 39 * 45, // MKD x, CWD x
  OVERFLOW + 50 * 45, // PORT
  OVERFLOW + 54 * 45, // REST
  OVERFLOW + 55 * 45, // RETR
  OVERFLOW + 59 * 45, // RNFR x, RNTO x
  OVERFLOW + 72 * 45, // SITE CHMOD
  OVERFLOW + 80 * 45, // STOR
  OVERFLOW + 83 * 45, // TYPE
  FORMAT + 38 * 11, // MKD/CWD/DELE/RMD combinations with %s%n...
  UNICODE + 43 * 7, // NLST .. PORT with \x99, \xCD, \xCB bytes
  NUMBERS + 54 * 22, // REST and RETR with huge / negative numbers
  MISC + 16 * 29, // EPRT variants with NUL, CR, LF, tabs ...
];

/** Overall limit on one doona process. */
const WORKER_TIMEOUT_MS = 80_000;

interface DoonaRun {
  start: number;
  /** Cases doona reports as executed. */
  executed: number;
  output: string;
}

/** Runs doona on cases start..start+count-1 and returns how many it executed. */
async function doona(port: number, start: number, count: number): Promise<DoonaRun> {
  const args = ["-m", "FTP", "-t", "127.0.0.1", "-p", String(port), "-o", "0", "-M", String(count)];
  if (start > 1) args.push("-r", String(start));
  const out = await new Deno.Command("doona", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(WORKER_TIMEOUT_MS),
  }).output();
  const decoder = new TextDecoder();
  const output = decoder.decode(out.stdout) + decoder.decode(out.stderr);
  // doona ends a bounded run with "Max requests (N) completed, index: I".
  const done = /Max requests \((\d+)\) completed, index: (\d+)/.exec(output);
  assert(
    out.success && done !== null,
    `doona -r ${start} -M ${count} did not finish its cases (exit ${out.code}, signal ${out.signal}):\n` +
      output.slice(-2000),
  );
  return { start, executed: Number(done[2]) - start + 1, output };
}

Deno.test({
  name: "fuzz: doona's FTP cases (login and post-login) leave the server healthy",
  ...needs("doona"),
  async fn() {
    await withServer({
      adjust: (config) => {
        config.users.push(user(DOONA_USER, DOONA_PASSWORD));
        // doona fails logins on purpose and connects over and over: no bans, no per-IP cap.
        config.banAfterFailures = 0;
        config.maxConnectionsPerIp = 0;
        config.loginFailDelayMs = 10;
      },
    }, async (s) => {
      const started = Date.now();
      const runs = await Promise.all([
        doona(s.port, 1, LOGIN_CASES),
        ...POST_LOGIN_STARTS.map((start) => doona(s.port, start, PER_WORKER)),
      ]);
      const login = runs[0].executed;
      const postLogin = runs.slice(1).reduce((sum, r) => sum + r.executed, 0);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      console.log(
        `doona: ${login + postLogin} cases (${login} login-phase, ${postLogin} post-login ` +
          `in ${runs.length - 1} parallel slices) in ${seconds} s`,
      );
      assertEquals(login, LOGIN_CASES);
      assertEquals(postLogin, POST_LOGIN_STARTS.length * PER_WORKER);
      assert(login + postLogin >= 500, "at least 500 fuzz cases ran");

      // The server still serves a normal client, byte-exact.
      const c = await RawClient.login(s.port);
      await c.expect("PWD", 257);
      const bytes = randomBytes(1024 * 1024 + 17);
      await c.store("after-fuzz.bin", bytes);
      assertEquals(
        await sha256(new Uint8Array(await c.retrieve("after-fuzz.bin"))),
        await sha256(bytes),
      );
      await c.expect("QUIT", 221);
      c.close();

      await eventually(() => s.server.sessionCount === 0, 10_000);
      await eventually(() => s.server.passivePortsInUse === 0, 10_000);
      const log = await s.logText();
      // Every post-login case (and each worker's own login check) really logged in.
      const logins = log.match(/ INFO login .*user=anonymous .*result=ok/g)?.length ?? 0;
      assert(logins >= postLogin, `${logins} anonymous logins for ${postLogin} post-login cases`);
      const crashes = log.split("\n").filter((line) => line.includes("session-crashed"));
      assertEquals(crashes, [], "no session crashed");
    });
  },
});
