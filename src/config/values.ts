/**
 * Parsers for single config values. Each returns a result instead of throwing so
 * the caller can attach file, line and key to the message.
 *
 * @module
 */

import { isIP } from "node:net";
import { mayHoldSecret, quoted } from "./show.ts";
import type { LogLevel } from "./types.ts";

/** A parsed value, or why it was rejected (without echoing secrets). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** Turns one trimmed, non-empty value into `T`. */
export type Parser<T> = (raw: string) => Parsed<T>;

/** Wraps a valid value. */
export function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}

/** Wraps a rejection message. */
export function fail<T>(message: string): Parsed<T> {
  return { ok: false, message };
}

/** `default` (any case) and the empty string both mean "use the key's default". */
export function isDefaultValue(raw: string): boolean {
  return raw === "" || raw.toLowerCase() === "default";
}

/** A whole number in `[min, max]`; the message states the range. */
export function integerIn(min: number, max: number, note = ""): Parser<number> {
  const range = `a whole number from ${min} to ${max}${note}`;
  return (raw) => {
    if (!/^\+?\d+$/.test(raw)) return fail(`must be ${range}, got ${quoted(raw)}`);
    const value = Number(raw);
    return value >= min && value <= max ? ok(value) : fail(`${value} is out of range: ${range}`);
  };
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
};

/** Bytes as a whole number, optionally with a binary K/M/G/T suffix (`20G`, `8MiB`, `512KB`). */
export function sizeIn(min: number, max: number, note = ""): Parser<number> {
  const range = `from ${describeBytes(min)} to ${describeBytes(max)}${note}`;
  return (raw) => {
    const match = /^\+?(\d+)\s*([KMGT]?)(?:I?B)?$/.exec(raw.toUpperCase());
    if (match === null) {
      return fail(
        `must be a size in bytes (a whole number, optionally with K, M, G or T), ${range}`,
      );
    }
    const value = Number(match[1]) * SIZE_UNITS[match[2]];
    return value >= min && value <= max ? ok(value) : fail(`${raw} is out of range: ${range}`);
  };
}

