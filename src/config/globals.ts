/**
 * The server-wide sections: `[NETWORK]`, `[FILE_OPTION]` and `[OPTIONAL]`.
 *
 * @module
 */

import { resolve } from "node:path";
import type { IssueLog } from "./issues.ts";
import { quoted } from "./show.ts";
import { readValue, type SectionIndex, type SectionReader } from "./sections.ts";
import type { ServerConfig, TlsConfig } from "./types.ts";
import {
  fail,
  integerIn,
  isDefaultValue,
  isPlaceholder,
  ok,
  parseBool,
  parseListenAddress,
  parseLogLevel,
  parseMasquerade,
  parsePath,
  parsePortRange,
  type Parser,
  parseTlsVersion,
  secondsIn,
  sizeIn,
} from "./values.ts";

/** Everything in {@link ServerConfig} that is not per account. */
export type GlobalSettings = Omit<ServerConfig, "source" | "accounts" | "users">;

const MIB = 2 ** 20;
const GIB = 2 ** 30;
/** COS allows 10000 parts of at most 5 GiB, so no object can be larger. */
const COS_MAX_OBJECT = 10000 * 5 * GIB;
/** setTimeout fires at once for delays above 2^31-1 ms, so longer timeouts cannot work. */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

const LISTEN_PORT = integerIn(0, 65535, " (0 = any free port)");
const FILE_SIZE = sizeIn(
  0,
  COS_MAX_OBJECT,
  " (0 = no limit; COS allows at most 10000 parts of 5 GiB)",
);

/** COS's Last-Modified has whole seconds, so shorter leases could not be told from stale ones. */
const LEASE_INTERVAL: Parser<number> = (raw) => {
  const parsed = secondsIn(3600, "")(raw);
  if (parsed.ok && parsed.value < 1000) {
    return fail(`must be at least 1 second, got ${quoted(raw)}`);
  }
  return parsed;
};

/** Part of object keys in the bucket's upload journal: a short plain name. */
const parseInstanceName: Parser<string> = (raw) =>
  /^[A-Za-z0-9_-]{1,64}$/.test(raw)
    ? ok(raw)
    : fail(`must be 1 to 64 letters, digits, "_" or "-", got ${quoted(raw)}`);

/** Defaults of a config file; `logDir` is relative to the working directory. */
export const DEFAULT_SETTINGS: Readonly<GlobalSettings> = {
  listenAddress: "0.0.0.0",
  listenPort: 2121,
  passivePorts: { min: 60000, max: 65535 },
  masqueradeAddress: "",
  singleFileMaxSize: 0,
  minPartSize: 8 * MIB,
  uploadThreadNum: 4,
  maxConnections: 512,
  maxListFile: 10000,
  logLevel: "INFO",
  logDir: "log",
  shutdownGraceMs: 30_000,
  idleTimeoutMs: 300_000,
  dataTimeoutMs: 300_000,
  passiveAcceptTimeoutMs: 30_000,
  loginFailDelayMs: 3_000,
  maxLoginAttempts: 3,
  uploadMemoryBudget: GIB,
  cosTimeoutMs: 60_000,
  leaseIntervalMs: 15_000,
  instanceName: "",
  maxRenameObjects: 1000,
  activeMode: true,
  maxConnectionsPerIp: 32,
  maxLoggedInUsers: 0,
  banAfterFailures: 10,
  banWindowMs: 600_000,
  banTimeMs: 600_000,
  verifyChecksums: true,
  hashMaxSize: 10 * GIB,
  keepPartialUploads: false,
  tls: { certFile: "", keyFile: "", implicitPort: 0, requireTls: false, minVersion: "1.2" },
};

