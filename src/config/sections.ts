/**
 * Groups parsed INI sections by meaning and checks them against the known keys:
 * duplicates are errors, unknown names are warnings.
 *
 * @module
 */

import { type IniEntry, type IniSection, keyShown } from "./ini.ts";
import type { IssueLog } from "./issues.ts";
import { IGNORED_KEYS, isSecretKey, keysOf, type KeySpec, namesOf, sectionsKnown } from "./keys.ts";
import { isDefaultValue, isPlaceholder, type Parser } from "./values.ts";

/** Keys of a `[COS_ACCOUNT*]` section (original names, older aliases and ours). */
export const ACCOUNT_KEYS: readonly string[] = keysOf("COS_ACCOUNT");

/** Upper-cased names of the other sections and their keys. */
export const GLOBAL_KEYS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  sectionsKnown()
    .filter((section) => section !== "COS_ACCOUNT")
    .map((section) => [section, keysOf(section)]),
);

export { IGNORED_KEYS } from "./keys.ts";

/** One section's entries by key, with the first occurrence kept. */
export class SectionReader {
  readonly #entries = new Map<string, IniEntry>();

  constructor(readonly name: string, readonly line: number) {}

  /** Adds an entry; returns the earlier one instead when the key is already set. */
  add(entry: IniEntry): IniEntry | undefined {
    const earlier = this.#entries.get(entry.key);
    if (earlier === undefined) this.#entries.set(entry.key, entry);
    return earlier;
  }

  /** The entry when it holds a real value (not empty, not `default`). */
  get(key: string): IniEntry | undefined {
    const entry = this.#entries.get(key);
    return entry === undefined || isDefaultValue(entry.value) ? undefined : entry;
  }

  /** The first of `keys` that holds a real value (for keys with older aliases). */
  first(...keys: string[]): IniEntry | undefined {
    return keys.map((key) => this.get(key)).find((entry) => entry !== undefined);
  }
}

/** Sections by role. */
export interface SectionIndex {
  /** `[NETWORK]` etc. by upper-cased name; absent sections read as empty. */
  global(name: string): SectionReader;
  /** Every `[COS_ACCOUNT*]` section in file order. */
  accounts: SectionReader[];
}

/** Indexes sections, reporting duplicate sections and keys (errors) and unknown ones (warnings). */
export function indexSections(sections: IniSection[], log: IssueLog): SectionIndex {
  const byName = new Map<string, SectionReader>();
  const accounts: SectionReader[] = [];
  for (const section of sections) {
    const upper = section.name.toUpperCase();
    const earlier = byName.get(upper);
    if (earlier !== undefined) {
      log.error(section.line, `[${section.name}]`, duplicateSection(earlier.line, upper));
      continue;
    }
    const reader = fillSection(section, log);
    byName.set(upper, reader);
    if (upper.startsWith("COS_ACCOUNT")) accounts.push(reader);
  }
  return {
    global: (name) => byName.get(name) ?? new SectionReader(name, 0),
    accounts,
  };
}

function duplicateSection(firstLine: number, upper: string): string {
  const hint = upper.startsWith("COS_ACCOUNT")
    ? "; each account needs its own section name, e.g. COS_ACCOUNT_1"
    : "; merge the two";
  return `section appears twice (first at line ${firstLine}), its entries are not used${hint}`;
}

function fillSection(section: IniSection, log: IssueLog): SectionReader {
  const reader = new SectionReader(section.name, section.line);
  const known = knownKeys(section.name);
  if (known === undefined) {
    log.warn(section.line, `[${section.name}]`, "unknown section, ignored");
  }
  const secretLines = new Set(
    section.entries.filter((entry) => isSecretKey(entry.key)).map((entry) => entry.line),
  );
  for (const entry of section.entries) {
    const earlier = reader.add(entry);
    const key = secretLines.has(entry.line - 1) ? "" : keyShown(entry.key);
    if (earlier !== undefined) {
      const message = `set twice in [${section.name}] (first at line ${earlier.line}); remove one`;
      log.error(entry.line, key, message);
    } else if (known !== undefined) {
      checkKnown({ ...entry, key }, entry.key, section.name, known, log);
    }
  }
  return reader;
}

function knownKeys(name: string): readonly string[] | undefined {
  const upper = name.toUpperCase();
  return upper.startsWith("COS_ACCOUNT") ? ACCOUNT_KEYS : GLOBAL_KEYS[upper];
}

/**
 * `entry.key` is the key as messages may show it: "" when it is not a plain name, or when
 * the line follows a secret's line and may be the rest of the secret, split by a stray
 * newline; `key` is the real one.
 */
function checkKnown(
  entry: IniEntry,
  key: string,
  section: string,
  known: readonly string[],
  log: IssueLog,
) {
  const ignored = IGNORED_KEYS[key];
  if (ignored !== undefined && section.toUpperCase() === "OPTIONAL") {
    log.warn(entry.line, key, ignored);
  } else if (!known.includes(key)) {
    const what = entry.key === "" ? "a key (not shown: it may be part of a secret)" : "key";
    log.warn(entry.line, entry.key, `unknown ${what} in [${section}], ignored`);
  }
}

/** Parses `key` from `section`; on a bad value records an error and returns `fallback`. */
export function readValue<T>(
  section: SectionReader,
  key: string,
  parse: Parser<T>,
  fallback: T,
  log: IssueLog,
): T {
  const entry = section.get(key);
  if (entry === undefined) return fallback;
  const parsed = parse(entry.value);
  if (parsed.ok) return parsed.value;
  log.error(entry.line, key, parsed.message);
  return fallback;
}

/**
 * Reads a table key (or the first of its aliases that is set) like {@link readValue}; a
 * documentation placeholder is warned about and read as unset when the table says so.
 */
export function readKey<T, F extends keyof T, D = T[F]>(
  section: SectionReader,
  spec: KeySpec<T, F>,
  fallback: T[F] | D,
  log: IssueLog,
): T[F] | D {
  const entry = section.first(...namesOf(spec));
  if (entry === undefined) return fallback;
  if (spec.placeholder !== undefined && isPlaceholder(entry.value)) {
    const message = `looks like the documentation's placeholder, ${spec.placeholder}`;
    log.warn(entry.line, entry.key, message);
    return fallback;
  }
  return readValue<T[F] | D>(section, entry.key, spec.parse, fallback, log);
}

/** Like {@link readValue} for a key without a default: missing is an error, result undefined. */
export function readRequired<T>(
  section: SectionReader,
  key: string,
  parse: Parser<T>,
  log: IssueLog,
  why = "",
): T | undefined {
  if (section.get(key) === undefined) {
    log.error(section.line, key, `[${section.name}] needs ${key}${why}`);
    return undefined;
  }
  return readValue<T | undefined>(section, key, parse, undefined, log);
}
