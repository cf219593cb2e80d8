/**
 * The command line: parse arguments, load (or default) the config, and run
 * or check the server.
 *
 * @module
 */

import { checkFiles, type FileCheckMode, type FileUse, fileUsesOf } from "./config/files.ts";
import { embeddedDefaultConfig, formatIssue, loadConfigFile } from "./config/load.ts";
import { printable } from "./config/show.ts";
import type { ConfigIssue, ServerConfig } from "./config/types.ts";
import { storageContext } from "./storage/open.ts";
import { FtpServer } from "./ftp/server.ts";
import { describeAccount, failureText, loadTls, probeAccount } from "./ftp/resources.ts";
import { Logger } from "./log.ts";
import { warnIfRoot } from "./privileges.ts";
import { watchOperatorSignals } from "./reload.ts";
import { hashPassword } from "./password.ts";
import { DEFAULT_OLDER_THAN_MS, parseDuration, runLeftovers } from "./leftovers_cli.ts";
import { VERSION } from "./version.ts";

/** Where the config is looked for when --config is not given (as the original did). */
export const DEFAULT_CONFIG_PATH = "conf/vsftpd.conf";

const USAGE = `cos-ftp-server ${VERSION}: an FTP/FTPS gateway to Tencent Cloud Object Storage

Usage: cos-ftp-server [--config PATH] [--check]
       cos-ftp-server [--config PATH] --list-incomplete-uploads
       cos-ftp-server [--config PATH] --abort-incomplete-uploads [--older-than DURATION]
       cos-ftp-server --hash-password < password-file

Options:
  --config PATH   config file (default ${DEFAULT_CONFIG_PATH}; the original's vsftpd.conf
                  loads unchanged). When the default file does not exist, an embedded
                  default runs: 127.0.0.1:2121, user demo / password demo, files in ./data.
  --check         validate the config, print every problem as file:line: key: message,
                  and exit (0 = valid, 1 = problems)
  --hash-password read a password from stdin (one line; prompts on a terminal) and print
                  its hash, $pbkdf2-sha256$..., to use as ftp_login_user_password or as
                  the password in login_users instead of the plaintext
  --list-incomplete-uploads
                  list every COS account's unfinished multipart uploads (key, upload id,
                  initiated, age, and whether a live or dead instance of this server owns
                  them); the dry run of --abort-incomplete-uploads. Exit 0, or 1 when an
                  account could not be listed
  --abort-incomplete-uploads
                  abort those older than --older-than (default 24h), except uploads a
                  live instance has in flight. Exit 0, or 1 when any abort failed
  --older-than DURATION
                  with --abort-incomplete-uploads: 90s, 30m, 24h, 7d (0 = any age)
  --version       print the version
  --help          print this help

Signals: SIGINT/SIGTERM stop accepting, let running transfers finish within
shutdown_grace_period, then exit 0. SIGHUP reloads the config file (users, passwords,
rights, accounts, limits, certificates) for new sessions and logins; a config with
errors is rejected and the running one kept. SIGUSR1 reopens the log file.`;

interface Options {
  configPath: string;
  explicitConfig: boolean;
  check: boolean;
  hashPassword: boolean;
  /** `list` or `abort` incomplete uploads instead of serving. */
  leftovers: "list" | "abort" | null;
  /** For `abort`: the youngest age aborted. */
  olderThanMs: number | null;
}

/** Runs the command line; resolves to the process exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = parseArgs(args);
  if (typeof parsed === "string") return printAndExit(parsed);
  if (parsed.hashPassword) return await printPasswordHash();
  const loaded = await obtainConfig(parsed);
  if (!loaded) return 1;
  const { config, files } = loaded;
  if (parsed.check) return await check(config, files);
  if (parsed.leftovers) {
    const minAge = parsed.olderThanMs ?? DEFAULT_OLDER_THAN_MS;
    return await runLeftovers(config, parsed.leftovers === "abort" ? minAge : null);
  }
  return await serve(config, files);
}

/** A loaded config and the paths it makes the server use. */
interface Loaded {
  config: ServerConfig;
  files: FileUse[];
}