/** `8388608` -> `8 MiB (8388608)`; plain numbers below 1 KiB. */
export function describeBytes(bytes: number): string {
  const units = ["TiB", "GiB", "MiB", "KiB"];
  for (const [i, unit] of units.entries()) {
    const size = 2 ** (10 * (4 - i));
    if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit} (${bytes})`;
  }
  return String(bytes);
}

/** Seconds (decimals allowed) in `[0, maxSeconds]`, returned as whole milliseconds. */
export function secondsIn(maxSeconds: number, note = ""): Parser<number> {
  const range = `a number of seconds from 0 to ${maxSeconds}${note}`;
  return (raw) => {
    if (!/^\+?(\d+\.?\d*|\.\d+)$/.test(raw)) return fail(`must be ${range}, got ${quoted(raw)}`);
    const seconds = Number(raw);
    if (seconds > maxSeconds) return fail(`${raw} is out of range: ${range}`);
    return ok(Math.round(seconds * 1000));
  };
}

const BOOLEANS: Record<string, boolean> = {
  true: true,
  yes: true,
  on: true,
  "1": true,
  false: false,
  no: false,
  off: false,
  "0": false,
};

/** true/false, yes/no, on/off, 1/0 in any case. */
export const parseBool: Parser<boolean> = (raw) => {
  const value = BOOLEANS[raw.toLowerCase()];
  return value === undefined ? fail(`must be true or false (or yes/no, on/off, 1/0)`) : ok(value);
};

/** What an `authority` string grants. */
export interface Authority {
  canRead: boolean;
  canWrite: boolean;
}

/** Letters from R, W and O (e.g. RW, RO, WO); at least one of R and W. */
export const parseAuthority: Parser<Authority> = (raw) => {
  const upper = raw.toUpperCase();
  const canRead = upper.includes("R");
  const canWrite = upper.includes("W");
  if (!/^[RWO]+$/.test(upper) || (!canRead && !canWrite)) {
    return fail(
      `${quoted(raw)} is not valid: use letters R (read) and W (write), e.g. RW, RO or WO`,
    );
  }
  return ok({ canRead, canWrite });
};

const LOG_LEVELS: Record<string, LogLevel> = {
  DEBUG: "DEBUG",
  INFO: "INFO",
  WARNING: "WARNING",
  WARN: "WARNING",
  ERROR: "ERROR",
  // We have nothing more severe than ERROR; the original (Python logging) did.
  CRITICAL: "ERROR",
};

/** DEBUG, INFO, WARNING (WARN), ERROR or CRITICAL (treated as ERROR), any case. */
export const parseLogLevel: Parser<LogLevel> = (raw) => {
  const level = LOG_LEVELS[raw.toUpperCase()];
  return level === undefined ? fail(`must be DEBUG, INFO, WARNING, ERROR or CRITICAL`) : ok(level);
};

/** `a,b` or `a-b`, 1..65535, a <= b. */
export const parsePortRange: Parser<{ min: number; max: number }> = (raw) => {
  const usage = `must be two ports from 1 to 65535 as "first,last" or "first-last"`;
  const match = /^(\d+)\s*[,-]\s*(\d+)$/.exec(raw);
  if (match === null) return fail(`${usage}, got ${quoted(raw)}`);
  const [min, max] = [Number(match[1]), Number(match[2])];
  if (min < 1 || max > 65535) return fail(`${raw} is out of range: ${usage}`);
  return min <= max ? ok({ min, max }) : fail(`first port ${min} is greater than last port ${max}`);
};

/** An IPv4 or IPv6 literal to bind to; `[::1]` brackets are stripped. */
export const parseListenAddress: Parser<string> = (raw) => {
  const address = /^\[.*\]$/.test(raw) ? raw.slice(1, -1) : raw;
  return isIP(address) === 0
    ? fail(`must be an IPv4 or IPv6 address such as 0.0.0.0, 127.0.0.1, :: or ::1`)
    : ok(address);
};

/** An IPv4 literal or a DNS host name: PASV replies can only carry IPv4. */
export const parseMasquerade: Parser<string> = (raw) => {
  const bare = /^\[.*\]$/.test(raw) ? raw.slice(1, -1) : raw;
  if (isIP(bare) === 6) {
    return fail(`IPv6 cannot be announced: PASV replies carry IPv4 only; use IPv4 or a host name`);
  }
  if (isIP(raw) === 4) return ok(raw);
  if (/^[\d.]+$/.test(raw)) return fail(`${quoted(raw)} is not a valid IPv4 address`);
  return isHostName(raw) ? ok(raw) : fail(`must be an IPv4 address or a DNS host name`);
};

function isHostName(name: string): boolean {
  const label = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;
  const labels = name.replace(/\.$/, "").split(".");
  return name.length <= 253 && labels.every((part) => label.test(part));
}

/** Values like `XXXXXX`, `XXX.XXX.XXX.XXX` or `<your SecretId>` left over from the docs. */
export function isPlaceholder(raw: string): boolean {
  return /^x{2,}$/i.test(raw) || /^x+(\.x+){3}$/i.test(raw) || /^(<.*>|\{.*\})$/.test(raw);
}

/** `cos` or `local`, any case. */
export const parseStorageKind: Parser<"cos" | "local"> = (raw) => {
  const kind = raw.toLowerCase();
  return kind === "cos" || kind === "local" ? ok(kind) : fail(`must be "cos" or "local"`);
};

/** `name-appid`: COS bucket names are lowercase letters, digits and `-`; the APPID is digits. */
export const parseBucket: Parser<string> = (raw) => {
  return /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?-\d+$/.test(raw) ? ok(raw) : fail(
    `must be <name>-<appid> (lowercase letters, digits and '-', then the numeric APPID), ` +
      `e.g. examplebucket-1250000000`,
  );
};

/** `http` or `https`, any case. */
export const parseProtocol: Parser<"http" | "https"> = (raw) => {
  const protocol = raw.toLowerCase();
  return protocol === "http" || protocol === "https"
    ? ok(protocol)
    : fail(`must be "http" or "https"`);
};

/** A key prefix: no leading slash, one trailing slash, no `.`/`..` segments; "" for none. */
export const parseCosPrefix: Parser<string> = (raw) => {
  const segments = raw.split("/").filter((segment) => segment !== "");
  if (segments.some((segment) => segment === "." || segment === "..")) {
    return fail(`must not contain "." or ".." segments`);
  }
  return ok(segments.length === 0 ? "" : `${segments.join("/")}/`);
};

/** Free text without whitespace inside, e.g. a region or an endpoint. */
export const parseToken: Parser<string> = (raw) => {
  if (/[\s\p{Cc}]/u.test(raw)) return fail(`must not contain spaces or control characters`);
  return mayHoldSecret(raw)
    ? fail(`must not contain "=" or a secret key's name (two lines joined? the value is not shown)`)
    : ok(raw);
};

/**
 * A file or directory path. `=` is refused: it is rare in paths and usual where a lost
 * newline joined two lines, whose second half (maybe a secret) would then be printed
 * wherever the path is.
 */
export const parsePath: Parser<string> = (raw) => {
  if (raw.includes("=")) {
    return fail(`must not contain "=" (two lines joined? the value is not shown)`);
  }
  return /\p{Cc}/u.test(raw) ? fail(`must not contain control characters`) : ok(raw);
};

/** `1.2` or `1.3` (also written TLSv1.2, tls1.3). */
export const parseTlsVersion: Parser<"1.2" | "1.3"> = (raw) => {
  const version = raw.trim().toLowerCase().replace(/^tls\s*v?/, "");
  if (version === "1.2" || version === "1.3") return ok(version);
  return fail(`${quoted(raw)} is not a TLS version: use 1.2 or 1.3`);
};
