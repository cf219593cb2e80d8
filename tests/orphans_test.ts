/**
 * No orphaned parts: multipart uploads of a killed server are aborted after
 * a restart, without touching a live instance's uploads or other tools';
 * aborts that fail are retried in the background; the operator's
 * --list/--abort-incomplete-uploads commands. Servers run as processes
 * (kill -9 must be real) against the in-process COS emulator.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { needs, run } from "./support/clients.ts";
import { startCosEmulator } from "./support/cos_emulator.ts";
import type { CosEmulator } from "./support/cos_emulator.ts";
import { sdkClient } from "./support/cos_sdk.ts";
import { BUCKET, cosStorage, SECRET_ID, SECRET_KEY } from "./support/cos_server.ts";
import { createCosClient } from "../src/storage/cos/client.ts";
import { abortUpload, listIncompleteUploads } from "../src/storage/cos/incomplete.ts";
import { eventually, freePort, randomBytes, SERVER_PERMISSIONS } from "./support/server.ts";
import { RawClient } from "./support/raw_client.ts";
import { spawnMain, withServer } from "./support/kit.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const MAIN = `${ROOT}main.ts`;
const MIB = 1024 * 1024;
const JOURNAL = ".cos-ftp-server/";

/** A config file for a server process on `emulator`, lease_interval 1 s unless overridden. */
async function writeConfig(
  dir: string,
  emulator: CosEmulator,
  port: number,
  passive: number,
  extra: string[] = [],
) {
  const path = `${dir}/server-${port}.conf`;
  await Deno.writeTextFile(
    path,
    [
      "[COS_ACCOUNT_0]",
      `cos_secretid = ${SECRET_ID}`,
      `cos_secretkey = ${SECRET_KEY}`,
      `cos_bucket = ${BUCKET}`,
      `cos_region = ${emulator.region}`,
      `cos_endpoint = ${emulator.url}`,
      "cos_protocol = http",
      `home_dir = ${dir}/home`,
      "ftp_login_user_name = u",
      "ftp_login_user_password = p",
      "authority = RW",
      "[NETWORK]",
      "listen_address = 127.0.0.1",
      `listen_port = ${port}`,
      `passive_port = ${passive},${passive + 19}`,
      "[OPTIONAL]",
      `log_dir = ${dir}/log-${port}`,
      "log_level = INFO",
      "min_part_size = 1M",
      "upload_memory_budget = 64M",
      "cos_timeout = 5",
      "shutdown_grace_period = 1",
      ...(extra.some((l) => l.startsWith("lease_interval")) ? [] : ["lease_interval = 1"]),
      ...extra,
    ].join("\n"),
  );
  return path;
}

