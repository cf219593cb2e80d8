/**
 * Every config key in one table: its section, name (and older aliases), the field it
 * fills, its parser, its default (as config text) and whether its value is secret. The
 * known-key lists, the defaults, the global readers, the example's completeness test and
 * the tests' server config are all derived from here, so a key is added or renamed once.
 *
 * @module
 */

import { MAX_OBJECT_BYTES, MAX_PART_BYTES, MIN_PART_BYTES } from "../storage/cos/limits.ts";
import { parseAdminListen } from "./admin_listen.ts";
import { parseCidrList } from "./cidr.ts";
import { DEFAULT_METADATA_URL, parseCredentialSource, parseMetadataUrl } from "./credentials.ts";
import { isSecretName, quoted } from "./show.ts";
import type { CosStorageConfig, LogFormat, ServerConfig, TlsConfig } from "./types.ts";
import {
  type Authority,
  fail,
  integerIn,
  ok,
  parseAuthority,
  parseBool,
  parseBucket,
  parseCosPrefix,
  parseListenAddress,
  parseLogLevel,
  parseMasquerade,
  parsePath,
  parsePortRange,
  parseProtocol,
  type Parser,
  parseStorageKind,
  parseTlsVersion,
  parseToken,
  secondsIn,
  sizeIn,
} from "./values.ts";

/** Everything in {@link ServerConfig} that is not per account. */
export type GlobalSettings = Omit<ServerConfig, "source" | "accounts" | "users">;

/** The settings one `[NETWORK]`/`[FILE_OPTION]`/`[OPTIONAL]` key fills each. */
export type ScalarSettings = Omit<GlobalSettings, "tls">;

/** What an account section's keys describe (readers in accounts.ts, storage.ts, users.ts). */
export interface AccountFields extends Omit<CosStorageConfig, "kind"> {
  storage: "cos" | "local";
  localRoot: string;
  homeDir: string;
  userName: string;
  password: string;
  authority: Authority;
  canDelete: boolean;
}

/** `[FTP_ACCOUNT]` of the older format. */
export interface LegacyFields {
  loginUsers: string;
}

/** One key: where it lives, what it fills and how its text becomes a value. */
export interface KeySpec<T, F extends keyof T = keyof T> {
  /** Upper-cased section; `COS_ACCOUNT` stands for every `[COS_ACCOUNT*]` section. */
  section: string;
  key: string;
  /** Older names read when `key` is not set (the first set one wins). */
  aliases: readonly string[];
  field: F;
  parse: Parser<T[F]>;
  /** The value when the key is absent, empty or `default`, as config text; null = none (the reader decides). */
  default: string | null;
  /** The value is a credential and must never appear in a message or a log. */
  secret: boolean;
  /** When set, a documentation placeholder value (XXXXXX) is warned about with this and unset. */
  placeholder?: string;
}

/** One spec per field of `T`, each with its own field's types. */
type SpecOf<T> = { [F in keyof T]-?: KeySpec<T, F> }[keyof T];

/** A spec of `T` that always has a default (global keys do). */
export type DefaultedSpec<T> = SpecOf<T> & { default: string };

const MIB = 2 ** 20;
const GIB = 2 ** 30;
/** setTimeout fires at once for delays above 2^31-1 ms, so longer timeouts cannot work. */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Empty text means "none" (""); readers never pass it, but defaults are written that way. */
function orEmpty(parse: Parser<string>): Parser<string> {
  return (raw) => raw === "" ? ok("") : parse(raw);
}

/** `control` (any case): the address the client used, like an empty value. */
function controlOr(parse: Parser<string>): Parser<string> {
  return (raw) => raw.toLowerCase() === "control" ? ok("control") : parse(raw);
}

const PROXY_MODES = ["off", "v1", "v2", "any"] as const;
const parseProxyMode: Parser<ServerConfig["proxyProtocol"]> = (raw) => {
  const mode = PROXY_MODES.find((mode) => mode === raw.toLowerCase());
  return mode ? ok(mode) : fail(`must be off, v1, v2 or any, got ${quoted(raw)}`);
};

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

const SECONDS = secondsIn(MAX_SECONDS, " (about 24.8 days)");
const unlimited = (max: number) => integerIn(0, max, " (0 = unlimited)");

/** `log_format`: text (key=value lines) or json (one object per line). */
const parseLogFormat: Parser<LogFormat> = (raw) => {
  const format = raw.toLowerCase();
  return format === "text" || format === "json"
    ? ok(format)
    : fail(`must be text or json, got ${quoted(raw)}`);
};

