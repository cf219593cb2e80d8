/**
 * The PROXY protocol (HAProxy's spec, versions 1 and 2): the header a load
 * balancer puts before a connection's first byte to say who the client is.
 *
 * The parser is pure and incremental: given the bytes so far it answers with
 * the header, an error, or how many more bytes it needs at least. The reader
 * asks the socket for exactly that many, so it never consumes a byte past the
 * header: what follows (an FTP command, upload data, a TLS ClientHello)
 * stays for whoever reads the connection next.
 *
 * @module
 */

import { isIP } from "node:net";

/** `[NETWORK] proxy_protocol`: which versions a trusted sender must use. */
export type ProxyMode = "off" | "v1" | "v2" | "any";

/** One end of the proxied connection. */
export interface Endpoint {
  address: string;
  port: number;
}

/**
 * A parsed header. `proxied`: the client's (`source`) and the balancer's
 * public (`destination`) ends; `local`: the sender speaks for itself (v2
 * LOCAL, health checks; v1 UNKNOWN; v2 families other than TCP over IP), so
 * the connection's own addresses apply.
 */
export type ProxyHeader =
  | { kind: "proxied"; version: 1 | 2; source: Endpoint; destination: Endpoint }
  | { kind: "local"; version: 1 | 2 };

/** What {@link parseProxyHeader} makes of the bytes so far. */
export type ParseStep =
  | { done: true; header: ProxyHeader; length: number }
  | { done: false; need: number }
  | { done: false; error: string };

/** v2's 12-byte signature. */
export const V2_SIGNATURE = new Uint8Array([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);
/** The longest v1 line, CRLF included (the spec's limit). */
export const V1_MAX = 107;
/** Largest v2 address-and-TLV block accepted (the spec allows 65535; nobody sends that much). */
export const V2_MAX_PAYLOAD = 4096;

const V1_PREFIX = "PROXY ";
/** Shortest v1 header ("PROXY UNKNOWN\r\n"): safe to read before deciding anything. */
const V1_MIN = 15;
/** Shortest complete v1 lines by protocol, so the reader does not crawl byte by byte. */
const V1_MIN_BY_PROTO: Record<string, number> = {
  "TCP4": "PROXY TCP4 1.1.1.1 1.1.1.1 1 1\r\n".length,
  "TCP6": "PROXY TCP6 ::1 ::1 1 1\r\n".length,
};
const V2_HEADER = 16;

/** How many bytes to read first: never more than the shortest header `mode` accepts. */
export function firstRead(mode: ProxyMode): number {
  return mode === "v2" ? V2_HEADER : V1_MIN;
}

/** Parses the start of a connection as a PROXY header of a version `mode` accepts. */
export function parseProxyHeader(bytes: Uint8Array, mode: ProxyMode): ParseStep {
  if (mode === "off") return { done: false, error: "PROXY protocol is off" };
  const n = Math.min(bytes.length, V2_SIGNATURE.length);
  if (n > 0 && bytes[0] === 0x0d) {
    if (!startsWith(bytes, V2_SIGNATURE.subarray(0, n))) return bad("not a PROXY header");
    if (mode === "v1") return bad("PROXY v2 header where v1 is configured");
    return parseV2(bytes);
  }
  if (!startsWith(bytes, ascii(V1_PREFIX).subarray(0, Math.min(bytes.length, V1_PREFIX.length)))) {
    return bad("not a PROXY header");
  }
  if (mode === "v2") return bad("PROXY v1 header where v2 is configured");
  return parseV1(bytes);
}

function parseV1(bytes: Uint8Array): ParseStep {
  const end = indexOfCrlf(bytes);
  if (end < 0) {
    if (bytes.length >= V1_MAX) return bad(`PROXY v1 line longer than ${V1_MAX} bytes`);
    // A lone CR not followed by LF, or any control byte, cannot become a valid line.
    if (!plausibleV1(bytes)) return bad("malformed PROXY v1 line");
    const proto = latin1(bytes.subarray(V1_PREFIX.length, V1_PREFIX.length + 4));
    const min = Math.max(V1_MIN, V1_MIN_BY_PROTO[proto] ?? 0);
    return { done: false, need: Math.max(1, Math.min(min, V1_MAX) - bytes.length) };
  }
  const length = end + 2;
  if (length > V1_MAX) return bad(`PROXY v1 line longer than ${V1_MAX} bytes`);
  const fields = latin1(bytes.subarray(V1_PREFIX.length, end)).split(" ");
  if (fields[0] === "UNKNOWN") return { done: true, header: { kind: "local", version: 1 }, length };
  if (fields.length !== 5) return bad("malformed PROXY v1 line");
  const [proto, src, dst, sport, dport] = fields;
  const family = proto === "TCP4" ? 4 : proto === "TCP6" ? 6 : 0;
  if (family === 0) return bad(`unknown PROXY v1 protocol ${JSON.stringify(proto)}`);
  if (isIP(src) !== family || isIP(dst) !== family) return bad("bad address in PROXY v1 line");
  const source = { address: src, port: portOf(sport) };
  const destination = { address: dst, port: portOf(dport) };
  if (source.port < 0 || destination.port < 0) return bad("bad port in PROXY v1 line");
  return { done: true, header: { kind: "proxied", version: 1, source, destination }, length };
}

function parseV2(bytes: Uint8Array): ParseStep {
  if (bytes.length < V2_HEADER) return { done: false, need: V2_HEADER - bytes.length };
  const versionCommand = bytes[12];
  if (versionCommand >> 4 !== 2) return bad("unsupported PROXY v2 version");
  const command = versionCommand & 0x0f;
  if (command > 1) return bad("unknown PROXY v2 command");
  const payload = (bytes[14] << 8) | bytes[15];
  if (payload > V2_MAX_PAYLOAD) return bad(`PROXY v2 header over ${V2_MAX_PAYLOAD} bytes`);
  const length = V2_HEADER + payload;
  if (bytes.length < length) return { done: false, need: length - bytes.length };
  // LOCAL: the balancer's own connection (health checks); addresses and TLVs are ignored.
  if (command === 0) return { done: true, header: { kind: "local", version: 2 }, length };
  const body = bytes.subarray(V2_HEADER, length);
  const family = bytes[13];
  // TCP over IPv4 / IPv6; UNSPEC, UDP and UNIX sockets carry no TCP client to speak of.
  if (family === 0x11) return addresses(body, 4, length);
  if (family === 0x21) return addresses(body, 16, length);
  return { done: true, header: { kind: "local", version: 2 }, length };
}

/** Source, destination, ports; the TLVs after them are skipped. */
function addresses(body: Uint8Array, size: 4 | 16, length: number): ParseStep {
  if (body.length < 2 * size + 4) return bad("PROXY v2 address block too short");
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const address = size === 4 ? ipv4 : ipv6;
  const source = { address: address(body.subarray(0, size)), port: view.getUint16(2 * size) };
  const destination = {
    address: address(body.subarray(size, 2 * size)),
    port: view.getUint16(2 * size + 2),
  };
  return { done: true, header: { kind: "proxied", version: 2, source, destination }, length };
}

function ipv4(b: Uint8Array): string {
  return Array.from(b).join(".");
}

/** Compressed form (RFC 5952), as Deno reports peer addresses. */
function ipv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i] << 8) | b[i + 1]);
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  const head = hex.slice(0, best.at).join(":");
  const tail = hex.slice(best.at + best.len).join(":");
  return `${head}::${tail}`;
}

