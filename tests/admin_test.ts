/**
 * The admin listener over real sockets: real clients (basic-ftp, raw
 * control connections) drive the server on local storage and on the COS
 * emulator, then /metrics is scraped and its values compared with what was
 * transferred; promtool checks the exposition; /healthz and /readyz follow
 * the storages (the emulator made unreachable, then back, then stopped).
 */

import { Readable, Writable } from "node:stream";
import { formatNumber, Registry } from "../src/admin/metrics.ts";
import { formatIssue, parseConfig } from "../src/config/load.ts";
import { isLoopback } from "../src/config/admin_listen.ts";
import type { CosStorageConfig, ServerConfig } from "../src/config/types.ts";
import { assert, assertEquals } from "./support/assert.ts";
import { nextGeneration } from "../src/ftp/generation.ts";
import { startCosEmulator } from "./support/cos_emulator.ts";
import {
  addAccount,
  BUCKET,
  cosStorage,
  eventually,
  freePort,
  needs,
  randomBytes,
  RawClient,
  run,
  SECRET_ID,
  SECRET_KEY,
  type TestServer,
  withBasicFtp,
  withLogin,
  withServer,
} from "./support/kit.ts";

/** Turns the admin listener on (any free port) with fast probes. */
function admin(config: ServerConfig): void {
  config.adminListen = "127.0.0.1:0";
  config.adminProbeIntervalMs = 100;
  config.adminReadyMaxAgeMs = 1000;
}

function adminUrl(s: TestServer, path: string): string {
  const address = s.server.adminAddress;
  assert(address !== null, "the admin listener is on");
  return `http://127.0.0.1:${address.port}${path}`;
}

async function get(s: TestServer, path: string): Promise<{ status: number; body: string }> {
  const response = await fetch(adminUrl(s, path));
  return { status: response.status, body: await response.text() };
}

/** Samples by `name{labels}` exactly as exposed (labels in the registry's order). */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

/** The sum of every sample of `name` whose labels include all of `labels`. */
function total(metrics: Map<string, number>, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const [key, value] of metrics) {
    const bare = key.split("{")[0];
    if (bare === name && labels.every((label) => key.includes(label))) sum += value;
  }
  return sum;
}

async function scrape(s: TestServer): Promise<{ text: string; metrics: Map<string, number> }> {
  const response = await fetch(adminUrl(s, "/metrics"));
  assertEquals(response.status, 200);
  assert(response.headers.get("content-type")!.startsWith("text/plain; version=0.0.4"));
  const text = await response.text();
  return { text, metrics: samples(text) };
}

