/**
 * Collects every configuration problem so the user can fix them all in one go.
 *
 * @module
 */

import { printable } from "./show.ts";
import type { ConfigIssue } from "./types.ts";

/** Errors and warnings for one file. */
export class IssueLog {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  constructor(readonly file: string) {}

  /** Records a problem that stops the server from starting (once, when two readers see it). */
  error(line: number, key: string, message: string): void {
    add(this.errors, { file: this.file, line, key, message });
  }

  /** Records something the server works around. */
  warn(line: number, key: string, message: string): void {
    add(this.warnings, { file: this.file, line, key, message });
  }
}

function add(issues: ConfigIssue[], issue: ConfigIssue): void {
  const same = (other: ConfigIssue) =>
    other.line === issue.line && other.key === issue.key && other.message === issue.message;
  if (!issues.some(same)) issues.push(issue);
}

/** Longest message printed; quoted values inside are already cut, this bounds the rest. */
const MAX_MESSAGE = 600;

/**
 * `file:line: key: message`; `:line` is omitted when 0 and `key: ` when empty. Every
 * part is escaped and cut, whatever the reader that produced it let through.
 */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0
    ? `${printable(issue.file, 300)}:${issue.line}`
    : printable(issue.file, 300);
  const key = issue.key === "" ? "" : `${printable(issue.key)}: `;
  return `${where}: ${key}${printable(issue.message, MAX_MESSAGE)}`;
}