function portOf(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return -1;
  const port = Number(text);
  return port <= 65535 ? port : -1;
}

/** Printable ASCII so far, with a CR only as the last byte (its LF still to come). */
function plausibleV1(bytes: Uint8Array): boolean {
  return bytes.every((byte, i) =>
    (byte >= 0x20 && byte < 0x7f) || (byte === 0x0d && i === bytes.length - 1)
  );
}

function bad(error: string): ParseStep {
  return { done: false, error };
}

function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.every((byte, i) => bytes[i] === byte);
}

function indexOfCrlf(bytes: Uint8Array): number {
  for (let i = 0; i + 1 < bytes.length; i++) {
    if (bytes[i] === 0x0d && bytes[i + 1] === 0x0a) return i;
  }
  return -1;
}

function ascii(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function latin1(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** Something to read a header from: a `Deno.Conn`, or a test's byte source. */
export interface ByteSource {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** The outcome of {@link readProxyHeader}. */
export type ReadResult = { ok: true; header: ProxyHeader } | { ok: false; error: string };

/**
 * Reads a PROXY header and nothing more: each read asks for at most the
 * bytes the parser still needs. Fails after `timeoutMs` so a silent peer
 * cannot hold a connection slot; the caller closes the connection then
 * (which ends the pending read).
 */
export async function readProxyHeader(
  source: ByteSource,
  mode: ProxyMode,
  timeoutMs: number,
): Promise<ReadResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<ReadResult>((resolve) => {
    timer = setTimeout(
      () => resolve({ ok: false, error: `no PROXY header within ${timeoutMs} ms` }),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([readBounded(source, mode), expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function readBounded(source: ByteSource, mode: ProxyMode): Promise<ReadResult> {
  const buffer = new Uint8Array(V2_HEADER + V2_MAX_PAYLOAD);
  let have = 0;
  let need = firstRead(mode);
  while (true) {
    let n: number | null;
    try {
      n = await source.read(buffer.subarray(have, have + need));
    } catch {
      return { ok: false, error: "connection failed before a PROXY header" };
    }
    if (n === null) return { ok: false, error: "connection closed before a PROXY header" };
    have += n;
    const step = parseProxyHeader(buffer.subarray(0, have), mode);
    if (step.done) return { ok: true, header: step.header };
    if ("error" in step) return { ok: false, error: step.error };
    need = step.need;
  }
}
