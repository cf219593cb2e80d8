/**
 * The server-wide sections: `[NETWORK]`, `[FILE_OPTION]`, `[OPTIONAL]` and `[FTPS]`, read
 * by looping over the key table (keys.ts); what one key cannot say alone is below.
 *
 * @module
 */

import { resolve } from "node:path";
import { formatIssue, IssueLog } from "./issues.ts";
import {
  type DefaultedSpec,
  defaultOf,
  defaultsOf,
  type GlobalSettings,
  type KeySpec,
  namesOf,
  SCALAR_KEYS,
  type ScalarSettings,
  TLS_KEYS,
} from "./keys.ts";
import { readKey, type SectionIndex, SectionReader } from "./sections.ts";
import type { TlsConfig } from "./types.ts";

export type { GlobalSettings } from "./keys.ts";

/** Defaults of a config file (from the key table); `logDir` is relative to the working directory. */
export const DEFAULT_SETTINGS: Readonly<GlobalSettings> = {
  ...defaultsOf(SCALAR_KEYS),
  tls: defaultsOf(TLS_KEYS),
};

/** Reads the global sections; bad values are logged and replaced by defaults. */
export function readGlobals(index: SectionIndex, cwd: string, log: IssueLog): GlobalSettings {
  const settings = readAll(SCALAR_KEYS, (spec) => index.global(spec.section), log);
  settings.logDir = logDirOf(settings.logDir, cwd);
  checkPartFitsBudget(settings, index.global("OPTIONAL"), log);
  return { ...settings, tls: readFtps(index.global("FTPS"), cwd, log) };
}

/**
 * Settings from values written by key name, read as a file's would be (for tests and tools
 * that build a config in code, so a renamed key fails there too). Throws on an unknown key,
 * a bad value or any warning; relative paths resolve against `cwd`.
 */
export function settingsFromKeys(
  values: Readonly<Record<string, string>>,
  cwd: string,
): GlobalSettings {
  const sections = new Map<string, SectionReader>();
  for (const [line, [key, value]] of Object.entries(values).entries()) {
    const spec = [...SCALAR_KEYS, ...TLS_KEYS].find((spec) => namesOf(spec).includes(key));
    if (spec === undefined) throw new Error(`${key} is not a global config key`);
    const section = sections.get(spec.section) ?? new SectionReader(spec.section, 0);
    sections.set(spec.section, section);
    section.add({ key, value, line: line + 1 });
  }
  const index = {
    global: (name: string) => sections.get(name) ?? new SectionReader(name, 0),
    accounts: [],
  };
  const log = new IssueLog("(settings)");
  const settings = readGlobals(index, cwd, log);
  const issues = [...log.errors, ...log.warnings];
  if (issues.length > 0) throw new Error(issues.map(formatIssue).join("\n"));
  return settings;
}

/** Every key of `specs` from its section, starting from the defaults. */
function readAll<T>(
  specs: readonly DefaultedSpec<T>[],
  sectionOf: (spec: DefaultedSpec<T>) => SectionReader,
  log: IssueLog,
): T {
  const out = defaultsOf(specs);
  for (const spec of specs) readInto(out, sectionOf(spec), spec, log);
  return out;
}

function readInto<T, F extends keyof T>(
  out: T,
  section: SectionReader,
  spec: KeySpec<T, F>,
  log: IssueLog,
): void {
  out[spec.field] = readKey(section, spec, defaultOf(spec), log);
}

/** `none` or `-` = stderr only; anything else is a directory relative to `cwd`. */
function logDirOf(value: string, cwd: string): string {
  return value.toLowerCase() === "none" || value === "-" ? "" : resolve(cwd, value);
}

/** `[FTPS]`: paths resolved against `cwd`; the files themselves are read at start-up. */
function readFtps(section: SectionReader, cwd: string, log: IssueLog): TlsConfig {
  const tls = readAll(TLS_KEYS, () => section, log);
  const path = (value: string) => value === "" ? "" : resolve(cwd, value);
  tls.certFile = path(tls.certFile);
  tls.keyFile = path(tls.keyFile);
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

/** A part must fit twice in the budget (one filling, one uploading), or uploads cannot progress. */
function checkPartFitsBudget(settings: ScalarSettings, section: SectionReader, log: IssueLog) {
  if (settings.minPartSize * 2 <= settings.uploadMemoryBudget) return;
  const entry = section.get("upload_memory_budget") ?? section.get("min_part_size");
  log.error(
    entry?.line ?? 0,
    entry?.key ?? "upload_memory_budget",
    `upload_memory_budget (${settings.uploadMemoryBudget} bytes) must be at least twice ` +
      `min_part_size (${settings.minPartSize} bytes)`,
  );
}
