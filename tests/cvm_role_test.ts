/**
 * Credentials without keys in files: a `cos_credentials = cvm_role` account
 * takes temporary keys from a CVM instance metadata service (an emulator on
 * loopback) and refreshes them before they expire; the COS emulator accepts
 * those keys only with their security token and only until they expire. Also
 * the STS token from the environment (COS_SECURITY_TOKEN), and what operators
 * read when the metadata service fails.
 */

import { assert, assertEquals, assertMatch } from "./support/assert.ts";
import { run } from "./support/clients.ts";
import type { CosEmulator } from "./support/cos_emulator.ts";
import {
  BUCKET,
  type CosServerOptions,
  cosStorage,
  type CosTestServer,
  MAIN,
  randomBytes,
  SERVER_PERMISSIONS,
  withServer,
} from "./support/kit.ts";
import {
  type MetadataEmulator,
  type MetadataMode,
  startMetadataEmulator,
} from "./support/metadata_emulator.ts";
import { RawClient, writeAllAndClose } from "./support/raw_client.ts";
import { parseConfig } from "../src/config/load.ts";
import type { CosStorageConfig, ServerConfig } from "../src/config/types.ts";
import { probeAccount } from "../src/ftp/resources.ts";
import { storageContext } from "../src/storage/open.ts";

const MIB = 1024 * 1024;

/** Account 0 of a COS test server on the role of `meta` (no keys configured). */
function roleStorage(emulator: CosEmulator, meta: MetadataEmulator, role = ""): CosStorageConfig {
  return {
    ...cosStorage(emulator),
    secretId: "",
    secretKey: "",
    cvmRole: role,
    metadataUrl: meta.url,
  };
}

/** Runs `fn` with a metadata service and a server whose account 0 uses its role. */
async function withRoleServer(
  meta: MetadataEmulator,
  fn: (s: CosTestServer) => Promise<void>,
  adjust: (config: ServerConfig) => void = () => {},
): Promise<void> {
  try {
    await withServer<CosServerOptions, void>({
      storage: "cos",
      emulator: { temporaryKeys: meta.lookup },
      adjust: (config, emulator) => {
        config.accounts[0].storage = roleStorage(emulator, meta);
        adjust(config);
      },
    }, fn);
  } finally {
    await meta.close();
  }
}

/** Every request the emulator saw was signed with a key the metadata service issued, and passed. */
function assertAllSignedByRole(emulator: CosEmulator, meta: MetadataEmulator): Set<string> {
  const log = emulator.requestLog();
  assert(log.length > 0, "the emulator saw requests");
  const issued = new Set(meta.issued.map((key) => key.secretId));
  for (const record of log) {
    assert(issued.has(record.secretId), `${record.op} signed with ${record.secretId}`);
    // 404 is a HEAD before an upload; 403 would be a refused key or token.
    assert(record.status !== 403 && record.status !== "reset", `${record.op}: ${record.status}`);
  }
  return new Set(log.map((record) => record.secretId));
}

/** No issued key, secret or token appears in `text`. */
function assertNoSecrets(text: string, meta: MetadataEmulator): void {
  for (const key of meta.issued) {
    for (const secret of [key.secretId, key.secretKey, key.token]) {
      assert(!text.includes(secret), "a temporary key or token was written out");
    }
  }
}

Deno.test("cvm_role: login, byte-exact STOR/RETR and LIST with the instance role's keys", async () => {
  const meta = startMetadataEmulator({ lifetimeSeconds: 3600 });
  await withRoleServer(meta, async (s) => {
    const c = await RawClient.login(s.port);
    try {
      const small = randomBytes(100_000);
      const big = randomBytes(3 * MIB + 11);
      await c.store("small.bin", small);
      await c.store("dir-less-big.bin", big);
      assertEquals(await c.retrieve("small.bin"), small);
      assertEquals(await c.retrieve("dir-less-big.bin"), big);
      assertEquals(s.emulator.getObject(BUCKET, "dir-less-big.bin"), big);
      const listing = await c.listing("LIST");
      assertMatch(listing, /^-\S+ .* 100000 .* small\.bin\r$/m);
      assertMatch(listing, new RegExp(`^-\\S+ .* ${big.length} .* dir-less-big\\.bin\\r$`, "m"));
    } finally {
      c.close();
    }
    assertEquals(assertAllSignedByRole(s.emulator, meta).size, 1, "one key set for an hour");
    assertEquals(meta.requests.filter((path) => path.endsWith("/")).length, 1, "role listed once");
    assertNoSecrets(await s.logText(), meta);
  });
});

