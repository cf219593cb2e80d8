/**
 * Loads `conf/vsftpd.conf` (both of the original tool's formats) into a validated
 * {@link ServerConfig}, collecting every problem with its file, line and key.
 *
 * @module
 */

import { join } from "node:path";
import { readAccounts } from "./accounts.ts";
import { type FileUse, fileUsesOf, type Locate, reasonOf } from "./files.ts";
import { DEFAULT_SETTINGS, readGlobals } from "./globals.ts";
import { parseIni } from "./ini.ts";
import { IssueLog } from "./issues.ts";
import { indexSections, type SectionIndex } from "./sections.ts";
import type { ConfigIssue, ServerConfig } from "./types.ts";

export { formatIssue } from "./issues.ts";

/** The outcome of loading: `config` is null whenever `errors` is not empty. */
export interface LoadResult {
  config: ServerConfig | null;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
  /** The paths the server will read or write at start-up, with their lines (see files.ts). */
  files: FileUse[];
}

/**
 * Parses and validates config text. Pure: `env` supplies COS credentials
 * (`COS_SECRET_ID[_<SECTION>]`, `COS_SECRET_KEY[_<SECTION>]`) and relative paths
 * resolve against `cwd`; nothing is created on disk.
 */
export function parseConfig(
  text: string,
  file: string,
  env: Record<string, string | undefined>,
  cwd: string,
): LoadResult {
  const log = new IssueLog(file);
  const ini = parseIni(text, file);
  log.errors.push(...ini.issues);
  const index = indexSections(ini.sections, log);
  const settings = readGlobals(index, cwd, log);
  const { accounts, users } = readAccounts(index, { env, cwd, log });
  const config = log.errors.length > 0 ? null : { source: file, ...settings, accounts, users };
  const files = config === null ? [] : fileUsesOf(config, locateIn(index));
  return { config, errors: byLine(log.errors), warnings: byLine(log.warnings), files };
}

/** Finds the line of the first of `keys` set in a section. */
function locateIn(index: SectionIndex): Locate {
  return (section, keys) => {
    const reader = index.accounts.find((account) => account.name === section) ??
      index.global(section);
    const entry = reader.first(...keys);
    return entry === undefined ? { line: 0, key: keys[0] } : { line: entry.line, key: entry.key };
  };
}

/** File order reads best; issues not tied to a line go last. */
function byLine(issues: ConfigIssue[]): ConfigIssue[] {
  const order = (issue: ConfigIssue) => issue.line === 0 ? Number.MAX_SAFE_INTEGER : issue.line;
  return issues.toSorted((a, b) => order(a) - order(b));
}

/** Reads `path` and parses it with the process environment and working directory. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  const text = await readConfigText(path);
  if (typeof text !== "string") {
    return {
      config: null,
      errors: [{ file: path, line: 0, key: "", ...text }],
      warnings: [],
      files: [],
    };
  }
  return parseConfig(text, path, Deno.env.toObject(), Deno.cwd());
}

/** The file's text, or why it cannot be read (a FIFO is refused: reading it would block). */
async function readConfigText(path: string): Promise<string | { message: string }> {
  try {
    if (!(await Deno.stat(path)).isFile) return { message: "is not a regular file" };
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { message: "file not found" };
    return { message: `cannot read the file: ${reasonOf(error)}` };
  }
}

/**
 * The configuration used when there is no config file: loopback only, one local
 * account at `<cwd>/data`, user `demo` / `demo` with read, write and delete, logs to stderr.
 */
export function embeddedDefaultConfig(cwd: string): ServerConfig {
  const root = join(cwd, "data");
  return {
    ...DEFAULT_SETTINGS,
    passivePorts: { ...DEFAULT_SETTINGS.passivePorts },
    source: "(embedded default)",
    listenAddress: "127.0.0.1",
    logDir: "",
    accounts: [{ section: "(embedded default)", homeDir: root, storage: { kind: "local", root } }],
    users: [{
      name: "demo",
      password: "demo",
      canRead: true,
      canWrite: true,
      canDelete: true,
      account: 0,
    }],
  };
}
