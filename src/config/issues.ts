/**
 * Collects every configuration problem so the user can fix them all in one go.
 *
 * @module
 */

import type { ConfigIssue } from "./types.ts";

/** Errors and warnings for one file. */
export class IssueLog {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  constructor(readonly file: string) {}

  /** Records a problem that stops the server from starting. */
  error(line: number, key: string, message: string): void {
    this.errors.push({ file: this.file, line, key, message });
  }

  /** Records something the server works around. */
  warn(line: number, key: string, message: string): void {
    this.warnings.push({ file: this.file, line, key, message });
  }
}

/** `file:line: key: message`; `:line` is omitted when 0 and `key: ` when empty. */
export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line > 0 ? `${issue.file}:${issue.line}` : issue.file;
  const key = issue.key === "" ? "" : `${issue.key}: `;
  return `${where}: ${key}${issue.message}`;
}