/** Reads the global sections; bad values are logged and replaced by defaults. */
export function readGlobals(index: SectionIndex, cwd: string, log: IssueLog): GlobalSettings {
  return {
    ...readNetwork(index.global("NETWORK"), log),
    singleFileMaxSize: readValue(
      index.global("FILE_OPTION"),
      "single_file_max_size",
      FILE_SIZE,
      DEFAULT_SETTINGS.singleFileMaxSize,
      log,
    ),
    ...readOptional(index.global("OPTIONAL"), cwd, log),
    tls: readFtps(index.global("FTPS"), cwd, log),
  };
}

/** `[FTPS]`: paths resolved against `cwd`; the files themselves are read at start-up. */
function readFtps(section: SectionReader, cwd: string, log: IssueLog): TlsConfig {
  const d = DEFAULT_SETTINGS.tls;
  const path = (key: string) => {
    const value = readValue(section, key, parsePath, "", log);
    return value === "" || isDefaultValue(value) ? "" : resolve(cwd, value);
  };
  const tls: TlsConfig = {
    certFile: path("cert_file"),
    keyFile: path("key_file"),
    implicitPort: readValue(section, "implicit_port", integerIn(0, 65535, " (0 = off)"), 0, log),
    requireTls: readValue(section, "require_tls", parseBool, d.requireTls, log),
    minVersion: readValue(section, "min_tls_version", parseTlsVersion, d.minVersion, log),
  };
  checkFtps(tls, section, log);
  return tls;
}

/** FTPS needs both files; implicit FTPS and require_tls need FTPS. */
function checkFtps(tls: TlsConfig, section: SectionReader, log: IssueLog): void {
  const complain = (key: string, message: string) =>
    log.error(section.get(key)?.line ?? 0, key, message);
  if (tls.certFile !== "" && tls.keyFile === "") complain("cert_file", "needs key_file too");
  if (tls.keyFile !== "" && tls.certFile === "") complain("key_file", "needs cert_file too");
  if (tls.certFile !== "") return;
  if (tls.implicitPort !== 0) complain("implicit_port", "needs cert_file and key_file");
  if (tls.requireTls) complain("require_tls", "needs cert_file and key_file");
}

type NetworkSettings = Pick<
  GlobalSettings,
  "listenAddress" | "listenPort" | "passivePorts" | "masqueradeAddress" | "activeMode"
>;

function readNetwork(section: SectionReader, log: IssueLog): NetworkSettings {
  const d = DEFAULT_SETTINGS;
  return {
    listenAddress: readValue(section, "listen_address", parseListenAddress, d.listenAddress, log),
    listenPort: readValue(section, "listen_port", LISTEN_PORT, d.listenPort, log),
    passivePorts: readValue(section, "passive_port", parsePortRange, { ...d.passivePorts }, log),
    masqueradeAddress: readMasquerade(section, log),
    activeMode: readValue(section, "active_mode", parseBool, d.activeMode, log),
  };
}

function readMasquerade(section: SectionReader, log: IssueLog): string {
  const entry = section.get("masquerade_address");
  if (entry !== undefined && isPlaceholder(entry.value)) {
    const message = "looks like the documentation's placeholder, ignored: PASV replies " +
      "announce the control connection's local address";
    log.warn(entry.line, entry.key, message);
    return "";
  }
  return readValue(section, "masquerade_address", parseMasquerade, "", log);
}

type OptionalSettings = Omit<
  GlobalSettings,
  keyof NetworkSettings | "singleFileMaxSize" | "tls"
>;

function readOptional(section: SectionReader, cwd: string, log: IssueLog): OptionalSettings {
  const settings = readOptionalValues(section, cwd, log);
  checkPartFitsBudget(settings, section, log);
  return settings;
}

/** A part must fit twice in the budget (one filling, one uploading), or uploads cannot progress. */
function checkPartFitsBudget(settings: OptionalSettings, section: SectionReader, log: IssueLog) {
  if (settings.minPartSize * 2 <= settings.uploadMemoryBudget) return;
  const entry = section.get("upload_memory_budget") ?? section.get("min_part_size");
  log.error(
    entry?.line ?? 0,
    entry?.key ?? "upload_memory_budget",
    `upload_memory_budget (${settings.uploadMemoryBudget} bytes) must be at least twice ` +
      `min_part_size (${settings.minPartSize} bytes)`,
  );
}

