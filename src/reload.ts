/**
 * Operator signals of a running server: SIGHUP reloads the config file,
 * SIGUSR1 reopens the log file (logrotate without copytruncate).
 *
 * A reload is all or nothing: the file is loaded and checked as at start-up
 * (every problem logged as `file:line: key: message`), then the next
 * generation's certificate and storages are opened; only when all of that
 * works does the server switch to it. Settings bound to what the process set
 * up once (its sockets, the passive port pool, the log file, the upload
 * memory budget, the upload journal) keep their running values and say so.
 *
 * @module
 */

import { checkFiles } from "./config/files.ts";
import { CONFIG_KEYS } from "./config/keys.ts";
import { formatIssue, loadConfigFile } from "./config/load.ts";
import type { ServerConfig } from "./config/types.ts";
import { type Generation, nextGeneration } from "./ftp/generation.ts";
import { failureText } from "./ftp/resources.ts";
import type { Logger } from "./log.ts";

/** What a reload needs of the server. */
export interface Reloadable {
  readonly generation: Generation;
  /** False (having closed what only `next` opened) when the server is shutting down. */
  reload(next: Generation): Promise<boolean>;
}

/** The `source` of the config used when there is no file (see load.ts). */
const EMBEDDED_SOURCE = "(embedded default)";

/**
 * Settings that need a restart, by field: the listening sockets, the PROXY
 * gate they accept through, the passive port pool (ports held by open
 * sessions), the log file, the admin listener, the process-wide upload
 * budget and the upload journal's identity.
 */
const RESTART_FIELDS = [
  "listenAddress",
  "listenPort",
  "passivePorts",
  "proxyProtocol",
  "proxyTrustedNetworks",
  "logDir",
  "uploadMemoryBudget",
  "instanceName",
  "leaseIntervalMs",
  "adminListen",
  "adminProbeIntervalMs",
  "adminReadyMaxAgeMs",
] as const;

/** The operator-signal listeners of one process run (see {@link watchOperatorSignals}). */
export interface OperatorSignals {
  /** The server has started: a SIGHUP that came while it was starting is applied now. */
  attach(server: Reloadable): void;
  /** Shutdown begins: later SIGHUPs are ignored; resolves when the running reload has ended. */
  stop(): Promise<void>;
  /** After shutdown: removes the listeners once the running job has ended. */
  close(): Promise<void>;
}

/**
 * Listens for SIGHUP (reload `config.source`) and SIGUSR1 (reopen the log)
 * from before start-up to after shutdown, so neither signal ever has its
 * default action (ending the process). Signals are handled one at a time.
 */
export function watchOperatorSignals(log: Logger): OperatorSignals {
  let queue = Promise.resolve();
  let server: Reloadable | null = null;
  let pending = false;
  let stopped = false;
  const enqueue = (job: () => Promise<unknown>) => {
    queue = queue.then(job).then(() => {}, (error) => {
      log.error("signal-failed", { error: failureText(error) });
    });
  };
  const onHup = () => {
    if (stopped) return log.warn("reload-ignored", { reason: "shutting down" });
    if (server === null) {
      pending = true;
      return log.info("reload-queued", { reason: "still starting; reloads once started" });
    }
    const running = server;
    enqueue(() => reloadConfig(running, log));
  };
  const onUsr1 = () => enqueue(() => reopenLog(log));
  Deno.addSignalListener("SIGHUP", onHup);
  Deno.addSignalListener("SIGUSR1", onUsr1);
  return {
    attach(started) {
      server = started;
      if (pending) onHup();
    },
    async stop() {
      stopped = true;
      await queue;
    },
    async close() {
      stopped = true;
      await queue;
      Deno.removeSignalListener("SIGHUP", onHup);
      Deno.removeSignalListener("SIGUSR1", onUsr1);
    },
  };
}

/** SIGUSR1: a new log file at the same path; the old one stays in use when that fails. */
async function reopenLog(log: Logger): Promise<void> {
  try {
    if (await log.reopen()) log.info("log-reopened");
  } catch (error) {
    log.error("log-reopen-failed", { error: failureText(error), keeps: "the old log file" });
  }
}

