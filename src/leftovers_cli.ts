/**
 * `--list-incomplete-uploads` and `--abort-incomplete-uploads [--older-than D]`:
 * the operator's view of multipart uploads left in each COS account, and a
 * way to clean them by hand. The list is the dry run of the abort.
 *
 * @module
 */

import type { AccountConfig, ServerConfig } from "./config/types.ts";
import { AccountLeftovers, type Leftover, type Outcome } from "./storage/cos/leftovers.ts";

/** `--older-than` when not given: a day, so uploads another tool has in flight are left alone. */
export const DEFAULT_OLDER_THAN_MS = 24 * 3600_000;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** `90s`, `30m`, `24h`, `7d` (or plain seconds) in ms; null when malformed. */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim());
  return match ? Math.round(Number(match[1]) * UNITS[match[2] || "s"]) : null;
}

/** Lists (when `abortOlderThanMs` is null) or aborts; resolves to the exit code. */
export async function runLeftovers(
  config: ServerConfig,
  abortOlderThanMs: number | null,
): Promise<number> {
  const staleAfterMs = 3 * config.leaseIntervalMs + 2000;
  let failures = 0;
  let cosAccounts = 0;
  for (const account of config.accounts) {
    if (account.storage.kind !== "cos") continue;
    cosAccounts++;
    const leftovers = new AccountLeftovers(account.storage, staleAfterMs, config.cosTimeoutMs);
    try {
      const found = await leftovers.list();
      console.log(`${describe(account)}: ${plural(found.length, "incomplete upload")}`);
      if (abortOlderThanMs === null) printTable(found);
      else failures += await abortAll(leftovers, found, abortOlderThanMs);
    } catch (error) {
      failures++;
      console.log(`${describe(account)}: FAILED: ${messageOf(error)}`);
    } finally {
      leftovers.close();
    }
  }
  if (cosAccounts === 0) console.log("No COS accounts in the config: nothing to do.");
  return failures === 0 ? 0 : 1;
}

/** Aborts what qualifies, one line per upload; returns the number of failed aborts. */
async function abortAll(leftovers: AccountLeftovers, found: Leftover[], minAgeMs: number) {
  const tally = { aborted: 0, kept: 0, failed: 0 };
  for (const leftover of found) {
    const outcome = await leftovers.abort(leftover, minAgeMs);
    const what = `${escape(leftover.key)} (upload ${leftover.uploadId})`;
    if (outcome === "aborted" || outcome === "gone") tally.aborted++;
    else if (typeof outcome === "object") tally.failed++;
    else tally.kept++;
    console.log(`  ${describeOutcome(outcome, minAgeMs, leftover)}: ${what}`);
  }
  console.log(`  aborted ${tally.aborted}, kept ${tally.kept}, failed ${tally.failed}`);
  return tally.failed;
}

function describeOutcome(outcome: Outcome, minAgeMs: number, leftover: Leftover): string {
  if (outcome === "aborted") return "aborted";
  if (outcome === "gone") return "already gone";
  if (outcome === "too-young") return `kept, younger than ${formatAge(minAgeMs)}`;
  if (outcome === "in-flight") return `kept, in flight on ${ownerText(leftover)}`;
  return `FAILED (${outcome.failed})`;
}

function printTable(found: Leftover[]): void {
  if (found.length === 0) return;
  const rows = [
    ["KEY", "UPLOAD ID", "INITIATED", "AGE", "OWNER"],
    ...found.map((u) => [
      escape(u.key),
      u.uploadId,
      new Date(u.initiated).toISOString().replace(/\.\d+Z$/, "Z"),
      formatAge(u.ageMs),
      ownerText(u),
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const row of rows) {
    console.log(`  ${row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()}`);
  }
}

function ownerText(leftover: Leftover): string {
  const owner = leftover.owner;
  if (owner.kind === "foreign") return "not ours (no journal entry)";
  return `${owner.kind} instance ${owner.instance}`;
}

/** `3d4h`, `25m`, `40s`: the two largest units. */
export function formatAge(ms: number): string {
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (rest >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.slice(0, 2).join("");
}

function describe(account: AccountConfig): string {
  const s = account.storage;
  if (s.kind !== "cos") return `[${account.section}]`;
  return `[${account.section}] cos ${s.bucket}${s.prefix ? `/${s.prefix}` : ""}`;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** Keys may hold control characters; a terminal must not interpret them. */
function escape(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, "0")}` : c;
  }
  return out;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
