/**
 * Active mode: parsing PORT (RFC 959) and EPRT (RFC 2428) arguments, and the
 * bounce protection every active data connection must pass: the server
 * connects only to the control connection's own peer, and never to a
 * privileged port (below 1024). Without these checks a client could make the
 * server open connections to third parties (the "FTP bounce" attack).
 *
 * @module
 */

import { FtpError } from "./errors.ts";
import { sameHost, unmapIPv4 } from "./passive.ts";

/** The lowest port an active data connection may go to. */
export const MIN_ACTIVE_PORT = 1024;

/** Where a PORT or EPRT asks the server to connect. */
export interface ActiveTarget {
  /** RFC 2428 network protocol: 1 = IPv4, 2 = IPv6. */
  family: 1 | 2;
  host: string;
  port: number;
}

/** `h1,h2,h3,h4,p1,p2` (each 0..255) -> IPv4 address and port; 501 when malformed. */
export function parsePort(arg: string): ActiveTarget {
  const fields = arg.trim().split(/\s*,\s*/);
  const numbers = fields.map((field) => /^\d{1,3}$/.test(field) ? Number(field) : NaN);
  if (numbers.length !== 6 || numbers.some((n) => !(n <= 255))) {
    throw new FtpError(501, "Syntax error in PORT: use PORT h1,h2,h3,h4,p1,p2 (each 0-255)");
  }
  return { family: 1, host: numbers.slice(0, 4).join("."), port: numbers[4] * 256 + numbers[5] };
}

/**
 * `<d><proto><d><address><d><port><d>` -> target; 501 when malformed, 522
 * for a protocol other than 1 (IPv4) and 2 (IPv6).
 */
export function parseEprt(arg: string, supported: 1 | 2): ActiveTarget {
  const text = arg.trim();
  const malformed = (why: string) =>
    new FtpError(501, `Syntax error in EPRT (${why}): use EPRT |1|a.b.c.d|port| or |2|ipv6|port|`);
  const delimiter = text[0] ?? "";
  const code = delimiter.charCodeAt(0);
  if (!(code >= 33 && code <= 126) || /[0-9a-fA-F.:]/.test(delimiter)) {
    throw malformed("bad delimiter");
  }
  const parts = text.split(delimiter);
  if (parts.length !== 5 || parts[0] !== "" || parts[4] !== "") throw malformed("bad fields");
  const [, proto, address, portText] = parts;
  if (!/^\d+$/.test(proto)) throw malformed("bad protocol");
  if (proto !== "1" && proto !== "2") {
    throw new FtpError(522, `Network protocol not supported, use (${supported})`);
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw malformed("bad port");
  const family = proto === "1" ? 1 : 2;
  const host = family === 1 ? canonicalIPv4(address) : canonicalIPv6(address);
  if (host === null) throw malformed(`bad IPv${family === 1 ? 4 : 6} address`);
  return { family, host, port: Number(portText) };
}

/** The RFC 2428 protocol number of an address: 2 for IPv6, else 1. */
export function familyOf(address: string): 1 | 2 {
  return unmapIPv4(address).includes(":") ? 2 : 1;
}

/**
 * Bounce protection: refuses a target that is not the client's own address
 * (`peer`, the control connection's remote address) or names a port below
 * 1024. `command` names the command in the reply.
 */
export function checkActiveTarget(command: string, target: ActiveTarget, peer: string): void {
  const family = familyOf(peer);
  if (target.family !== family) {
    if (command === "EPRT") {
      throw new FtpError(522, `Network protocol not supported, use (${family})`);
    }
    throw new FtpError(
      500,
      `Illegal ${command} command: ${command} is IPv4-only and this connection is IPv6; use EPRT`,
    );
  }
  if (!sameHost(canonicalHost(target.host), canonicalHost(peer))) {
    throw new FtpError(
      500,
      `Illegal ${command} command: address must be the client's own (${unmapIPv4(peer)})`,
    );
  }
  if (!Number.isInteger(target.port) || target.port < MIN_ACTIVE_PORT || target.port > 65535) {
    throw new FtpError(
      504,
      `Illegal ${command} command: port ${target.port} refused (ports below ${MIN_ACTIVE_PORT} are never used)`,
    );
  }
}

/** Dotted-quad IPv4 with each part 0..255, without leading zeros kept; `null` when not one. */
function canonicalIPv4(address: string): string | null {
  const parts = address.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return null;
  }
  return parts.map(Number).join(".");
}

/** The compressed lower-case form of an IPv6 literal (`0:0::1` -> `::1`); `null` when not one. */
function canonicalIPv6(address: string): string | null {
  if (!address.includes(":") || !/^[0-9a-fA-F:.]+$/.test(address)) return null;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
}

/** An address in a form that compares equal for equal hosts (IPv4-mapped IPv6 as IPv4). */
function canonicalHost(address: string): string {
  const bare = address.replace(/%.*$/, ""); // an IPv6 zone id names an interface, not a host
  if (!bare.includes(":")) return canonicalIPv4(bare) ?? bare;
  return unmapIPv4(canonicalIPv6(bare) ?? bare.toLowerCase());
}