/** The parts every key shares; `F` stays a literal so each row is checked against its field. */
function plain<T, F extends keyof T>(section: string, key: string, field: F) {
  return { section, key, field, aliases: [] as readonly string[], secret: false };
}

type Scalar = keyof ScalarSettings;
const NETWORK = <F extends Scalar>(key: string, field: F) =>
  plain<ScalarSettings, F>("NETWORK", key, field);
const OPTIONAL = <F extends Scalar>(key: string, field: F) =>
  plain<ScalarSettings, F>("OPTIONAL", key, field);

/** Readiness probes: at least 0.1 s apart (0 would probe COS in a tight loop). */
const PROBE_SECONDS: Parser<number> = (raw) => {
  const parsed = secondsIn(3600, "")(raw);
  return parsed.ok && parsed.value < 100
    ? fail(`must be at least 0.1 seconds, got ${quoted(raw)}`)
    : parsed;
};

const ADMIN = <F extends Scalar>(key: string, field: F) =>
  plain<ScalarSettings, F>("ADMIN", key, field);

/** `[NETWORK]`, `[FILE_OPTION]` and `[OPTIONAL]`, read by globals.ts in this order. */
export const SCALAR_KEYS: readonly DefaultedSpec<ScalarSettings>[] = [
  {
    ...NETWORK("masquerade_address", "masqueradeAddress"),
    parse: orEmpty(controlOr(parseMasquerade)),
    default: "",
    placeholder: "ignored: PASV replies announce the control connection's local address",
  },
  { ...NETWORK("proxy_protocol", "proxyProtocol"), parse: parseProxyMode, default: "off" },
  {
    ...NETWORK("proxy_trusted_networks", "proxyTrustedNetworks"),
    parse: parseCidrList,
    default: "127.0.0.1/32, ::1/128",
  },
  {
    ...NETWORK("listen_port", "listenPort"),
    parse: integerIn(0, 65535, " (0 = any free port)"),
    default: "2121",
  },
  { ...NETWORK("passive_port", "passivePorts"), parse: parsePortRange, default: "60000,65535" },
  { ...NETWORK("listen_address", "listenAddress"), parse: parseListenAddress, default: "0.0.0.0" },
  { ...NETWORK("active_mode", "activeMode"), parse: parseBool, default: "true" },
  {
    ...plain<ScalarSettings, "singleFileMaxSize">(
      "FILE_OPTION",
      "single_file_max_size",
      "singleFileMaxSize",
    ),
    parse: sizeIn(0, MAX_OBJECT_BYTES, " (0 = no limit; COS allows at most 10000 parts of 5 GiB)"),
    default: "0",
  },
  {
    ...OPTIONAL("min_part_size", "minPartSize"),
    parse: sizeIn(MIN_PART_BYTES, MAX_PART_BYTES, " (COS part limits)"),
    default: "8M",
  },
  { ...OPTIONAL("upload_thread_num", "uploadThreadNum"), parse: integerIn(1, 64), default: "4" },
  { ...OPTIONAL("max_connection_num", "maxConnections"), parse: unlimited(1e6), default: "512" },
  { ...OPTIONAL("max_list_file", "maxListFile"), parse: unlimited(1e7), default: "10000" },
  { ...OPTIONAL("log_level", "logLevel"), parse: parseLogLevel, default: "INFO" },
  { ...OPTIONAL("log_format", "logFormat"), parse: parseLogFormat, default: "text" },
  // Relative to the working directory; "none" or "-" = stderr only (globals.ts resolves it).
  { ...OPTIONAL("log_dir", "logDir"), parse: parsePath, default: "log" },
  { ...OPTIONAL("shutdown_grace_period", "shutdownGraceMs"), parse: SECONDS, default: "30" },
  { ...OPTIONAL("idle_timeout", "idleTimeoutMs"), parse: SECONDS, default: "300" },
  { ...OPTIONAL("data_timeout", "dataTimeoutMs"), parse: SECONDS, default: "300" },
  {
    ...OPTIONAL("passive_accept_timeout", "passiveAcceptTimeoutMs"),
    parse: SECONDS,
    default: "30",
  },
  { ...OPTIONAL("login_failure_delay", "loginFailDelayMs"), parse: SECONDS, default: "3" },
  {
    ...OPTIONAL("max_login_attempts", "maxLoginAttempts"),
    parse: integerIn(1, 1000),
    default: "3",
  },
  {
    ...OPTIONAL("upload_memory_budget", "uploadMemoryBudget"),
    parse: sizeIn(16 * MIB, 1024 * GIB, " (all uploads' part buffers together)"),
    default: "1G",
  },
  { ...OPTIONAL("cos_timeout", "cosTimeoutMs"), parse: secondsIn(MAX_SECONDS, ""), default: "60" },
  { ...OPTIONAL("lease_interval", "leaseIntervalMs"), parse: LEASE_INTERVAL, default: "15" },
  { ...OPTIONAL("instance_name", "instanceName"), parse: orEmpty(parseInstanceName), default: "" },
  {
    ...OPTIONAL("max_rename_objects", "maxRenameObjects"),
    parse: integerIn(0, 1e7, " (0 = refuse)"),
    default: "1000",
  },
  {
    ...OPTIONAL("max_connections_per_ip", "maxConnectionsPerIp"),
    parse: unlimited(1e6),
    default: "32",
  },
  { ...OPTIONAL("max_logged_in_users", "maxLoggedInUsers"), parse: unlimited(1e6), default: "0" },
  {
    ...OPTIONAL("ban_after_failures", "banAfterFailures"),
    parse: integerIn(0, 1e6, " (0 = never)"),
    default: "10",
  },
  { ...OPTIONAL("ban_window", "banWindowMs"), parse: SECONDS, default: "600" },
  { ...OPTIONAL("ban_time", "banTimeMs"), parse: SECONDS, default: "600" },
  { ...OPTIONAL("verify_checksums", "verifyChecksums"), parse: parseBool, default: "true" },
  {
    ...OPTIONAL("hash_max_size", "hashMaxSize"),
    parse: sizeIn(0, 2 ** 53, " (0 = no limit)"),
    default: "10G",
  },
  { ...OPTIONAL("keep_partial_uploads", "keepPartialUploads"), parse: parseBool, default: "false" },
  // The admin listener (metrics, health): off unless set, and bound exactly where it says.
  { ...ADMIN("listen", "adminListen"), parse: parseAdminListen, default: "" },
  { ...ADMIN("probe_interval", "adminProbeIntervalMs"), parse: PROBE_SECONDS, default: "5" },
  { ...ADMIN("ready_max_age", "adminReadyMaxAgeMs"), parse: PROBE_SECONDS, default: "30" },
];

