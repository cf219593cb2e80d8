/**
 * Loads `conf/vsftpd.conf` (both of the original tool's formats) into a validated
 * {@link ServerConfig}, collecting every problem with its file, line and key.
 *
 * @module
 */

import { join } from "node:path";
import { readAccounts } from "./accounts.ts";
import { DEFAULT_SETTINGS, readGlobals } from "./globals.ts";
import { parseIni } from "./ini.ts";
import { IssueLog } from "./issues.ts";
import { indexSections } from "./sections.ts";
import type { ConfigIssue, ServerConfig } from "./types.ts";

export { formatIssue } from "./issues.ts";

/** The outcome of loading: `config` is null whenever `errors` is not empty. */
export interface LoadResult {
  config: ServerConfig | null;
  errors: ConfigIssue[];
  warnings: ConfigIssue[];
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
  return { config, errors: byLine(log.errors), warnings: byLine(log.warnings) };
}

/** File order reads best; issues not tied to a line go last. */
function byLine(issues: ConfigIssue[]): ConfigIssue[] {
  const order = (issue: ConfigIssue) => issue.line === 0 ? Number.MAX_SAFE_INTEGER : issue.line;
  return issues.toSorted((a, b) => order(a) - order(b));
}

/** Reads `path` and parses it with the process environment and working directory. */
export async function loadConfigFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const message = error instanceof Deno.errors.NotFound
      ? "file not found"
      : `cannot read the file: ${error instanceof Error ? error.message : String(error)}`;
    return { config: null, errors: [{ file: path, line: 0, key: "", message }], warnings: [] };
  }
  return parseConfig(text, path, Deno.env.toObject(), Deno.cwd());
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