/** Options, or the text to print and exit with ("usage error" texts start with "error:"). */
function parseArgs(args: string[]): Options | string {
  const options: Options = {
    configPath: DEFAULT_CONFIG_PATH,
    explicitConfig: false,
    check: false,
    hashPassword: false,
    leftovers: null,
    olderThanMs: null,
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--help" || arg === "-h") return USAGE;
    if (arg === "--version") return `cos-ftp-server ${VERSION}`;
    if (arg === "--check") options.check = true;
    else if (arg === "--hash-password") options.hashPassword = true;
    else if (arg === "--list-incomplete-uploads") options.leftovers = "list";
    else if (arg === "--abort-incomplete-uploads") options.leftovers = "abort";
    else if (arg === "--older-than" || arg.startsWith("--older-than=")) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
      const ms = parseDuration(value ?? "");
      if (ms === null) return `error: --older-than needs a duration such as 30m, 24h or 7d`;
      options.olderThanMs = ms;
    } else if (arg === "--config" || arg.startsWith("--config=")) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : args[++i];
      if (!value) return "error: --config needs a path";
      options.configPath = value;
      options.explicitConfig = true;
    } else return `error: unknown argument ${arg} (see --help)`;
  }
  if (options.olderThanMs !== null && options.leftovers !== "abort") {
    return "error: --older-than goes with --abort-incomplete-uploads";
  }
  return options;
}

function printAndExit(text: string): number {
  if (text.startsWith("error:")) {
    console.error(text);
    return 2;
  }
  console.log(text);
  return 0;
}

/** Longest password --hash-password accepts, in bytes. */
const MAX_PASSWORD_BYTES = 4096;

/** --hash-password: reads one password from stdin and prints its hash; 0 on success. */
async function printPasswordHash(): Promise<number> {
  if (Deno.stdin.isTerminal()) console.error("Password (it is shown as you type):");
  const password = await readPasswordLine();
  if (password === null) {
    console.error(`error: the password is longer than ${MAX_PASSWORD_BYTES} bytes`);
    return 2;
  }
  if (password === "") {
    console.error("error: empty password (give it on stdin, one line)");
    return 2;
  }
  console.log(await hashPassword(password));
  return 0;
}

/** The first line of stdin (or all of it when it has no newline), without CR/LF; null when too long. */
async function readPasswordLine(): Promise<string | null> {
  const reader = Deno.stdin.readable.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      const newline = value.indexOf(0x0a);
      chunks.push(newline < 0 ? value : value.subarray(0, newline));
      size += chunks.at(-1)!.length;
      if (newline >= 0 || size > MAX_PASSWORD_BYTES) break;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  if (size > MAX_PASSWORD_BYTES) return null;
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return new TextDecoder().decode(bytes).replace(/\r$/, "");
}

/** The config to run with, or `null` after printing why there is none. */
async function obtainConfig(options: Options): Promise<Loaded | null> {
  if (!options.explicitConfig && !(await exists(options.configPath))) {
    const config = embeddedDefaultConfig(Deno.cwd());
    console.error(describeEmbeddedDefault(config));
    return { config, files: fileUsesOf(config) };
  }
  const result = await loadConfigFile(options.configPath);
  printIssues("warning", result.warnings);
  printIssues("error", result.errors);
  if (result.errors.length > 0) {
    console.error(`${options.configPath}: ${result.errors.length} error(s); not starting`);
  }
  return result.config && { config: result.config, files: result.files };
}

/** Prints every unusable path as an error; true when all are usable. */
async function filesUsable(files: FileUse[], mode: FileCheckMode): Promise<boolean> {
  const issues = await checkFiles(files, mode);
  printIssues("error", issues);
  return issues.length === 0;
}

function printIssues(label: string, issues: ConfigIssue[]): void {
  for (const issue of issues) console.error(`${label}: ${formatIssue(issue)}`);
}

