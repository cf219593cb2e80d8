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

/** Whether the admin listener is reachable from this machine only. */
export function isLoopback(hostname: string): boolean {
  return /^127\./.test(hostname) || hostname === "::1";
}
