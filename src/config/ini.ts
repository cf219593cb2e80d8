/**
 * Parser for the INI dialect of the original COS FTP Server's `conf/vsftpd.conf`.
 *
 * No npm INI package fits: npm `ini` cuts values at any `;`/`#`, which breaks
 * `login_users = a:b:RW;c:d:RW` and passwords such as `p#ss;word`.
 *
 * @module
 */

import { mayHoldSecret } from "./show.ts";
import type { ConfigIssue } from "./types.ts";

/** One `key = value` line. */
export interface IniEntry {
  /** Trimmed and lower-cased, as Python's RawConfigParser did. */
  key: string;
  /** Trimmed, with any inline comment removed. */
  value: string;
  /** 1-based. */
  line: number;
}

/** One `[name]` header and the entries under it, in file order. */
export interface IniSection {
  /** As written (trimmed), not case-folded: messages should echo the user's spelling. */
  name: string;
  line: number;
  entries: IniEntry[];
}

/** The parsed file; `issues` are syntax errors, the rest of the file is still parsed. */
export interface IniDocument {
  sections: IniSection[];
  issues: ConfigIssue[];
}

/** Parses INI text; never throws. `file` is used only to locate issues. */
export function parseIni(text: string, file: string): IniDocument {
  const doc: IniDocument = { sections: [], issues: [] };
  const lines = text.replace(/^\uFEFF/, "").split(/\r\n|\n|\r/);
  lines.forEach((raw, index) => parseLine(raw, index + 1, file, doc));
  return doc;
}

function parseLine(raw: string, line: number, file: string, doc: IniDocument): void {
  const text = raw.trim();
  if (text === "" || text.startsWith("#") || text.startsWith(";")) return;
  if (text.startsWith("[")) {
    parseHeader(text, line, file, doc);
  } else {
    parseEntry(text, line, file, doc);
  }
}

function parseHeader(text: string, line: number, file: string, doc: IniDocument): void {
  const close = text.indexOf("]");
  const rest = close < 0 ? "" : text.slice(close + 1).trim();
  const name = close < 0 ? "" : text.slice(1, close).trim();
  if (close < 0) {
    issue(doc, file, line, "", "section header is missing its closing ']'");
  } else if (rest !== "" && !rest.startsWith("#") && !rest.startsWith(";")) {
    issue(doc, file, line, sectionShown(name), "unexpected text after the section header");
  } else if (name === "") {
    issue(doc, file, line, "[]", "section name is empty");
  } else if (sectionShown(name) === "") {
    // Its entries still go under it, so they are not read as the previous section's.
    doc.sections.push({ name: "(unnamed)", line, entries: [] });
    const message = "a section name is 1 to 64 letters, digits, '_', '-', '.' or spaces; " +
      "this one is not shown, it may hold a secret";
    issue(doc, file, line, "", message);
  } else {
    doc.sections.push({ name, line, entries: [] });
  }
}

function parseEntry(text: string, line: number, file: string, doc: IniDocument): void {
  const eq = text.indexOf("=");
  // The line itself is not echoed: a stray line may well be a password.
  if (eq < 0) {
    issue(doc, file, line, "", "expected 'key = value', a [section] header or a # comment");
    return;
  }
  const key = text.slice(0, eq).trim().toLowerCase();
  const value = stripInlineComment(text.slice(eq + 1)).trim();
  const section = doc.sections.at(-1);
  if (key === "") {
    issue(doc, file, line, "", "missing key before '='");
  } else if (/\s/.test(key)) {
    // `cos_secretkey  Top=Secret`: a lost '=' before a value that holds one.
    const message = "expected 'key = value': the text before the first '=' is not one key " +
      "name (a missing '='?); the line is not shown, it may hold a secret";
    issue(doc, file, line, "", message);
  } else if (section === undefined) {
    issue(
      doc,
      file,
      line,
      keyShown(key),
      "key is outside any [section]; put it under its section header",
    );
  } else {
    section.entries.push({ key, value, line });
  }
}

/** The key as messages may show it: a plain name, or "" for anything else (maybe a secret). */
export function keyShown(key: string): string {
  return /^[a-z0-9_.-]{1,64}$/.test(key) ? key : "";
}

/** Only `#`/`;` after whitespace starts a comment, so `a:b:RW;c:d:RW` and `p#ss` survive. */
function stripInlineComment(value: string): string {
  const match = /\s[#;]/.exec(value);
  return match === null ? value : value.slice(0, match.index);
}

/** `[NAME]` for messages, or "" when the name is not a plain one (it may be a joined line). */
export function sectionShown(name: string): string {
  return /^[\w. -]{1,64}$/.test(name) && !mayHoldSecret(name) ? `[${name}]` : "";
}

function issue(doc: IniDocument, file: string, line: number, key: string, message: string): void {
  doc.issues.push({ file, line, key, message });
}
