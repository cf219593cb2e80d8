/**
 * Starts the real server in-process on 127.0.0.1 with an ephemeral control
 * port and a temporary local root, for tests.
 */

import { settingsFromKeys } from "../../src/config/globals.ts";
import type { ServerConfig, UserConfig } from "../../src/config/types.ts";
import { FtpServer } from "../../src/ftp/server.ts";
import { Logger } from "../../src/log.ts";

/** A running test server. */
export interface TestServer {
  server: FtpServer;
  port: number;
  /** Local storage root of account 0. */
  root: string;
  config: ServerConfig;
  /** Log lines written so far (tests assert on them). */
  logText(): Promise<string>;
  stop(): Promise<void>;
}

/** A user with every right, for account 0. */
export function user(name: string, password: string, rights: Partial<UserConfig> = {}): UserConfig {
  return { name, password, canRead: true, canWrite: true, canDelete: true, account: 0, ...rights };
}

/**
 * The config tests start from: fast timeouts, one local account, user demo/demo. Settings
 * are written by config key name and read by the real readers (defaults from the key table).
 */
export function testConfig(root: string, logDir: string): ServerConfig {
  const settings = settingsFromKeys({
    listen_address: "127.0.0.1",
    listen_port: "0",
    passive_port: "41000-41999",
    log_dir: logDir,
    shutdown_grace_period: "5",
    idle_timeout: "30",
    data_timeout: "10",
    passive_accept_timeout: "5",
    login_failure_delay: "0.05",
    upload_memory_budget: "256M",
    cos_timeout: "10",
    max_connections_per_ip: "0",
    ban_after_failures: "0",
  }, "/");
  return {
    source: "(test)",
    ...settings,
    accounts: [{ section: "TEST", homeDir: root, storage: { kind: "local", root } }],
    users: [user("demo", "demo")],
  };
}

/** Starts a server; `adjust` may change the config first. */
export async function startServer(
  adjust: (config: ServerConfig) => void = () => {},
): Promise<TestServer> {
  const root = await Deno.makeTempDir({ prefix: "cosftp-root-" });
  const logDir = await Deno.makeTempDir({ prefix: "cosftp-log-" });
  const config = testConfig(root, logDir);
  adjust(config);
  const log = await Logger.open(config.logLevel, config.logDir, false);
  const server = await FtpServer.start(config, log).catch((error) => {
    log.close();
    throw error;
  });
  return {
    server,
    port: server.address.port,
    root,
    config,
    logText: () => Deno.readTextFile(`${logDir}/cos_v5.log`),
    async stop() {
      await server.shutdown();
      log.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
      await Deno.remove(logDir, { recursive: true }).catch(() => {});
    },
  };
}

/** Random bytes (crypto.getRandomValues fills at most 64 KiB at a time). */
export function randomBytes(length: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

/** Hex SHA-256 of bytes. */
export async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Waits (bounded) until `condition` holds. */
export async function eventually(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A free TCP port on 127.0.0.1 (bound, then released: good enough for a test). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** The permissions the server runs with (`deno task serve`), for tests that start main.ts. */
export { SERVER_PERMISSIONS } from "../../tools/permissions.ts";

/** Whether anything (file, directory, link) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
