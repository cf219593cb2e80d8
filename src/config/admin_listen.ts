/**
 * `[ADMIN] listen`: where the admin HTTP listener (metrics, health) binds.
 * Off unless set; bound exactly where the operator says, never widened.
 *
 * @module
 */

import { isIP } from "node:net";
import { quoted } from "./show.ts";
import { fail, ok, type Parser } from "./values.ts";

/** A parsed `host:port`. */
export interface HostPort {
  hostname: string;
  port: number;
}

const SHAPE = "must be host:port with an IP address, such as 127.0.0.1:9121 or [::1]:9121";

/** `a.b.c.d:port` or `[v6]:port`; the host an IP literal (no DNS at bind time), port 0-65535. */
export function splitHostPort(raw: string): HostPort | string {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(raw) ?? /^([^:\[\]]+):(\d{1,5})$/.exec(raw);
  if (!match) return `${SHAPE}, got ${quoted(raw)}`;
  const [, hostname, digits] = match;
  if (isIP(hostname) === 0) return `${quoted(hostname)} is not an IP address; ${SHAPE}`;
  const port = Number(digits);
  if (port > 65535) return `port ${port} is above 65535`;
  return { hostname, port };
}

/** The key's parser: "" = off; else a checked `host:port`, kept as written. */
export const parseAdminListen: Parser<string> = (raw) => {
  if (raw === "") return ok("");
  const parsed = splitHostPort(raw);
  return typeof parsed === "string" ? fail(parsed) : ok(raw);
};

/**
 * Whether the admin listener is reachable from this machine only: 127.0.0.0/8, ::1, and
 * 127.0.0.0/8 written as IPv4-mapped IPv6 (::ffff:127.0.0.1, which binds the same loopback).
 */
export function isLoopback(hostname: string): boolean {
  if (isIP(hostname) === 4) return hostname.startsWith("127.");
  if (isIP(hostname) !== 6) return false;
  // The URL parser writes any IPv6 spelling one way: [::1], and [::ffff:7f00:1] for a
  // mapped 127.0.0.1 (also written 0:0:0:0:0:ffff:127.0.0.1 or ::FFFF:7F00:1).
  const canonical = new URL(`http://[${hostname}]/`).hostname;
  return canonical === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(canonical);
}
