/**
 * The server log: one line per event, `key=value` fields (or, with
 * `log_format = json`, one JSON object per line), to stderr and (when
 * configured) appended to `<log_dir>/cos_v5.log`, the file name the original
 * used so existing log collectors keep working. {@link Logger.reopen} starts a
 * new file after logrotate renamed the old one (SIGUSR1).
 *
 * Callers pass structured fields; passwords are never among them (the PASS
 * argument is never logged).
 *
 * @module
 */

import { isSecretName } from "./config/show.ts";
import type { LogFormat, LogLevel } from "./config/types.ts";

/** Field values that can appear in a log line. */
export type LogFields = Record<string, string | number | boolean | undefined>;

const RANK: Record<LogLevel, number> = { DEBUG: 10, INFO: 20, WARNING: 30, ERROR: 40 };

/** Longest field value written, in characters: a client's 4 KiB path fits, megabytes do not. */
const MAX_FIELD = 4096;

/** File name inside log_dir. */
export const LOG_FILE_NAME = "cos_v5.log";

/** Hears every event, whatever the log level (the admin listener's metrics count them). */
export type LogListener = (event: string, fields: LogFields, level: LogLevel) => void;

/** A leveled logger writing to stderr and, optionally, a file. */
export class Logger {
  readonly #encoder = new TextEncoder();
  #listeners: LogListener[] = [];
  /** Where {@link reopen} opens the file again; "" = no file. */
  #path = "";
  #format: LogFormat = "text";

  constructor(
    private level: LogLevel,
    private file: Deno.FsFile | null = null,
    private readonly stderr = true,
  ) {}

  /** Opens `<dir>/cos_v5.log` for appending ("" = stderr only). */
  static async open(
    level: LogLevel,
    dir: string,
    stderr = true,
    format: LogFormat = "text",
  ): Promise<Logger> {
    const path = dir === "" ? "" : `${dir}/${LOG_FILE_NAME}`;
    if (dir !== "") await Deno.mkdir(dir, { recursive: true });
    const logger = new Logger(level, path === "" ? null : await openLogFile(path), stderr);
    logger.#path = path;
    logger.#format = format;
    return logger;
  }

  /** The level and line format from now on (a reloaded config). */
  configure(level: LogLevel, format: LogFormat): void {
    this.level = level;
    this.#format = format;
  }

  /**
   * Opens the log file's path again, for logrotate without copytruncate: lines
   * written meanwhile still go to the renamed file, so none is lost. Throws
   * when the new file cannot be opened (the old one stays in use); false
   * when there is no file.
   */
  async reopen(): Promise<boolean> {
    if (this.#path === "") return false;
    const next = await openLogFile(this.#path);
    const previous = this.file;
    this.file = next;
    previous?.close();
    return true;
  }

  debug(event: string, fields: LogFields = {}): void {
    this.#write("DEBUG", event, fields);
  }

  info(event: string, fields: LogFields = {}): void {
    this.#write("INFO", event, fields);
  }

  warn(event: string, fields: LogFields = {}): void {
    this.#write("WARNING", event, fields);
  }

  error(event: string, fields: LogFields = {}): void {
    this.#write("ERROR", event, fields);
  }

  close(): void {
    this.file?.close();
  }

  /** Adds a listener; the returned function removes it. */
  listen(listener: LogListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    return () => this.#listeners = this.#listeners.filter((l) => l !== listener);
  }

  #write(level: LogLevel, event: string, fields: LogFields): void {
    for (const listener of this.#listeners) listener(event, fields, level);
    if (RANK[level] < RANK[this.level]) return;
    const time = new Date().toISOString();
    const line = this.#format === "json"
      ? `${jsonLine(time, level, event, fields)}\n`
      : `${time} ${level} ${event}${formatFields(fields)}\n`;
    const bytes = this.#encoder.encode(line);
    if (this.stderr) Deno.stderr.writeSync(bytes);
    this.file?.writeSync(bytes);
  }
}

function openLogFile(path: string): Promise<Deno.FsFile> {
  return Deno.open(path, { append: true, create: true });
}

/** The names every JSON line starts with; a field of the same name is written as `_name`. */
const JSON_RESERVED = new Set(["time", "level", "event"]);

/**
 * One JSON object: `time`, `level`, `event`, then the fields (numbers and
 * booleans as such). Beyond JSON.stringify's escapes, C1 controls, DEL and
 * U+2028/U+2029 are escaped too, so no reader splits or misreads a line.
 */
function jsonLine(time: string, level: LogLevel, event: string, fields: LogFields): string {
  const object: Record<string, string | number | boolean> = { time, level, event };
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const name = JSON_RESERVED.has(key) ? `_${key}` : key;
    if (isSecretName(key)) object[name] = "(hidden)";
    else object[name] = typeof value === "string" ? cut(value) : value;
  }
  return JSON.stringify(object).replace(/[\p{Cc}\u2028\u2029]/gu, escapeChar);
}

function escapeChar(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}

function formatFields(fields: LogFields): string {
  let out = "";
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    // A field named like a credential is a caller's mistake; its value stays out of the log.
    const text = isSecretName(key) ? "(hidden)" : String(value);
    out += ` ${key}=${quoteIfNeeded(cut(text))}`;
  }
  return out;
}

function cut(text: string): string {
  return text.length > MAX_FIELD ? `${text.slice(0, MAX_FIELD)}…` : text;
}

/**
 * Plain when safe; otherwise JSON-quoted with every control character
 * escaped, so a client's bytes (a user name, a path) can never inject a
 * line, a terminal escape sequence or a NUL into the log.
 */
function quoteIfNeeded(value: string): string {
  if (/^[^\s"=\p{Cc}]+$/u.test(value)) return value;
  return JSON.stringify(value).replace(/\p{Cc}/gu, escapeChar);
}
