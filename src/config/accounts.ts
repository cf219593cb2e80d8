/**
 * `[COS_ACCOUNT*]` sections: where each account's files live, and its users.
 *
 * @module
 */

import type { AccountContext } from "./context.ts";
import { checkHomeDirs, type PlacedHome, readHomeDir } from "./homedirs.ts";
import type { IniEntry } from "./ini.ts";
import type { IssueLog } from "./issues.ts";
import { LEGACY_SPECS } from "./keys.ts";
import type { SectionIndex, SectionReader } from "./sections.ts";
import { readStorage } from "./storage.ts";
import type { AccountConfig, UserConfig } from "./types.ts";
import {
  checkUsers,
  type PlacedUser,
  readDeleteEnable,
  readLoginUsers,
  readSectionUser,
} from "./users.ts";

/** Accounts in file order and their users; complete only when no error was logged. */
export interface Accounts {
  accounts: AccountConfig[];
  users: UserConfig[];
}

/** Reads every account and user, checking home_dir overlap and duplicate user names. */
export function readAccounts(index: SectionIndex, ctx: AccountContext): Accounts {
  const loginUsers = findLoginUsers(index, ctx.log);
  const accounts: AccountConfig[] = [];
  const homes: PlacedHome[] = [];
  const users: PlacedUser[] = [];
  index.accounts.forEach((section, i) => {
    const shared = isLegacy(section) ? loginUsers : undefined;
    const account = readAccount(section, ctx);
    if (account !== null) accounts.push(account.config);
    if (account !== null) homes.push(account.home);
    users.push(...readUsers(section, i, shared, ctx.log));
  });
  checkHomeDirs(homes, ctx.log);
  checkUsers(users, ctx.log);
  return { accounts, users: users.map((placed) => placed.user) };
}

function isLegacy(section: SectionReader): boolean {
  return section.name.toUpperCase() === "COS_ACCOUNT";
}

/** The older format's user list, checking that it has an account to share. */
function findLoginUsers(index: SectionIndex, log: IssueLog): IniEntry | undefined {
  if (index.accounts.length === 0) {
    const message = "no [COS_ACCOUNT*] section: define at least one account with an FTP user " +
      "(see conf/vsftpd.conf.example)";
    log.error(0, "", message);
  }
  const spec = LEGACY_SPECS.loginUsers;
  const loginUsers = index.global(spec.section).get(spec.key);
  if (loginUsers !== undefined && !index.accounts.some(isLegacy)) {
    const message = "needs a [COS_ACCOUNT] section (the older single-account format) " +
      "whose storage its users share";
    log.error(loginUsers.line, loginUsers.key, message);
  }
  return loginUsers;
}

function readAccount(section: SectionReader, ctx: AccountContext) {
  const choice = readStorage(section, ctx);
  const home = readHomeDir(section, choice, ctx);
  const storage = choice.storage;
  if (storage === null || home === null) return null;
  return { config: { section: section.name, homeDir: home.dir, storage }, home };
}

/** The section's own user, plus the login_users list when this is the older format's account. */
function readUsers(
  section: SectionReader,
  account: number,
  loginUsers: IniEntry | undefined,
  log: IssueLog,
): PlacedUser[] {
  const canDelete = readDeleteEnable(section, log);
  const own = readSectionUser(section, account, canDelete, loginUsers !== undefined, log);
  const shared = loginUsers === undefined
    ? []
    : readLoginUsers(loginUsers, account, canDelete, log);
  return own === null ? shared : [own, ...shared];
}