const FTPS = <F extends keyof TlsConfig>(key: string, field: F) =>
  plain<TlsConfig, F>("FTPS", key, field);

/** `[FTPS]`; globals.ts resolves the paths and checks that the keys fit together. */
export const TLS_KEYS: readonly DefaultedSpec<TlsConfig>[] = [
  { ...FTPS("cert_file", "certFile"), parse: parsePath, default: "" },
  { ...FTPS("key_file", "keyFile"), parse: parsePath, default: "" },
  {
    ...FTPS("implicit_port", "implicitPort"),
    parse: integerIn(0, 65535, " (0 = off)"),
    default: "0",
  },
  { ...FTPS("require_tls", "requireTls"), parse: parseBool, default: "false" },
  { ...FTPS("min_tls_version", "minVersion"), parse: parseTlsVersion, default: "1.2" },
];

const ACCOUNT = <F extends keyof AccountFields>(key: string, field: F) =>
  plain<AccountFields, F>("COS_ACCOUNT", key, field);

/** `[COS_ACCOUNT*]`, by field; readers in storage.ts, homedirs.ts and users.ts. */
export const ACCOUNT_SPECS: { readonly [F in keyof AccountFields]-?: KeySpec<AccountFields, F> } = {
  // null: chosen by the credentials (storage.ts).
  storage: { ...ACCOUNT("storage", "storage"), parse: parseStorageKind, default: null },
  secretId: {
    ...ACCOUNT("cos_secretid", "secretId"),
    parse: ok,
    default: null,
    secret: true,
    placeholder: "treated as unset",
  },
  secretKey: {
    ...ACCOUNT("cos_secretkey", "secretKey"),
    parse: ok,
    default: null,
    secret: true,
    placeholder: "treated as unset",
  },
  securityToken: {
    ...ACCOUNT("cos_security_token", "securityToken"),
    parse: ok,
    default: null,
    secret: true,
  },
  // The name says "credential", so the table marks it secret like isSecretName does.
  cvmRole: {
    ...ACCOUNT("cos_credentials", "cvmRole"),
    parse: parseCredentialSource,
    default: "keys",
    secret: true,
  },
  metadataUrl: {
    ...ACCOUNT("cvm_metadata_url", "metadataUrl"),
    parse: parseMetadataUrl,
    default: DEFAULT_METADATA_URL,
  },
  bucket: { ...ACCOUNT("cos_bucket", "bucket"), parse: parseBucket, default: null },
  region: { ...ACCOUNT("cos_region", "region"), parse: parseToken, default: "" },
  endpoint: {
    ...ACCOUNT("cos_endpoint", "endpoint"),
    aliases: ["endpoint"],
    parse: parseToken,
    default: "",
  },
  protocol: { ...ACCOUNT("cos_protocol", "protocol"), parse: parseProtocol, default: "https" },
  prefix: { ...ACCOUNT("cos_prefix", "prefix"), parse: parseCosPrefix, default: "" },
  // null: home_dir's value (storage.ts).
  localRoot: { ...ACCOUNT("local_root", "localRoot"), parse: parsePath, default: null },
  // null: required, or local_root's value for local storage (homedirs.ts).
  homeDir: {
    ...ACCOUNT("home_dir", "homeDir"),
    aliases: ["cos_user_home_dir"],
    parse: parsePath,
    default: null,
  },
  userName: { ...ACCOUNT("ftp_login_user_name", "userName"), parse: ok, default: null },
  password: {
    ...ACCOUNT("ftp_login_user_password", "password"),
    parse: ok,
    default: null,
    secret: true,
  },
  authority: { ...ACCOUNT("authority", "authority"), parse: parseAuthority, default: null },
  canDelete: { ...ACCOUNT("delete_enable", "canDelete"), parse: parseBool, default: "true" },
};