Deno.test("cvm_role: keys expiring every 3 s are replaced during an 8 s upload; none used after expiry", async () => {
  const meta = startMetadataEmulator({ lifetimeSeconds: 3 });
  await withRoleServer(meta, async (s) => {
    const c = await RawClient.login(s.port);
    try {
      const bytes = randomBytes(6 * MIB);
      const data = await c.epsv();
      await c.expect("STOR slow.bin", 150);
      const started = Date.now();
      // 64 KiB every 85 ms: about 750 KiB/s, so 6 MiB take about 8 s (six 1 MiB parts).
      for (let at = 0; at < bytes.length; at += 64 * 1024) {
        await data.write(bytes.subarray(at, at + 64 * 1024));
        await new Promise((resolve) => setTimeout(resolve, 85));
      }
      await writeAllAndClose(data, new Uint8Array());
      const done = await c.read();
      assertEquals(done.code, 226, done.text);
      assert(Date.now() - started > 7000, "the upload took longer than two key lifetimes");
      assertEquals(s.emulator.getObject(BUCKET, "slow.bin"), bytes);
      assertEquals(await c.retrieve("slow.bin"), bytes);
    } finally {
      c.close();
    }
    const used = assertAllSignedByRole(s.emulator, meta);
    assert(used.size >= 2, `distinct temporary keys used: ${used.size}`);
    console.log(`temporary keys used: ${used.size} of ${meta.issued.length} issued`);
    const parts = s.emulator.requestLog().filter((r) => r.op === "UploadPart");
    assert(parts.length >= 5, `parts: ${parts.length}`);
    assertNoSecrets(await s.logText(), meta);
  });
});

