/**
 * The validated, typed server configuration. Everything downstream of
 * `src/config/` reads only these types, never the raw INI text.
 *
 * @module
 */

/** Severity names accepted by `log_level`, lowest first. */
export type LogLevel = "DEBUG" | "INFO" | "WARNING" | "ERROR";

/** `log_format`: today's `key=value` lines, or one JSON object per line. */
export type LogFormat = "text" | "json";

/** Where an account's files live. */
export type StorageConfig = LocalStorageConfig | CosStorageConfig;

/** A directory on this machine (the embedded default, and accounts without COS credentials). */
export interface LocalStorageConfig {
  kind: "local";
  /** Absolute path of the directory that is the users' `/`. */
  root: string;
}

/** A COS bucket. */
export interface CosStorageConfig {
  kind: "cos";
  secretId: string;
  secretKey: string;
  /** `name-appid`. */
  bucket: string;
  region: string;
  /** Host suffix or URL; wins over `region` when set. */
  endpoint: string;
  protocol: "http" | "https";
  /** Key prefix inside the bucket that is the users' `/` ("" = bucket root, else ends with "/"). */
  prefix: string;
  /** STS session token of temporary `secretId`/`secretKey` (`x-cos-security-token`); absent = none. */
  securityToken?: string;
  /**
   * Keys from this CVM instance role instead of `secretId`/`secretKey` (which are then ""):
   * the role name, "" = the one role the instance has; absent = the configured keys.
   */
  cvmRole?: string;
  /** Base URL of the instance metadata service (for tests and private endpoints); with `cvmRole`. */
  metadataUrl?: string;
}

/** One FTP login. */
export interface UserConfig {
  name: string;
  password: string;
  canRead: boolean;
  canWrite: boolean;
  /** `delete_enable`: DELE, RMD, overwriting uploads and renames onto existing names. */
  canDelete: boolean;
  /** Index into {@link ServerConfig.accounts}. */
  account: number;
}

/** One storage binding (a `[COS_ACCOUNT*]` section, or the older single account). */
export interface AccountConfig {
  /** The INI section it came from, for messages. */
  section: string;
  /** `home_dir` / `cos_user_home_dir`: the binding key the original required to differ per account. */
  homeDir: string;
  storage: StorageConfig;
}

/** FTPS settings (`[FTPS]`). The PEM files are read when the server starts. */
export interface TlsConfig {
  /** Absolute path of the PEM certificate chain; "" = FTPS off. */
  certFile: string;
  /** Absolute path of the PEM private key. */
  keyFile: string;
  /** Port of implicit FTPS (TLS from the first byte); 0 = off. */
  implicitPort: number;
  /** Refuse USER/PASS and data transfers on connections without TLS. */
  requireTls: boolean;
  minVersion: "1.2" | "1.3";
}

/** Everything the server needs to run. Durations are in milliseconds, sizes in bytes. */
export interface ServerConfig {
  /** The file this came from, or "(embedded default)". */
  source: string;
  listenAddress: string;
  listenPort: number;
  /** Inclusive range. */
  passivePorts: { min: number; max: number };
  /**
   * IP or host name announced in PASV replies; "" or "control" = the address the client
   * connected to (the PROXY header's destination when proxied).
   */
  masqueradeAddress: string;
  /** PROXY protocol versions required from `proxyTrustedNetworks` ("off": no header read). */
  proxyProtocol: "off" | "v1" | "v2" | "any";
  /** CIDR ranges of the balancers allowed to send PROXY headers (others are refused when on). */
  proxyTrustedNetworks: string[];
  /** 0 = no limit beyond COS's own. */
  singleFileMaxSize: number;
  minPartSize: number;
  uploadThreadNum: number;
  /** 0 = unlimited. */
  maxConnections: number;
  /** 0 = unlimited. */
  maxListFile: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** "" = log to stderr only. */
  logDir: string;
  shutdownGraceMs: number;
  idleTimeoutMs: number;
  dataTimeoutMs: number;
  passiveAcceptTimeoutMs: number;
  loginFailDelayMs: number;
  maxLoginAttempts: number;
  /** Bytes all uploads together may hold in part buffers (the process-wide budget). */
  uploadMemoryBudget: number;
  /** Per-request timeout for COS calls. */
  cosTimeoutMs: number;
  /**
   * Heartbeat of the upload journal's lease; an instance silent for 3x this + 2 s
   * is dead and its multipart uploads are aborted by the others.
   */
  leaseIntervalMs: number;
  /** Stable part of this instance's id; "" = the host name (and no previous-life fast path). */
  instanceName: string;
  /** Most objects a directory rename may move (0 = directory renames refused). */
  maxRenameObjects: number;
  /** PORT/EPRT allowed (only to the client's own address, never below port 1024). */
  activeMode: boolean;
  /** Connections one client address may hold (0 = unlimited). */
  maxConnectionsPerIp: number;
  /** Logged-in sessions at once (0 = unlimited). */
  maxLoggedInUsers: number;
  /** Failed logins from one address, within `banWindowMs`, that ban it (0 = never). */
  banAfterFailures: number;
  banWindowMs: number;
  /** How long a banned address is refused (421). */
  banTimeMs: number;
  /** Check COS's CRC64 of every upload and whole-object download against the bytes moved. */
  verifyChecksums: boolean;
  /** Largest file HASH/XCRC/XMD5/XSHA* will read (0 = no limit). */
  hashMaxSize: number;
  /**
   * Commit what arrived of an upload broken by the network (reset, timeout,
   * lost control connection), as vsftpd does, so the client can resume it.
   * Never for ABOR or an exceeded size limit.
   */
  keepPartialUploads: boolean;
  /** `[ADMIN] listen`: `host:port` of the metrics and health listener; "" = off. */
  adminListen: string;
  /** How often the admin listener probes every account's storage for /readyz. */
  adminProbeIntervalMs: number;
  /** /readyz fails for an account whose storage has not answered a probe for this long. */
  adminReadyMaxAgeMs: number;
  tls: TlsConfig;
  accounts: AccountConfig[];
  users: UserConfig[];
}

/** A problem found in a config file, located precisely enough to fix it. */
export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the problem is not on one line (e.g. a missing section). */
  line: number;
  /** The key (or `[section]`) concerned; "" when none. */
  key: string;
  message: string;
}