/** Waits until `path` answers `status`; returns the body. */
async function waitFor(s: TestServer, path: string, status: number, ms = 8000): Promise<string> {
  const deadline = Date.now() + ms;
  let last = { status: 0, body: "" };
  while (Date.now() < deadline) {
    last = await get(s, path);
    if (last.status === status) return last.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${path} stayed ${last.status}: ${last.body}`);
}

const LOCAL_SIZE = 1024 * 1024 + 17;
const COS_SIZE = 2 * 1024 * 1024 + 5; // three 1 MiB parts on the emulator

Deno.test("admin: /metrics counts what real clients did, on local and COS storage", async () => {
  const localRoot = await Deno.makeTempDir({ prefix: "cosftp-admin-local-" });
  try {
    await withServer({
      storage: "cos" as const,
      adjust: (config: ServerConfig) => {
        admin(config);
        addAccount(config, "LOCAL", { kind: "local", root: localRoot }, "loc", "pw");
      },
    }, async (s) => {
      const cosBytes = randomBytes(COS_SIZE);
      const localBytes = randomBytes(LOCAL_SIZE);
      // basic-ftp on COS: STOR then RETR.
      await withBasicFtp(s, async (client) => {
        await client.uploadFrom(Readable.from([cosBytes]), "big.bin");
        const chunks: Uint8Array[] = [];
        await client.downloadTo(
          new Writable({
            write(chunk, _encoding, done) {
              chunks.push(chunk);
              done();
            },
          }),
          "big.bin",
        );
        assertEquals(chunks.reduce((n, c) => n + c.length, 0), COS_SIZE);
      });
      // A raw client on local storage: STOR, RETR, a 550, an unknown command.
      await withLogin(
        s.port,
        async (c) => {
          assertEquals((await c.store("/local.bin", localBytes)).code, 226);
          assertEquals(await c.retrieve("/local.bin"), localBytes);
          await c.expect("RETR /missing.bin", 550);
          await c.expect("XYZZY please", 502);
          await eventually(() => s.server.sessionCount === 1); // basic-ftp's hang-up seen
          const open = (await scrape(s)).metrics;
          assertEquals(total(open, "cosftp_sessions_open"), 1, "this session is open");
        },
        "loc",
        "pw",
      );
      // A failed login.
      const bad = await RawClient.connect(s.port);
      await bad.expect("USER demo", 331);
      await bad.expect("PASS wrong", 530);
      bad.close();
      assertEquals(await Deno.readFile(`${localRoot}/local.bin`), localBytes);
      // The server notices the clients' hang-ups on its own time.
      await eventually(() => s.server.sessionCount === 0);

      const { text, metrics } = await scrape(s);
      const m = (name: string, ...labels: string[]) => total(metrics, name, ...labels);
      assertEquals(m("cosftp_logins_total", 'result="ok"'), 2);
      assertEquals(m("cosftp_logins_total", 'result="failed"'), 1);
      assertEquals(m("cosftp_transfer_bytes_total", 'direction="in"'), COS_SIZE + LOCAL_SIZE);
      assertEquals(m("cosftp_transfer_bytes_total", 'direction="out"'), COS_SIZE + LOCAL_SIZE);
      assertEquals(m("cosftp_transfers_total", 'direction="in"', 'result="ok"'), 2);
      assertEquals(m("cosftp_transfers_total", 'direction="out"', 'result="ok"'), 2);
      assertEquals(m("cosftp_transfer_duration_seconds_count"), 4);
      assertEquals(m("cosftp_transfer_duration_seconds_bucket", 'le="+Inf"'), 4);
      assertEquals(m("cosftp_commands_total", 'command="STOR"', 'class="2xx"'), 2);
      assertEquals(m("cosftp_commands_total", 'command="RETR"', 'class="2xx"'), 2);
      assertEquals(m("cosftp_commands_total", 'command="RETR"', 'class="5xx"'), 1);
      assertEquals(m("cosftp_commands_total", 'command="PASS"', 'class="2xx"'), 2);
      assertEquals(m("cosftp_commands_total", 'command="PASS"', 'class="5xx"'), 1);
      assertEquals(m("cosftp_commands_total", 'command="USER"', 'class="3xx"'), 3);
      assertEquals(m("cosftp_commands_total", 'command="unknown"', 'class="5xx"'), 1);
      assert(!text.includes("XYZZY"), "an unknown command name is not a label value");
      // COS: the upload's parts and the download went through the observed paths.
      assert(m("cosftp_cos_requests_total", 'operation="uploadPart"', 'outcome="2xx"') >= 3);
      assertEquals(m("cosftp_cos_requests_total", 'operation="multipartComplete"'), 1);
      assert(m("cosftp_cos_requests_total", 'operation="getObject"', 'outcome="2xx"') >= 1);
      assert(m("cosftp_cos_requests_total", 'operation="headBucket"') >= 1, "probes count too");
      assertEquals(
        m("cosftp_cos_request_duration_seconds_count"),
        m("cosftp_cos_requests_total"),
        "one latency observation per request",
      );
      assertEquals(m("cosftp_sessions_open"), 0);
      assertEquals(m("cosftp_passive_ports_in_use"), 0);
      assertEquals(m("cosftp_passive_ports"), 1000);
      assertEquals(m("cosftp_upload_memory_bytes"), 0, "every part buffer returned");
      assertEquals(m("cosftp_upload_memory_budget_bytes"), 256 * 1024 * 1024);
      assertEquals(m("cosftp_bans_active"), 0);
      assertEquals(m("cosftp_storage_retries_total"), 0);
      assertEquals((await get(s, "/healthz")).status, 200);
      await promtool(text);
    });
  } finally {
    await Deno.remove(localRoot, { recursive: true });
  }
});

Deno.test("admin: the registry escapes label values and HELP text; promtool takes it", async () => {
  const registry = new Registry();
  const counter = registry.counter("t_events_total", "Help with \\ and\na line feed.", ["name"]);
  counter.inc(['quote " back \\ line\nfeed'], 2);
  const histogram = registry.histogram("t_seconds", "Latency.", ["op"], [0.1, 1]);
  for (const value of [0.05, 0.1, 0.5, 7]) histogram.observe(["x"], value);
  const text = registry.render();
  assert(text.includes('t_events_total{name="quote \\" back \\\\ line\\nfeed"} 2\n'), text);
  assert(text.includes("# HELP t_events_total Help with \\\\ and\\na line feed.\n"), text);
  for (
    const line of [
      't_seconds_bucket{op="x",le="0.1"} 2',
      't_seconds_bucket{op="x",le="1"} 3',
      't_seconds_bucket{op="x",le="+Inf"} 4',
      't_seconds_sum{op="x"} 7.65',
      't_seconds_count{op="x"} 4',
    ]
  ) assert(text.includes(`${line}\n`), `${line} in\n${text}`);
  assertEquals(formatNumber(Infinity), "+Inf");
  await promtool(text);
});

/** `promtool check metrics` on the exposition (skipped with a reason without promtool). */
async function promtool(text: string): Promise<void> {
  if (needs("promtool").ignore) {
    console.log("promtool not installed (Debian package prometheus): exposition check skipped");
    return;
  }
  const result = await run("promtool", ["check", "metrics"], { stdin: text });
  assertEquals(result.code, 0, `promtool check metrics:\n${result.stdout}${result.stderr}`);
}

Deno.test("admin: an active ban shows in /metrics", async () => {
  await withServer({
    storage: "local",
    adjust: (config) => {
      admin(config);
      config.banAfterFailures = 1;
      config.loginFailDelayMs = 0;
    },
  }, async (s) => {
    const c = await RawClient.connect(s.port);
    await c.expect("USER demo", 331);
    await c.expect("PASS wrong", 530);
    c.close();
    const { metrics, text } = await scrape(s);
    assertEquals(total(metrics, "cosftp_bans_active"), 1);
    assertEquals(total(metrics, "cosftp_logins_total", 'result="failed"'), 1);
    await promtool(text);
  });
});

Deno.test("admin: a COS 503 shows as a 5xx request and a retry; the upload still lands", async () => {
  await withServer({ storage: "cos" as const, adjust: admin }, async (s) => {
    const fault = s.emulator.injectFault({ op: "UploadPart", kind: "status", status: 503 });
    const bytes = randomBytes(COS_SIZE);
    await withLogin(s.port, async (c) => {
      assertEquals((await c.store("/retried.bin", bytes)).code, 226);
      assertEquals(await c.retrieve("/retried.bin"), bytes);
    });
    assertEquals(fault.hits, 1);
    const { metrics, text } = await scrape(s);
    const m = (name: string, ...labels: string[]) => total(metrics, name, ...labels);
    assertEquals(m("cosftp_storage_retries_total"), 1);
    assertEquals(m("cosftp_cos_requests_total", 'operation="uploadPart"', 'outcome="5xx"'), 1);
    assertEquals(m("cosftp_cos_requests_total", 'operation="uploadPart"', 'outcome="2xx"'), 3);
    assertEquals(m("cosftp_transfer_bytes_total", 'direction="in"'), COS_SIZE);
    await promtool(text);
  });
});

Deno.test("admin: /readyz follows the storages: unreachable, back, stopped", async () => {
  const other = await startCosEmulator({
    credentials: { [SECRET_ID]: SECRET_KEY },
    buckets: [BUCKET],
  });
  let otherOpen = true;
  try {
    await withServer({
      storage: "cos" as const,
      adjust: (config: ServerConfig) => {
        admin(config);
        addAccount(config, "BACKUP", cosStorage(other), "backup");
      },
    }, async (s) => {
      assertEquals((await get(s, "/healthz")).status, 200);
      await waitFor(s, "/readyz", 200);
      const fault = s.emulator.injectFault({ kind: "reset", every: true });
      const down = await waitFor(s, "/readyz", 503);
      assert(down.includes("[TEST]") && !down.includes("[BACKUP]"), down);
      const metrics = (await scrape(s)).metrics;
      assertEquals(total(metrics, "cosftp_storage_ready", 'account="TEST"'), 0);
      assertEquals(total(metrics, "cosftp_storage_ready", 'account="BACKUP"'), 1);
      assert(total(metrics, "cosftp_cos_requests_total", 'outcome="error"') >= 1);
      fault.remove();
      await waitFor(s, "/readyz", 200);
      await other.close();
      otherOpen = false;
      const stopped = await waitFor(s, "/readyz", 503);
      assert(stopped.includes("[BACKUP]") && !stopped.includes("[TEST]"), stopped);
      assertEquals((await get(s, "/healthz")).status, 200, "the process still serves");
      assertEquals((await get(s, "/nothing")).status, 404);
    });
  } finally {
    if (otherOpen) await other.close();
  }
});

Deno.test("admin: /readyz probes the accounts a reload brings", async () => {
  await withServer({ storage: "local", adjust: admin }, async (s) => {
    await waitFor(s, "/readyz", 200);
    const running = s.server.generation;
    // A COS endpoint where nothing listens.
    const nowhere: CosStorageConfig = {
      kind: "cos",
      secretId: SECRET_ID,
      secretKey: SECRET_KEY,
      bucket: BUCKET,
      region: "ap-guangzhou",
      endpoint: `http://127.0.0.1:${freePort()}`,
      protocol: "http",
      prefix: "",
    };
    const config = {
      ...running.config,
      accounts: [...running.config.accounts, {
        section: "EXTRA",
        homeDir: "/extra",
        storage: nowhere,
      }],
    };
    await s.server.reload(await nextGeneration(config, running));
    let body = await waitFor(s, "/readyz", 503);
    for (let i = 0; i < 100 && body.includes("not probed yet"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      body = (await get(s, "/readyz")).body;
    }
    // Probed: the reason is the probe's failure, not "not probed yet".
    assert(/\[EXTRA\] .+/.test(body) && !body.includes("not probed yet"), body);
    assert(!body.includes("[TEST]"), body);
    const metrics = (await scrape(s)).metrics;
    assertEquals(total(metrics, "cosftp_storage_ready", 'account="EXTRA"'), 0);
    assertEquals(total(metrics, "cosftp_storage_ready", 'account="TEST"'), 1);
    // A reload that removes EXTRA again: its series goes with it.
    await s.server.reload(await nextGeneration(running.config, s.server.generation));
    const after = await scrape(s);
    assert(!after.text.includes('account="EXTRA"'), after.text);
    assertEquals(total(after.metrics, "cosftp_storage_ready", 'account="TEST"'), 1);
  });
});