function readOptionalValues(section: SectionReader, cwd: string, log: IssueLog): OptionalSettings {
  const d = DEFAULT_SETTINGS;
  const read = (key: string, parse: Parser<number>, fallback: number) =>
    readValue(section, key, parse, fallback, log);
  const seconds = secondsIn(MAX_SECONDS, " (about 24.8 days)");
  const unlimited = (max: number) => integerIn(0, max, " (0 = unlimited)");
  return {
    minPartSize: read("min_part_size", sizeIn(MIB, 5 * GIB, " (COS part limits)"), d.minPartSize),
    uploadThreadNum: read("upload_thread_num", integerIn(1, 64), d.uploadThreadNum),
    maxConnections: read("max_connection_num", unlimited(1e6), d.maxConnections),
    maxListFile: read("max_list_file", unlimited(1e7), d.maxListFile),
    logLevel: readValue(section, "log_level", parseLogLevel, d.logLevel, log),
    logDir: readLogDir(section, cwd, log),
    shutdownGraceMs: read("shutdown_grace_period", seconds, d.shutdownGraceMs),
    idleTimeoutMs: read("idle_timeout", seconds, d.idleTimeoutMs),
    dataTimeoutMs: read("data_timeout", seconds, d.dataTimeoutMs),
    passiveAcceptTimeoutMs: read("passive_accept_timeout", seconds, d.passiveAcceptTimeoutMs),
    loginFailDelayMs: read("login_failure_delay", seconds, d.loginFailDelayMs),
    maxLoginAttempts: read("max_login_attempts", integerIn(1, 1000), d.maxLoginAttempts),
    uploadMemoryBudget: read(
      "upload_memory_budget",
      sizeIn(16 * MIB, 1024 * GIB, " (all uploads' part buffers together)"),
      d.uploadMemoryBudget,
    ),
    cosTimeoutMs: read("cos_timeout", secondsIn(MAX_SECONDS, ""), d.cosTimeoutMs),
    leaseIntervalMs: read("lease_interval", LEASE_INTERVAL, d.leaseIntervalMs),
    instanceName: readValue(section, "instance_name", parseInstanceName, d.instanceName, log),
    maxConnectionsPerIp: read("max_connections_per_ip", unlimited(1e6), d.maxConnectionsPerIp),
    maxLoggedInUsers: read("max_logged_in_users", unlimited(1e6), d.maxLoggedInUsers),
    banAfterFailures: read(
      "ban_after_failures",
      integerIn(0, 1e6, " (0 = never)"),
      d.banAfterFailures,
    ),
    banWindowMs: read("ban_window", seconds, d.banWindowMs),
    banTimeMs: read("ban_time", seconds, d.banTimeMs),
    maxRenameObjects: read(
      "max_rename_objects",
      integerIn(0, 1e7, " (0 = refuse)"),
      d.maxRenameObjects,
    ),
    verifyChecksums: readValue(section, "verify_checksums", parseBool, d.verifyChecksums, log),
    hashMaxSize: read("hash_max_size", sizeIn(0, 2 ** 53, " (0 = no limit)"), d.hashMaxSize),
    keepPartialUploads: readValue(
      section,
      "keep_partial_uploads",
      parseBool,
      d.keepPartialUploads,
      log,
    ),
  };
}

/** `none` or `-` = stderr only; anything else is a directory relative to `cwd`. */
function readLogDir(section: SectionReader, cwd: string, log: IssueLog): string {
  const value = readValue(section, "log_dir", parsePath, DEFAULT_SETTINGS.logDir, log);
  return value.toLowerCase() === "none" || value === "-" ? "" : resolve(cwd, value);
}
