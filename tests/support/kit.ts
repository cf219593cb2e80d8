/**
 * The test kit: one import for what end-to-end tests share. `withServer`
 * starts the real server (local storage, or COS on the in-process emulator),
 * runs the test body and always stops it (and the emulator), even when the
 * body throws; `withSession` adds a logged-in raw control connection;
 * `ftpUrl`/`curl`, `ftplibLogin` and `withBasicFtp` log real clients in as
 * demo/demo; `spawnMain` runs main.ts as a process.
 *
 * The older modules (server.ts, cos_server.ts, raw_client.ts, clients.ts)
 * stay importable; this module builds on them.
 */

import { Client } from "basic-ftp";
import type { ServerConfig, StorageConfig } from "../../src/config/types.ts";
import { assert, assertEquals } from "./assert.ts";
import { type ClientRun, run } from "./clients.ts";
import type { CosEmulator, CosEmulatorOptions } from "./cos_emulator.ts";
import { type CosTestServer, startCosServer } from "./cos_server.ts";
import { RawClient } from "./raw_client.ts";
import { freePort, startServer, type TestServer, user } from "./server.ts";
// The server's permission flags have one source, shared with compile and dist.
import { SERVER_PERMISSIONS } from "../../tools/permissions.ts";

export { SERVER_PERMISSIONS };
export { eventually, freePort, randomBytes, sha256, user } from "./server.ts";
export type { TestServer } from "./server.ts";
export { BUCKET, cosStorage, OTHER_BUCKET, SECRET_ID, SECRET_KEY } from "./cos_server.ts";
export type { CosTestServer } from "./cos_server.ts";
export { RawClient, readAll, writeAllAndClose } from "./raw_client.ts";
export { type ClientRun, IN_CI, needs, python, run } from "./clients.ts";

const FIXTURES = new URL("../fixtures/", import.meta.url).pathname;
/** The self-signed test certificate (CN localhost) and its key. */
export const TLS_CERT = `${FIXTURES}tls-cert.pem`;
export const TLS_KEY = `${FIXTURES}tls-key.pem`;

/** FTPS settings: explicit AUTH TLS always; an implicit port and require_tls on request. */
export interface TlsOptions {
  implicit?: boolean;
  requireTls?: boolean;
}

/** A server on local storage (a fresh temp root). */
export interface LocalServerOptions {
  storage?: "local";
  tls?: TlsOptions;
  adjust?: (config: ServerConfig) => void;
}

/** A server whose account 0 is `BUCKET` on a fresh COS emulator. */
export interface CosServerOptions {
  storage: "cos";
  tls?: TlsOptions;
  adjust?: (config: ServerConfig, emulator: CosEmulator) => void;
  emulator?: Partial<CosEmulatorOptions>;
}

export type ServerOptions = LocalServerOptions | CosServerOptions;

/** Turns on FTPS with the fixture certificate. */
export function useTls(config: ServerConfig, options: TlsOptions = {}): void {
  config.tls = {
    certFile: TLS_CERT,
    keyFile: TLS_KEY,
    implicitPort: options.implicit ? freePort() : 0,
    requireTls: options.requireTls ?? false,
    minVersion: "1.2",
  };
}

/** Starts the server `options` describe; the caller stops it. */
export function startTestServer(options: CosServerOptions): Promise<CosTestServer>;
export function startTestServer(options?: LocalServerOptions): Promise<TestServer>;
export function startTestServer(options: ServerOptions = {}): Promise<TestServer> {
  if (options.storage === "cos") {
    return startCosServer((config, emulator) => {
      if (options.tls) useTls(config, options.tls);
      options.adjust?.(config, emulator);
    }, options.emulator);
  }
  return startServer((config) => {
    if (options.tls) useTls(config, options.tls);
    options.adjust?.(config);
  });
}

/** The server a test gets for `options`: with the emulator when the storage is COS. */
export type ServerFor<O extends ServerOptions> = O extends CosServerOptions ? CosTestServer
  : TestServer;

/** Runs `fn` against a fresh server; always stops the server (and emulator) afterwards. */
export async function withServer<O extends ServerOptions, T>(
  options: O,
  fn: (s: ServerFor<O>) => Promise<T>,
): Promise<T> {
  const s = await startTestServer(options as CosServerOptions) as ServerFor<O>;
  try {
    return await fn(s);
  } finally {
    await s.stop();
  }
}

/**
 * Adds an account on `storage` (section `section`, home `/<section in lower case>`)
 * and one user of it, `name`/`password`, with every right.
 */
export function addAccount(
  config: ServerConfig,
  section: string,
  storage: StorageConfig,
  name: string,
  password = "pw",
): void {
  const account = config.accounts.length;
  config.accounts.push({ section, homeDir: `/${section.toLowerCase()}`, storage });
  config.users.push(user(name, password, { account }));
}