Deno.test("admin: [ADMIN] listen is checked with file:line; off by default", () => {
  const base = "[COS_ACCOUNT_1]\nstorage = local\nlocal_root = /srv\nhome_dir = /srv\n" +
    "ftp_login_user_name = a\nftp_login_user_password = b\nauthority = RW\n[ADMIN]\n";
  const line = base.split("\n").length; // the line after [ADMIN]
  const parse = (text: string) => parseConfig(base + text, "f.conf", {}, "/");
  const issues = (text: string) => parse(text).errors.map(formatIssue).join("\n");
  assertEquals(parse("").config?.adminListen, "", "off unless set");
  assertEquals(parse("listen = [::1]:9121\n").config?.adminListen, "[::1]:9121");
  // Whatever the operator wrote, public or not, and nothing else.
  assertEquals(parse("listen = 0.0.0.0:9121\n").config?.adminListen, "0.0.0.0:9121");
  for (const bad of ["9121", "localhost:9121", "127.0.0.1:99999", "127.0.0.1", ":9121"]) {
    const text = issues(`listen = ${bad}\n`);
    assert(new RegExp(`^f\\.conf:${line}: listen: `, "m").test(text), text);
  }
  assert(issues("listen = 9121\n").includes("such as 127.0.0.1:9121 or [::1]:9121"));
  assert(issues("listen = localhost:9121\n").includes('"localhost" is not an IP address'));
  assert(
    new RegExp(`f\\.conf:${line}: probe_interval: must be at least 0\\.1`)
      .test(issues("probe_interval = 0\n")),
  );
});

// Decides the admin-not-loopback warning: IPv4-mapped 127.x is loopback too.
Deno.test("admin: isLoopback knows loopback in any spelling, IPv4-mapped included", () => {
  const loopback = [
    "127.0.0.1",
    "127.3.2.1",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",
    "::FFFF:127.9.9.9",
    "0:0:0:0:0:ffff:7f00:1",
  ];
  for (const host of loopback) assert(isLoopback(host), host);
  const reachable = [
    "0.0.0.0",
    "::",
    "10.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:0.0.0.0",
    "::127.0.0.1",
    "fe80::1",
  ];
  for (const host of reachable) assert(!isLoopback(host), host);
});