/** `[FTP_ACCOUNT]`; users.ts splits the list (`user:password:authority;...`). */
export const LEGACY_SPECS: { readonly [F in keyof LegacyFields]: KeySpec<LegacyFields, F> } = {
  loginUsers: {
    ...plain<LegacyFields, "loginUsers">("FTP_ACCOUNT", "login_users", "loginUsers"),
    parse: ok,
    default: null,
    secret: true,
  },
};

/** Every key the table knows, as one list (types erased). */
export const CONFIG_KEYS: readonly KeySpec<Record<string, unknown>, string>[] = [
  ...Object.values(ACCOUNT_SPECS),
  ...Object.values(LEGACY_SPECS),
  ...SCALAR_KEYS,
  ...TLS_KEYS,
] as readonly KeySpec<Record<string, unknown>, string>[];

const ROTATION = "ignored: the log file is only appended to; rotate it with logrotate " +
  "(copytruncate) or similar";

/** Original `[OPTIONAL]` keys we accept but do not act on, with the reason. */
export const IGNORED_KEYS: Readonly<Record<string, string>> = {
  log_rotate_enabled: ROTATION,
  log_rotate_when: ROTATION,
  log_backup_count: ROTATION,
  config_check_enable: "ignored: the start-up memory estimate is not needed because " +
    "memory use is bounded by design (fixed part buffers, connection and listing limits)",
};

/** The key and its aliases, in the order readers look for them. */
export function namesOf(spec: { key: string; aliases: readonly string[] }): string[] {
  return [spec.key, ...spec.aliases];
}

/** Names (with aliases) of the keys in `section` (upper-cased; `COS_ACCOUNT` for accounts). */
export function keysOf(section: string): string[] {
  return CONFIG_KEYS.filter((spec) => spec.section === section).flatMap(namesOf);
}

/** Upper-cased names of the sections the table knows. */
export function sectionsKnown(): string[] {
  return [...new Set(CONFIG_KEYS.map((spec) => spec.section))];
}

/** The parsed default of a key that has one; a default the parser refuses is a bug here. */
export function defaultOf<T, F extends keyof T>(spec: KeySpec<T, F>): T[F] {
  if (spec.default === null) throw new Error(`${spec.key} has no default`);
  const parsed = spec.parse(spec.default);
  if (!parsed.ok) throw new Error(`default of ${spec.key} does not parse: ${parsed.message}`);
  return parsed.value;
}

/** `out[spec.field]` = the spec's default. */
function setDefault<T, F extends keyof T>(out: T, spec: KeySpec<T, F>) {
  out[spec.field] = defaultOf(spec);
}

/** An object of `T` with every table default (fresh each call, so callers may change it). */
export function defaultsOf<T>(specs: readonly DefaultedSpec<T>[]): T {
  const out = {} as T;
  for (const spec of specs) setDefault(out, spec);
  return out;
}

const SECRET_KEYS = new Set(CONFIG_KEYS.filter((spec) => spec.secret).flatMap(namesOf));

/** True when the table marks `key` secret, or its name says so (for keys it does not know). */
export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key) || isSecretName(key);
}
