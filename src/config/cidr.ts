/**
 * Address ranges in CIDR notation (`10.0.0.0/8, ::1/128`): parsed once from
 * the config, matched against every connection's peer address.
 *
 * @module
 */

import { isIP } from "node:net";
import { quoted } from "./show.ts";
import { fail, ok, type Parser } from "./values.ts";

/** One range: the network's bits and how many of them count. */
export interface Cidr {
  family: 4 | 6;
  bits: bigint;
  prefix: number;
}

/** `a.b.c.d/n` or `x::y/n` (a bare address is /32 or /128); comma-separated lists. */
export const parseCidrList: Parser<string[]> = (raw) => {
  const out: string[] = [];
  for (const item of raw.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
    const cidr = parseCidr(item);
    if (cidr === null) return fail(`${quoted(item)} is not an address range like 10.0.0.0/8`);
    out.push(item.includes("/") ? item : `${item}/${cidr.prefix}`);
  }
  return ok(out);
};

/** One range, or null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const [address, prefixText, extra] = text.split("/");
  if (extra !== undefined) return null;
  const family = isIP(address);
  if (family !== 4 && family !== 6) return null;
  const width = family === 4 ? 32 : 128;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? width : Number(prefixText);
  if (prefix > width) return null;
  return { family, bits: mask(toBits(address, family), prefix, width), prefix };
}

/** Whether `address` (an IP; IPv4-mapped IPv6 counts as IPv4) is in one of `ranges`. */
export function inRanges(address: string, ranges: readonly Cidr[]): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const ip = mapped ? mapped[1] : address;
  const family = isIP(ip);
  if (family !== 4 && family !== 6) return false;
  const width = family === 4 ? 32 : 128;
  const bits = toBits(ip, family);
  return ranges.some((range) =>
    range.family === family && mask(bits, range.prefix, width) === range.bits
  );
}

function mask(bits: bigint, prefix: number, width: number): bigint {
  const host = BigInt(width - prefix);
  return (bits >> host) << host;
}

function toBits(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split(".").reduce((acc, part) => (acc << 8n) | BigInt(part), 0n);
  return ipv6Groups(address).reduce((acc, group) => (acc << 16n) | BigInt(group), 0n);
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail split). */
function ipv6Groups(address: string): number[] {
  let text = address.replace(/%.*$/, "");
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = text.slice(0, v4.index) +
      `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split("::");
  const parse = (part: string | undefined) =>
    part ? part.split(":").map((group) => parseInt(group, 16)) : [];
  const front = parse(head);
  const back = parse(tail);
  const zeros = tail === undefined ? [] : new Array(8 - front.length - back.length).fill(0);
  return [...front, ...zeros, ...back];
}