/** curl uploading `file` to `name` at `rate` bytes per second, in the background. */
function slowUpload(port: number, file: string, name: string, rate: string) {
  return new Deno.Command("curl", {
    args: ["-sS", "--limit-rate", rate, "-T", file, `ftp://u:p@127.0.0.1:${port}/${name}`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

function journalKeys(emulator: CosEmulator): string[] {
  return emulator.objects(BUCKET).filter((k) => k.startsWith(JOURNAL));
}

async function until(condition: () => boolean, timeoutMs: number, what: string | (() => string)) {
  await eventually(condition, timeoutMs).catch(() => {
    throw new Error(`not in ${timeoutMs} ms: ${typeof what === "string" ? what : what()}`);
  });
}

/** How a kill -9 test runs: extra config lines, and how fast the live peer uploads. */
interface KillPlan {
  /** Config lines of the instance that is killed and restarted. */
  configA: string[];
  /** Config lines of the live peer. */
  configB: string[];
  label: string;
  /** curl --limit-rate of the live peer's 14 MiB upload: it must outlast the sweep. */
  survivorRate: string;
  /** The bound the issue sets, checked on the measured time. */
  withinSeconds: number;
}

Deno.test({
  name:
    "kill -9 mid-upload: a restart aborts the dead process's uploads, not a live peer's or a foreign one",
  ...needs("curl"),
  fn: () =>
    killAndRestart({
      configA: [],
      configB: [],
      label: "lease_interval 1 s",
      survivorRate: "1M",
      withinSeconds: 60,
    }),
});

Deno.test({
  name: "kill -9 mid-upload, default timings: the orphans are aborted within 60 s of the restart",
  ...needs("curl"),
  fn: () =>
    killAndRestart({
      configA: ["lease_interval = 15"],
      configB: ["lease_interval = 15"],
      label: "default lease_interval 15 s",
      survivorRate: "200K",
      withinSeconds: 60,
    }),
});

Deno.test({
  name: "kill -9 mid-upload, instance_name set: the restart knows its previous life at once",
  ...needs("curl"),
  fn: () =>
    killAndRestart({
      configA: ["lease_interval = 15", "instance_name = gw-a"],
      configB: ["lease_interval = 15", "instance_name = gw-b"],
      label: "instance_name set, default lease_interval",
      survivorRate: "1M",
      withinSeconds: 10,
    }),
});

async function killAndRestart(plan: KillPlan): Promise<void> {
  const emulator = await startCosEmulator({
    credentials: { [SECRET_ID]: SECRET_KEY },
    buckets: [BUCKET],
  });
  const dir = await Deno.makeTempDir();
  const children: Deno.ChildProcess[] = [];
  try {
    const portA = freePort();
    const portB = freePort();
    const configA = await writeConfig(dir, emulator, portA, 42100, plan.configA);
    const configB = await writeConfig(dir, emulator, portB, 42200, plan.configB);
    const a = await spawnMain(["--config", configA], portA);
    const b = await spawnMain(["--config", configB], portB);
    children.push(a, b);
    // Another tool's upload: not journaled, so never ours to abort.
    const sdk = sdkClient(emulator, SECRET_ID, SECRET_KEY);
    const foreign = await sdk.multipartInit({
      Bucket: BUCKET,
      Region: emulator.region,
      Key: "foreign/big.bin",
    });
    const small = randomBytes(8 * MIB);
    const big = randomBytes(14 * MIB);
    await Deno.writeFile(`${dir}/small.bin`, small);
    await Deno.writeFile(`${dir}/big.bin`, big);
    const doomed = [
      slowUpload(portA, `${dir}/small.bin`, "a1.bin", "1M"),
      slowUpload(portA, `${dir}/small.bin`, "a2.bin", "1M"),
    ];
    const survivor = slowUpload(portB, `${dir}/big.bin`, "b.bin", plan.survivorRate);
    const ofA = () => emulator.inflightUploads().filter((u) => /^a\d\.bin$/.test(u.key));
    await until(() => ofA().length === 2 && ofA().every((u) => u.parts > 0), 15_000, "A uploads");
    a.kill("SIGKILL");
    await a.status;
    for (const curl of doomed) await curl.output();
    const orphans = ofA().map((u) => u.uploadId);
    assertEquals(orphans.length, 2, "the killed process left its uploads behind");
    const restarted = await spawnMain(["--config", configA], portA);
    const restartedAt = Date.now();
    children.push(restarted);
    await until(() => ofA().length === 0, plan.withinSeconds * 1000, "orphans aborted");
    const seconds = (Date.now() - restartedAt) / 1000;
    console.log(`orphans aborted ${seconds.toFixed(1)} s after the restart (${plan.label})`);
    const live = emulator.inflightUploads().map((u) => u.key).sort();
    assertEquals(live, ["b.bin", "foreign/big.bin"], "the live peer's and the foreign upload");
    const done = await survivor.output();
    const logB = await Deno.readTextFile(`${dir}/log-${portB}/cos_v5.log`).catch(() => "");
    assertEquals(done.code, 0, new TextDecoder().decode(done.stderr) + logB);
    assertEquals(
      emulator.getObject(BUCKET, "b.bin"),
      big,
      "the live peer's upload is byte-exact",
    );
    assertEquals(emulator.inflightUploads().map((u) => u.uploadId), [foreign.UploadId]);
    await until(() => journalKeys(emulator).length === 0, 10_000, "journal emptied");
    for (const child of [b, restarted]) child.kill("SIGTERM");
    for (const child of [b, restarted]) assertEquals((await child.status).code, 0);
    assertEquals(emulator.objects(BUCKET), ["b.bin"], "no journal or lease left");
  } finally {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already gone.
      }
      await child.stderr.cancel().catch(() => {});
      await child.status;
    }
    await emulator.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a failed abort is retried in the background until it succeeds; nothing is left", async () => {
  await withServer({
    storage: "cos",
    adjust: (config) => {
      config.leaseIntervalMs = 1000;
    },
  }, async (s) => {
    const c = await RawClient.login(s.port);
    s.emulator.injectFault({ op: "UploadPart", kind: "status", status: 500, nth: 2, every: true });
    // The SDK tries each request 4 times: 12 failures are three failed aborts of ours.
    const abortFaults = s.emulator.injectFault({
      op: "AbortMultipartUpload",
      kind: "status",
      status: 503,
      times: 12,
    });
    const reply = await c.store("doomed.bin", randomBytes(4 * MIB)).catch((e: Error) => e);
    assert(reply instanceof Error, "the upload fails");
    await until(() => abortFaults.hits >= 4, 10_000, "the first abort failed");
    assertEquals(s.emulator.inflightUploads().length, 1, "the first aborts failed");
    await until(() => s.emulator.inflightUploads().length === 0, 30_000, "aborted in the end");
    assertEquals(abortFaults.hits, 12);
    await until(
      () => journalKeys(s.emulator).length === 0,
      10_000,
      () => `journal emptied: ${journalKeys(s.emulator)}`,
    );
    const log = await s.logText();
    assertMatch(log, /abort-queued/);
    assertMatch(log, /orphan-abort-retry/);
    assertEquals(s.emulator.objects(BUCKET), []);
    c.close();
  });
});

Deno.test("the journal's hidden prefix is neither listed nor reachable over FTP", async () => {
  await withServer({ storage: "cos" }, async (s) => {
    s.emulator.putObject(BUCKET, `${JOURNAL}instances/x.1`, new TextEncoder().encode("{}"));
    s.emulator.putObject(BUCKET, "visible.txt", new TextEncoder().encode("v"));
    const c = await RawClient.login(s.port);
    assertEquals((await c.listing("NLST")).trim().split(/\r?\n/), ["visible.txt"]);
    assert(!(await c.listing("LIST -a")).includes(".cos-ftp-server"), "not in LIST -a");
    assertEquals((await c.command("CWD /.cos-ftp-server")).code, 550);
    assertEquals((await c.command("SIZE .cos-ftp-server/instances/x.1")).code, 550);
    assertEquals((await c.command("MKD .cos-ftp-server")).code, 550);
    assertEquals((await c.command("DELE /.cos-ftp-server/instances/x.1")).code, 550);
    assert(s.emulator.getObject(BUCKET, `${JOURNAL}instances/x.1`), "still there");
    c.close();
  });
});

Deno.test("--list-incomplete-uploads shows owners; --abort-incomplete-uploads picks by age, never a live one", async () => {
  const emulator = await startCosEmulator({
    credentials: { [SECRET_ID]: SECRET_KEY },
    buckets: [BUCKET],
  });
  const dir = await Deno.makeTempDir();
  try {
    const config = await writeConfig(dir, emulator, freePort(), 42300);
    const cli = (...args: string[]) =>
      run(Deno.execPath(), ["run", ...SERVER_PERMISSIONS, MAIN, "--config", config, ...args]);
    const sdk = sdkClient(emulator, SECRET_ID, SECRET_KEY);
    const at = { Bucket: BUCKET, Region: emulator.region };
    const init = async (key: string) => (await sdk.multipartInit({ ...at, Key: key })).UploadId;
    const claim = (instance: string, key: string, id: string) =>
      emulator.putObject(
        BUCKET,
        `${JOURNAL}uploads/${instance}/e1.${id}`,
        new TextEncoder().encode(JSON.stringify({ key, uploadId: id })),
      );
    const foreign = await init("foreign.bin");
    const dead = await init("dead.bin");
    claim("gone.bb", "dead.bin", dead);
    // lease_interval 1 s: silent for 5 s is dead.
    await new Promise((r) => setTimeout(r, 6500));
    const live = await init("live.bin");
    claim("peer.aa", "live.bin", live);
    emulator.putObject(BUCKET, `${JOURNAL}instances/peer.aa`, new TextEncoder().encode("{}"));

    const listed = await cli("--list-incomplete-uploads");
    assertEquals(listed.code, 0, listed.stderr);
    assertMatch(listed.stdout, /\[COS_ACCOUNT_0\] cos ftp-1250000000: 3 incomplete uploads/);
    assertMatch(listed.stdout, /KEY +UPLOAD ID +INITIATED +AGE +OWNER/);
    assertMatch(listed.stdout, new RegExp(`foreign\\.bin +${foreign} +\\S+Z +\\d+s +not ours`));
    assertMatch(listed.stdout, new RegExp(`dead\\.bin +${dead} .* dead instance gone\\.bb`));
    assertMatch(listed.stdout, new RegExp(`live\\.bin +${live} .* live instance peer\\.aa`));

    const young = await cli("--abort-incomplete-uploads", "--older-than", "1h");
    assertEquals(young.code, 0, young.stderr);
    assertMatch(young.stdout, /aborted 0, kept 3, failed 0/);
    assertEquals(emulator.inflightUploads().length, 3);

    const old = await cli("--abort-incomplete-uploads", "--older-than=3s");
    assertEquals(old.code, 0, old.stderr);
    assertMatch(old.stdout, /kept, in flight on live instance peer\.aa: live\.bin/);
    assertMatch(old.stdout, /aborted 2, kept 1, failed 0/);
    assertEquals(emulator.inflightUploads().map((u) => u.key), ["live.bin"]);
    assertEquals(journalKeys(emulator).filter((k) => k.includes("gone.bb")), []);

    const bad = await cli("--abort-incomplete-uploads", "--older-than", "soon");
    assertEquals(bad.code, 2);
    assertMatch(bad.stderr, /--older-than needs a duration/);
    const stray = await cli("--list-incomplete-uploads", "--older-than", "1d");
    assertEquals(stray.code, 2);
    emulator.injectFault({ op: "ListMultipartUploads", kind: "status", status: 403, every: true });
    const denied = await cli("--list-incomplete-uploads");
    assertEquals(denied.code, 1);
    assertMatch(denied.stdout, /FAILED: .*COS/);
    assert(!/\bat .*\.ts:\d+/.test(denied.stdout + denied.stderr), "no stack trace");
  } finally {
    await emulator.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("emulator ListMultipartUploads: prefix, key/upload-id markers one per page, Initiated, abort", async () => {
  const emulator = await startCosEmulator({
    credentials: { [SECRET_ID]: SECRET_KEY },
    buckets: [BUCKET],
  });
  const client = createCosClient(cosStorage(emulator), 5000);
  try {
    const sdk = sdkClient(emulator, SECRET_ID, SECRET_KEY);
    const at = { Bucket: BUCKET, Region: emulator.region };
    const started = Date.now() - 1000;
    const keys = ["p/a", "p/a", "p/a", "p/b", "q/c"];
    const ids = [];
    for (const key of keys) ids.push((await sdk.multipartInit({ ...at, Key: key })).UploadId);
    const paged = await listIncompleteUploads(client, "p/", 1);
    assertEquals(paged.map((u) => u.key), ["p/a", "p/a", "p/a", "p/b"]);
    assertEquals(new Set(paged.map((u) => u.uploadId)).size, 4, "no page repeats or skips");
    assert(paged.every((u) => u.initiated >= started && u.initiated <= Date.now()), "Initiated");
    assertEquals((await listIncompleteUploads(client, "")).length, 5);
    for (const u of paged) assert(await abortUpload(client, u.key, u.uploadId));
    assertEquals(await abortUpload(client, "p/a", ids[0]), false, "gone is not an error");
    assertEquals((await listIncompleteUploads(client, "")).map((u) => u.key), ["q/c"]);
  } finally {
    client.http.close();
    await emulator.close();
  }
});
