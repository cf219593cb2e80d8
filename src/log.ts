/**
 * The server log: one line per event, `key=value` fields, to stderr and
 * (when configured) appended to `<log_dir>/cos_v5.log`, the file name the
 * original used so existing log collectors keep working.
 *
 * Callers pass structured fields; passwords are never among them (the PASS
 * argument is never logged).
 *
 * @module
 */

import { isSecretName } from "./config/show.ts";
import type { LogLevel } from "./config/types.ts";

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

  constructor(
    private readonly level: LogLevel,
    private readonly file: Deno.FsFile | null = null,
    private readonly stderr = true,
  ) {}

  /** Opens `<dir>/cos_v5.log` for appending ("" = stderr only). */
  static async open(level: LogLevel, dir: string, stderr = true): Promise<Logger> {
    if (dir === "") return new Logger(level, null, stderr);
    await Deno.mkdir(dir, { recursive: true });
    const file = await Deno.open(`${dir}/${LOG_FILE_NAME}`, { append: true, create: true });
    return new Logger(level, file, stderr);
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
    const line = `${new Date().toISOString()} ${level} ${event}${formatFields(fields)}\n`;
    const bytes = this.#encoder.encode(line);
    if (this.stderr) Deno.stderr.writeSync(bytes);
    this.file?.writeSync(bytes);
  }
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
  return JSON.stringify(value).replace(
    /\p{Cc}/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}