function describeEmbeddedDefault(config: ServerConfig): string {
  const root = config.accounts[0].storage.kind === "local" ? config.accounts[0].storage.root : "";
  const { min, max } = config.passivePorts;
  return [
    `No config file at ${DEFAULT_CONFIG_PATH}: running the embedded default.`,
    `  FTP on ${config.listenAddress}:${config.listenPort}, passive ports ${min}-${max} on ${config.listenAddress}`,
    `  one user: demo / password demo (read, write, delete)`,
    `  storage: local directory ${root} (created if missing); log to stderr only`,
    `  For COS, copy conf/vsftpd.conf.example to ${DEFAULT_CONFIG_PATH} and edit it.`,
  ].join("\n");
}

/** Validates and probes every account's storage and the FTPS files; 0 when all are usable. */
async function check(config: ServerConfig, files: FileUse[]): Promise<number> {
  if (!(await filesUsable(files, "check"))) {
    console.error(`${config.source}: names files the server cannot use; not valid`);
    return 1;
  }
  const counts = `${config.accounts.length} accounts, ${config.users.length} users`;
  console.log(`${config.source}: valid (${counts})`);
  const context = storageContext(config);
  let failures = 0;
  for (const account of config.accounts) {
    const failure = await probeAccount(account, context);
    if (failure !== null) failures++;
    console.log(`${describeAccount(account)}: ${failure === null ? "OK" : `FAILED: ${failure}`}`);
  }
  try {
    const tls = await loadTls(config);
    if (tls !== null) console.log(`[FTPS] ${printable(config.tls.certFile)}: OK`);
  } catch (error) {
    failures++;
    console.log(`[FTPS] FAILED: ${failureText(error)}`);
  }
  return failures === 0 ? 0 : 1;
}

async function serve(config: ServerConfig, files: FileUse[]): Promise<number> {
  if (!(await filesUsable(files, "start"))) {
    console.error(`${config.source}: names files the server cannot use; not starting`);
    return 1;
  }
  let log: Logger;
  try {
    log = await Logger.open(config.logLevel, config.logDir, true, config.logFormat);
  } catch (error) {
    // Checked just above; this is a race with another process changing the directory.
    console.error(
      `error: cannot open the log in ${printable(config.logDir)}: ${failureText(error)}`,
    );
    return 1;
  }
  // Before start-up (storages can take long to open): a SIGHUP then must not end the process,
  // and a SIGTERM then is a clean stop once started, not the signal's default exit (143).
  const signals = watchOperatorSignals(log);
  const stopRequested = waitForSignal();
  let server: FtpServer;
  try {
    server = await FtpServer.start(config, log);
  } catch (error) {
    console.error(`error: cannot start: ${describeStartError(error, config)}`);
    await signals.close();
    log.close();
    return 1;
  }
  const { hostname, port } = server.address;
  log.info("started", { version: VERSION, listen: `${hostname}:${port}`, config: config.source });
  warnIfRoot(log);
  signals.attach(server);
  await stopRequested;
  log.info("shutting-down", { graceSeconds: config.shutdownGraceMs / 1000 });
  await signals.stop();
  await server.shutdown();
  await signals.close();
  log.info("stopped");
  log.close();
  return 0;
}

function describeStartError(error: unknown, config: ServerConfig): string {
  const where = `${config.listenAddress}:${config.listenPort}`;
  if (error instanceof Deno.errors.AddrInUse) return `${where} is already in use`;
  if (error instanceof Deno.errors.AddrNotAvailable) return `${where}: no such local address`;
  if (error instanceof Deno.errors.PermissionDenied) return `${where}: permission denied`;
  return failureText(error);
}

/** Resolves on the first SIGINT or SIGTERM. */
function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
    const handler = () => {
      for (const signal of signals) Deno.removeSignalListener(signal, handler);
      resolve();
    };
    for (const signal of signals) Deno.addSignalListener(signal, handler);
  });
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