/** Runs `fn` with a client logged in on `port` (binary type); always closes it. */
export async function withLogin<T>(
  port: number,
  fn: (c: RawClient) => Promise<T>,
  name = "demo",
  password = "demo",
): Promise<T> {
  const c = await RawClient.login(port, name, password);
  try {
    return await fn(c);
  } finally {
    c.close();
  }
}

/** `withServer` plus a demo/demo raw client logged in to it. */
export function withSession<O extends ServerOptions, T>(
  options: O,
  fn: (c: RawClient, s: ServerFor<O>) => Promise<T>,
): Promise<T> {
  return withServer(options, (s) => withLogin(s.port, (c) => fn(c, s)));
}

/** Runs `fn` with a fresh temp directory (a client's local side); always removes it. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "cosftp-client-" });
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------
// Real clients
// ---------------------------------------------------------------------------

/** main.ts, for tests that run the server as a process. */
export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/**
 * Starts main.ts as a process with the server's own permissions and resolves
 * once its control `port` answers; a server that does not start is killed and
 * its stderr thrown.
 */
export async function spawnMain(
  args: string[],
  port: number,
  options: { cwd?: string; stdout?: "piped" | "null" } = {},
): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...SERVER_PERMISSIONS, MAIN, ...args],
    cwd: options.cwd,
    stdout: options.stdout ?? "null",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 150; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null);
    if (conn) {
      conn.close();
      return child;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // It already exited; its stderr says why.
  }
  throw new Error(
    `server did not start: ${new TextDecoder().decode((await child.output()).stderr)}`,
  );
}

/** Every client run gets at most this long. */
export const CLIENT_TIMEOUT_MS = 30_000;

/** An ftp:// URL carrying the login (`name:password`) for curl. */
export function ftpUrl(s: { port: number }, path: string, auth = "demo:demo"): string {
  return `ftp://${auth}@127.0.0.1:${s.port}${encodeURI(path)}`;
}

/** curl, quiet but with errors shown, bounded in time. */
export function curl(args: string[], cwd?: string): Promise<ClientRun> {
  return run("curl", ["-sS", "--max-time", "20", ...args], { cwd, timeoutMs: CLIENT_TIMEOUT_MS });
}

/**
 * Python lines that import ftplib and leave `ftp` logged in on `port`.
 * `port` may be a Python expression (e.g. "port" read from sys.argv).
 */
export function ftplibLogin(
  port: number | string,
  options: { name?: string; password?: string; timeout?: number; variable?: string } = {},
): string {
  const ftp = options.variable ?? "ftp";
  return [
    "import ftplib",
    `${ftp} = ftplib.FTP()`,
    `${ftp}.connect("127.0.0.1", ${port}, timeout=${options.timeout ?? 20})`,
    `${ftp}.login(${JSON.stringify(options.name ?? "demo")}, ${
      JSON.stringify(options.password ?? "demo")
    })`,
  ].join("\n");
}

/**
 * Runs `fn` with an npm basic-ftp client logged in as demo/demo (FTPS with
 * the fixture certificate when `tls`); always closes it.
 */
export async function withBasicFtp<T>(
  s: { port: number },
  fn: (client: Client) => Promise<T>,
  options: { tls?: boolean; timeoutMs?: number } = {},
): Promise<T> {
  const client = new Client(options.timeoutMs ?? 20_000);
  try {
    await client.access({
      host: "127.0.0.1",
      port: s.port,
      user: "demo",
      password: "demo",
      secure: options.tls ?? false,
      secureOptions: options.tls
        ? { ca: [await Deno.readTextFile(TLS_CERT)], servername: "localhost" }
        : undefined,
    });
    return await fn(client);
  } finally {
    client.close();
  }
}

/** A client run, formatted for assertion messages (the tails of its output). */
export function show(r: ClientRun): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${
    r.stderr.slice(-3000)
  }`;
}

/** Asserts the client exited 0. */
export function ok(r: ClientRun, what: string): ClientRun {
  assertEquals(r.code, 0, `${what} failed:\n${show(r)}`);
  return r;
}

/** Asserts the client failed (non-zero exit). */
export function failed(r: ClientRun, what: string): ClientRun {
  assert(r.code !== 0, `${what} should have failed:\n${show(r)}`);
  return r;
}

/** `withServer` plus a temp directory for the client's side of transfers; cleans both up. */
export function withServerDir<O extends ServerOptions, T>(
  options: O,
  fn: (s: ServerFor<O>, dir: string) => Promise<T>,
): Promise<T> {
  return withServer(options, (s) => withTempDir((dir) => fn(s, dir)));
}