Deno.test("cvm_role: the same key id with a later ExpiredTime is used on, past its first expiry", async () => {
  const meta = startMetadataEmulator({ lifetimeSeconds: 3, extendSameKey: true });
  await withRoleServer(meta, async (s) => {
    const c = await RawClient.login(s.port);
    try {
      const started = Date.now();
      for (let i = 0; Date.now() - started < 7000; i++) {
        const bytes = randomBytes(10_000 + i);
        await c.store(`renewed-${i}.bin`, bytes);
        assertEquals(await c.retrieve(`renewed-${i}.bin`), bytes);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } finally {
      c.close();
    }
    assertEquals(meta.issued.length, 1, "the service kept one key id");
    assertEquals(assertAllSignedByRole(s.emulator, meta).size, 1);
    const log = await s.logText();
    assert(!log.includes("expired"), "no request failed on expired keys");
    assertNoSecrets(log, meta);
  });
});

/** A config file for main.ts: account 0 on the role, against the two emulators. */
function roleConfigText(emulator: CosEmulator, meta: MetadataEmulator, role: string): string {
  return [
    "[COS_ACCOUNT_0]",
    `cos_credentials = ${role}`,
    `cvm_metadata_url = ${meta.url}`,
    `cos_bucket = ${BUCKET}`,
    `cos_endpoint = ${emulator.url}`,
    "cos_protocol = http",
    "home_dir = /",
    "ftp_login_user_name = u",
    "ftp_login_user_password = p",
    "authority = RW",
    "",
  ].join("\n");
}

const FAILURES: { mode: MetadataMode; role: string; reason: RegExp }[] = [
  { mode: "error-500", role: "cvm_role", reason: /security-credentials\/: HTTP 500$/ },
  { mode: "hang", role: "cvm_role", reason: /security-credentials\/: no answer within 2 s$/ },
  { mode: "bad-json", role: "named-role", reason: /named-role: the answer is not JSON$/ },
  {
    mode: "ok",
    role: "missing-role",
    reason: /missing-role: role "missing-role" not found \(HTTP 404\)$/,
  },
  {
    mode: "no-role",
    role: "cvm_role",
    reason: /security-credentials\/: no role is bound to this instance \(HTTP 404\)$/,
  },
];

Deno.test("cvm_role: a failing metadata service is a clear --check FAILED line, without a stack trace", async () => {
  const { startCosEmulator } = await import("./support/cos_emulator.ts");
  const emulator = await startCosEmulator({ credentials: {}, buckets: [BUCKET] });
  const dir = await Deno.makeTempDir({ prefix: "cosftp-cvm-" });
  try {
    for (const { mode, role, reason } of FAILURES) {
      const meta = startMetadataEmulator({ mode, role: "named-role" });
      try {
        const file = `${dir}/${mode}.conf`;
        await Deno.writeTextFile(file, roleConfigText(emulator, meta, role));
        const out = await run(
          Deno.execPath(),
          ["run", ...SERVER_PERMISSIONS, MAIN, "--check", "--config", file],
          { timeoutMs: 30_000 },
        );
        assertEquals(out.code, 1, `${mode}: ${out.stdout}${out.stderr}`);
        const line = out.stdout.split("\n").find((l) => l.startsWith("[COS_ACCOUNT_0]")) ?? "";
        const url = `${meta.url}/latest/meta-data/cam/security-credentials/`;
        assert(
          line.includes(`: FAILED: cannot get CVM role credentials from ${url}`),
          `${mode}: ${line}`,
        );
        assertMatch(line, reason);
        assert(!/\bat .*\.ts:\d+/.test(out.stdout + out.stderr), "no stack trace");
      } finally {
        await meta.close();
      }
    }
  } finally {
    await emulator.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cvm_role: a failing metadata service is a start-up warning and a 451; the account recovers with it", async () => {
  const meta = startMetadataEmulator({ mode: "error-500" });
  await withRoleServer(meta, async (s) => {
    const c = await RawClient.login(s.port);
    await c.expect("NOOP", 200);
    const reply = await c.command("SIZE x.bin");
    assert(reply.code >= 400, reply.text);
    assert(!reply.text.includes("127.0.0.1") && !reply.text.includes("http"), reply.text);
    c.close();
    let log = "";
    for (let i = 0; i < 100 && !log.includes("storage-unreachable"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      log = await s.logText();
    }
    const line = log.split("\n").find((l) => l.includes("storage-unreachable")) ?? "";
    assertMatch(line, /cannot get CVM role credentials from http:\/\/127\.0\.0\.1:\d+\/latest/);
    assertMatch(line, /HTTP 500/);
    assert(!/\bat .*\.ts:\d+/.test(log), "no stack trace in the log");
    // The client hears a plain sentence; the log's detail has the metadata service's words.
    assertEquals(reply.text, "451 Storage unavailable, try again later");
    const failed = log.split("\n").find((l) => l.includes("command=SIZE")) ?? "";
    assertMatch(failed, /detail="cannot get CVM role credentials from .*: HTTP 500"/);
    // Once the service answers again (and a failure's 3 s hold has passed), the account works.
    meta.mode = "ok";
    await new Promise((resolve) => setTimeout(resolve, 3100));
    const again = await RawClient.login(s.port);
    const bytes = randomBytes(1000);
    await again.store("back.bin", bytes);
    assertEquals(await again.retrieve("back.bin"), bytes);
    again.close();
  });
});

Deno.test("COS_SECURITY_TOKEN: STS keys from the environment sign with their token", async () => {
  const sts = {
    secretId: "AKIDstsFromEnv0001",
    secretKey: "sts-secret-key-from-env",
    token: "sts-session-token-from-env",
    expiresAt: Date.now() + 3600_000,
  };
  const lookup = (id: string) => id === sts.secretId ? sts : undefined;
  const text = "[COS_ACCOUNT_0]\ncos_bucket = b-1250000000\ncos_region = ap-guangzhou\n" +
    "home_dir = /\nftp_login_user_name = u\nftp_login_user_password = p\nauthority = RW\n";
  const storageFrom = (env: Record<string, string>) => {
    const result = parseConfig(text, "t.conf", env, "/");
    assert(result.config !== null, JSON.stringify(result.errors));
    return result.config.accounts[0].storage as CosStorageConfig;
  };
  const shared = storageFrom({
    COS_SECRET_ID: sts.secretId,
    COS_SECRET_KEY: sts.secretKey,
    COS_SECURITY_TOKEN: sts.token,
  });
  assertEquals(shared.securityToken, sts.token);
  const own = storageFrom({
    COS_SECRET_ID_COS_ACCOUNT_0: sts.secretId,
    COS_SECRET_KEY_COS_ACCOUNT_0: sts.secretKey,
    COS_SECURITY_TOKEN: "other",
    COS_SECURITY_TOKEN_COS_ACCOUNT_0: sts.token,
  });
  assertEquals(own.securityToken, sts.token, "the section's own keys take its own token");
  await withServer<CosServerOptions, void>({
    storage: "cos",
    emulator: { temporaryKeys: lookup },
    adjust: (config, emulator) => {
      const { secretId, secretKey, securityToken } = shared;
      config.accounts[0].storage = { ...cosStorage(emulator), secretId, secretKey, securityToken };
    },
  }, async (s) => {
    const c = await RawClient.login(s.port);
    const bytes = randomBytes(2 * MIB + 3);
    await c.store("sts.bin", bytes);
    assertEquals(await c.retrieve("sts.bin"), bytes);
    c.close();
    assert(s.emulator.requestLog().every((r) => r.secretId === sts.secretId));
    // The same keys without their token are refused; the message names neither.
    const context = storageContext(s.config);
    const account = {
      section: "COS_ACCOUNT_0",
      homeDir: "/",
      storage: { ...cosStorage(s.emulator), secretId: sts.secretId, secretKey: sts.secretKey },
    };
    const failure = await probeAccount(account, context) ?? "";
    assertMatch(failure, /AccessDenied/);
    // With the token but past their expiry, they are refused too.
    sts.expiresAt = Date.now() - 1;
    assertMatch(
      await probeAccount(
        { ...account, storage: { ...account.storage, securityToken: sts.token } },
        context,
      ) ?? "",
      /expired/,
    );
    for (const secret of [sts.secretKey, sts.token]) assert(!failure.includes(secret));
  });
});

Deno.test("COS_SECURITY_TOKEN: only accounts whose keys come from the same place get it", () => {
  const account = (n: number, extra: string) =>
    `[COS_ACCOUNT_${n}]\ncos_bucket = b-1250000000\ncos_region = ap-guangzhou\nhome_dir = /h${n}\n` +
    `ftp_login_user_name = u${n}\nftp_login_user_password = p\nauthority = RW\n${extra}`;
  const text = account(0, "cos_secretid = fileId\ncos_secretkey = fileKey\n") +
    account(1, "") + account(2, "") +
    account(3, "cos_secretid = i3\ncos_secretkey = k3\ncos_security_token = fileToken\n");
  const result = parseConfig(text, "t.conf", {
    COS_SECRET_ID: "sharedId",
    COS_SECRET_KEY: "sharedKey",
    COS_SECURITY_TOKEN: "sharedToken",
    COS_SECRET_ID_COS_ACCOUNT_2: "ownId",
    COS_SECRET_KEY_COS_ACCOUNT_2: "ownKey",
  }, "/");
  assertEquals(result.errors, []);
  const tokens = result.config!.accounts.map((a) => {
    const storage = a.storage as CosStorageConfig;
    return [storage.secretId, storage.securityToken];
  });
  assertEquals(tokens, [
    ["fileId", undefined],
    ["sharedId", "sharedToken"],
    ["ownId", undefined],
    ["i3", "fileToken"],
  ]);
});

Deno.test("cos_credentials and cvm_metadata_url: read, defaulted and checked at their line", () => {
  const base = "[COS_ACCOUNT_0]\ncos_bucket = b-1250000000\ncos_region = ap-guangzhou\n" +
    "home_dir = /\nftp_login_user_name = u\nftp_login_user_password = p\nauthority = RW\n";
  const load = (extra: string, env: Record<string, string> = {}) =>
    parseConfig(base + extra, "t.conf", env, "/");
  const storageOf = (extra: string) => {
    const result = load(extra);
    assertEquals(result.errors, []);
    return result.config!.accounts[0].storage as CosStorageConfig;
  };
  // No keys anywhere: a role still makes it a COS account (not the local fallback).
  const role = storageOf("cos_credentials = cvm_role\n");
  assertEquals(role.kind, "cos");
  assertEquals([role.cvmRole, role.secretId, role.secretKey], ["", "", ""]);
  assertEquals(role.metadataUrl, "http://metadata.tencentyun.com");
  const named = storageOf(
    "cos_credentials = ftp-gateway\ncvm_metadata_url = http://10.0.0.9:8080/\n",
  );
  assertEquals([named.cvmRole, named.metadataUrl], ["ftp-gateway", "http://10.0.0.9:8080"]);
  // `keys` is today's behaviour: the configured pair, no role fields.
  const keys = storageOf("cos_credentials = keys\ncos_secretid = i\ncos_secretkey = k\n");
  assertEquals([keys.secretId, keys.cvmRole, keys.securityToken], ["i", undefined, undefined]);
  const bad = load("cos_credentials = cvm role\n").errors.map((e) => `${e.line}: ${e.key}`);
  assert(bad.includes("8: cos_credentials"), JSON.stringify(bad));
  const url = load("cos_credentials = cvm_role\ncvm_metadata_url = ftp://x\n").errors;
  assert(url.some((e) => e.line === 9 && e.key === "cvm_metadata_url"), JSON.stringify(url));
  const half = load("cos_credentials = keys\n", { COS_SECRET_ID: "i" }).errors;
  assert(half.some((e) => e.key === "cos_secretkey"), "keys without a secret key is an error");
});
