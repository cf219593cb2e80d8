/**
 * Listing formats: `ls -l` lines for LIST (the shape FileZilla, WinSCP and
 * lftp parse), bare names for NLST, and RFC 3659 facts for MLSD/MLST.
 *
 * @module
 */

import type { UserConfig } from "../config/types.ts";
import type { Entry } from "../storage/types.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

/** One `ls -l` line (without line end). Times are UTC, as FTP servers conventionally send. */
export function formatListLine(entry: Entry, user: UserConfig, now: Date): string {
  const isDir = entry.kind === "dir";
  const w = user.canWrite ? "w" : "-";
  const mode = isDir ? `dr${w}xr-xr-x` : `-r${w}-r--r--`;
  const size = String(entry.size).padStart(12);
  return `${mode} 1 ftp ftp ${size} ${lsDate(entry.modified ?? now, now)} ${entry.name}`;
}

/** `Mmm dd hh:mm` for the last six months, `Mmm dd  yyyy` otherwise (as ls does). */
function lsDate(date: Date, now: Date): string {
  const month = MONTHS[date.getUTCMonth()];
  const day = String(date.getUTCDate()).padStart(2);
  const age = now.getTime() - date.getTime();
  if (age >= 0 && age < SIX_MONTHS_MS) {
    return `${month} ${day} ${pad2(date.getUTCHours())}:${pad2(date.getUTCMinutes())}`;
  }
  return `${month} ${day}  ${date.getUTCFullYear()}`;
}

/** `YYYYMMDDHHMMSS` in UTC, the time format of MDTM and MLSx (RFC 3659 2.3). */
export function formatTimeVal(date: Date): string {
  return `${date.getUTCFullYear()}${pad2(date.getUTCMonth() + 1)}${pad2(date.getUTCDate())}` +
    `${pad2(date.getUTCHours())}${pad2(date.getUTCMinutes())}${pad2(date.getUTCSeconds())}`;
}

/** The MLSx `type` fact for an entry, or for the listed directory itself (`cdir`). */
export type FactType = "file" | "dir" | "cdir";

/**
 * RFC 3659 facts plus name: `type=file;size=3;modify=...;perm=rw; name`.
 * `perm` reflects what this user may really do.
 */
export function formatFacts(
  entry: Entry,
  type: FactType,
  user: UserConfig,
  facts: Set<string>,
  name: string,
): string {
  let out = "";
  if (facts.has("type")) out += `type=${type};`;
  if (facts.has("size") && entry.kind === "file") out += `size=${entry.size};`;
  if (facts.has("modify") && entry.modified) out += `modify=${formatTimeVal(entry.modified)};`;
  if (facts.has("perm")) out += `perm=${permissions(entry.kind, user)};`;
  return `${out} ${name}`;
}

/** RFC 3659 7.5.5 perm letters for this user. */
function permissions(kind: Entry["kind"], user: UserConfig): string {
  const { canRead, canWrite, canDelete } = user;
  const may = (allowed: boolean, letters: string) => (allowed ? letters : "");
  if (kind === "dir") {
    return "e" + may(canRead, "l") + may(canWrite, "cmf") + may(canWrite && canDelete, "d");
  }
  return may(canRead, "r") + may(canWrite, "f") + may(canWrite && canDelete, "wd");
}

/** Facts MLST/MLSD support, as FEAT and OPTS MLST advertise them. */
export const SUPPORTED_FACTS = ["type", "size", "modify", "perm"];

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}
