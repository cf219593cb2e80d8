/**
 * FTP logins: one per `[COS_ACCOUNT*]` section, or the older `[FTP_ACCOUNT] login_users` list.
 * Messages name users but never echo passwords.
 *
 * @module
 */

import { isHashed, parseHash } from "../password.ts";
import type { IniEntry } from "./ini.ts";
import type { IssueLog } from "./issues.ts";
import { ACCOUNT_SPECS as KEYS, defaultOf } from "./keys.ts";
import { readKey, readRequired, type SectionReader } from "./sections.ts";
import type { UserConfig } from "./types.ts";
import { quoted } from "./show.ts";
import { parseAuthority } from "./values.ts";

/** A user and where it was defined, for duplicate messages. */
export interface PlacedUser {
  user: UserConfig;
  /** E.g. `[COS_ACCOUNT_0]` or `[FTP_ACCOUNT] login_users`. */
  place: string;
  line: number;
  key: string;
}

/** `delete_enable` of an account section (default true). */
export function readDeleteEnable(section: SectionReader, log: IssueLog): boolean {
  return readKey(section, KEYS.canDelete, defaultOf(KEYS.canDelete), log);
}

/**
 * The user defined by `ftp_login_user_*` in an account section. With `optional`
 * (the older format, whose users come from login_users) a section without them yields null.
 */
export function readSectionUser(
  section: SectionReader,
  account: number,
  canDelete: boolean,
  optional: boolean,
  log: IssueLog,
): PlacedUser | null {
  const { userName, password: passwordKey, authority: authorityKey } = KEYS;
  const nameEntry = section.get(userName.key);
  if (optional && nameEntry === undefined && section.get(passwordKey.key) === undefined) {
    return null;
  }
  const name = readRequired(section, userName.key, userName.parse, log);
  const password = readRequired(section, passwordKey.key, passwordKey.parse, log);
  const authority = readRequired(
    section,
    authorityKey.key,
    authorityKey.parse,
    log,
    " (e.g. RW or RO)",
  );
  if (name === undefined || password === undefined || authority === undefined) return null;
  const passwordEntry = section.get(passwordKey.key)!;
  if (!checkPassword(password, passwordEntry, "", log)) return null;
  const user = { name, password, ...authority, canDelete, account };
  const line = nameEntry?.line ?? section.line;
  return { user, place: `[${section.name}]`, line, key: userName.key };
}

/**
 * `user:password:authority;...`; the password is everything between the first and last `:`.
 * A password holding `;` splits its entry, so a fragment may be a password's tail: when any
 * entry is malformed, messages name entries by number only and no user of the line is used.
 */
export function readLoginUsers(
  entry: IniEntry,
  account: number,
  canDelete: boolean,
  log: IssueLog,
): PlacedUser[] {
  const items = entry.value.split(";").map((item) => item.trim());
  if (items.every((item) => item === "")) {
    log.error(entry.line, entry.key, "lists no users; expected user:password:authority;...");
  }
  const parsed = items.map((item, index) => item === "" ? null : splitLoginUser(item, index + 1));
  const problems = parsed.filter((fields) => typeof fields === "string");
  for (const problem of problems) log.error(entry.line, entry.key, problem);
  if (problems.length > 0) return [];
  const users: PlacedUser[] = [];
  for (const [index, fields] of parsed.entries()) {
    if (fields === null || typeof fields === "string") continue;
    const who = `entry ${index + 1} (user ${quoted(fields.name)}): `;
    if (!checkPassword(fields.password, entry, who, log)) continue;
    const place = "[FTP_ACCOUNT] login_users";
    users.push({
      user: { ...fields, canDelete, account },
      place,
      line: entry.line,
      key: entry.key,
    });
  }
  return users;
}

type LoginFields = Pick<UserConfig, "name" | "password" | "canRead" | "canWrite">;

/** The entry's fields, or what is wrong with it, quoting none of it. */
function splitLoginUser(item: string, number: number): LoginFields | string {
  const label = `entry ${number}`;
  const first = item.indexOf(":");
  const last = item.lastIndexOf(":");
  if (first < 0 || first === last) {
    return `${label} must be user:password:authority, e.g. user1:pass1:RW (a password ` +
      "holding ';' splits its entry)";
  }
  const name = item.slice(0, first).trim();
  const password = item.slice(first + 1, last);
  const authority = parseAuthority(item.slice(last + 1).trim());
  if (name === "") return `${label} has an empty user name`;
  if (password === "") return `${label} has an empty password`;
  if (!authority.ok) {
    return `${label}: the authority (after the last ':') is not valid: use letters R and W, ` +
      "e.g. RW, RO or WO";
  }
  return { name, password, ...authority.value };
}

/**
 * Warns about a plaintext password; a malformed hash is an error (false).
 * Neither message quotes the value.
 */
function checkPassword(password: string, entry: IniEntry, who: string, log: IssueLog): boolean {
  if (!isHashed(password)) {
    log.warn(
      entry.line,
      entry.key,
      `${who}plaintext password; use --hash-password to store a hash`,
    );
    return true;
  }
  const hash = parseHash(password);
  if (typeof hash !== "string") return true;
  log.error(entry.line, entry.key, `${who}malformed password hash: ${hash} (see --hash-password)`);
  return false;
}

/** Reports users defined twice, naming both places. */
export function checkUsers(users: PlacedUser[], log: IssueLog): void {
  const seen = new Map<string, PlacedUser>();
  for (const placed of users) {
    const earlier = seen.get(placed.user.name);
    if (earlier === undefined) {
      seen.set(placed.user.name, placed);
      continue;
    }
    const message = `user ${quoted(placed.user.name)} in ${placed.place} is already defined in ` +
      `${earlier.place} (line ${earlier.line}); user names must be unique`;
    log.error(placed.line, placed.key, message);
  }
}