/**
 * Reloads the running config's file; true when the server switched to it.
 * A config with any error is rejected whole and the running one stays.
 */
export async function reloadConfig(server: Reloadable, log: Logger): Promise<boolean> {
  const running = server.generation.config;
  const path = running.source;
  if (path === EMBEDDED_SOURCE) {
    log.warn("reload-ignored", { reason: "running the embedded default config; no file to load" });
    return false;
  }
  log.info("reloading", { config: path });
  const loaded = await loadConfigFile(path);
  const issues = loaded.config ? await checkFiles(loaded.files, "start") : [];
  const errors = [...loaded.errors, ...issues];
  for (const issue of loaded.warnings) log.warn("config-warning", { problem: formatIssue(issue) });
  if (loaded.config === null || errors.length > 0) {
    return reject(log, path, errors.map(formatIssue));
  }
  const config = keepRestartSettings(loaded.config, running, log);
  if (config.tls.implicitPort !== 0 && config.tls.certFile === "") {
    // The kept implicit port would accept TLS connections with no certificate to answer them.
    const problem = `${path}: implicit_port: the running implicit_port ` +
      `${config.tls.implicitPort} needs cert_file and key_file (it changes only at a restart)`;
    return reject(log, path, [problem]);
  }
  let next: Generation;
  try {
    next = await nextGeneration(config, server.generation);
  } catch (error) {
    return reject(log, path, [`${path}: ${failureText(error)}`]);
  }
  const previousTls = server.generation.tls;
  if (!(await server.reload(next))) {
    log.warn("reload-ignored", { config: path, reason: "shutting down" });
    return false;
  }
  log.configure(config.logLevel, config.logFormat);
  if (next.tls !== previousTls) noteImplicitCertificate(config, log);
  const counts = { accounts: config.accounts.length, users: config.users.length };
  log.info("reloaded", { config: path, ...counts });
  return true;
}

function reject(log: Logger, path: string, problems: string[]): false {
  for (const problem of problems) log.error("reload-rejected", { problem });
  log.error("reload-failed", {
    config: path,
    errors: problems.length,
    keeps: "the running config",
  });
  return false;
}

/**
 * `loaded` with the running values of settings that need a restart, each
 * change logged ("needs a restart; keeps ...").
 */
function keepRestartSettings(
  loaded: ServerConfig,
  running: ServerConfig,
  log: Logger,
): ServerConfig {
  const kept: Record<string, unknown> = { ...loaded };
  const before: Record<string, unknown> = { ...running };
  for (const field of RESTART_FIELDS) {
    if (JSON.stringify(kept[field]) === JSON.stringify(before[field])) continue;
    needsRestart(log, keyOf(field), kept[field], before[field]);
    kept[field] = before[field];
  }
  const tls = { ...loaded.tls };
  if (tls.implicitPort !== running.tls.implicitPort) {
    needsRestart(log, keyOf("implicitPort"), tls.implicitPort, running.tls.implicitPort);
    tls.implicitPort = running.tls.implicitPort;
  }
  return { ...(kept as unknown as ServerConfig), tls };
}

function needsRestart(log: Logger, key: string, wanted: unknown, keeps: unknown): void {
  const show = (value: unknown) =>
    typeof value === "object" ? JSON.stringify(value) : String(value);
  log.warn("reload-needs-restart", {
    key,
    message: `${key} = ${show(wanted)} needs a restart; keeps ${show(keeps)}`,
  });
}

/** The implicit FTPS listener (without PROXY protocol) holds the certificate it started with. */
function noteImplicitCertificate(config: ServerConfig, log: Logger): void {
  // Behind PROXY protocol the implicit port upgrades through the generation's upgrader.
  const proxied = config.proxyProtocol !== "off";
  if (config.tls.implicitPort === 0 || proxied) return;
  log.warn("reload-needs-restart", {
    key: "cert_file",
    message: `the implicit FTPS port ${config.tls.implicitPort} keeps its certificate until a ` +
      "restart; AUTH TLS uses the new one",
  });
}

/** The config key of a field, for messages. */
function keyOf(field: string): string {
  return CONFIG_KEYS.find((spec) => spec.field === field)?.key ?? field;
}
