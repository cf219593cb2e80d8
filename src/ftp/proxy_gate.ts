/**
 * Where a connection really comes from: with `proxy_protocol` on, a
 * connection from a trusted balancer must start with a PROXY header, whose
 * addresses then stand for the connection's everywhere (logs, limits, bans,
 * the data connection's address check, `masquerade_address = control`); a
 * connection from anywhere else is refused, so no client can skip the
 * balancer's view of who it is, or claim to be someone else.
 *
 * @module
 */

import { type Cidr, inRanges, parseCidr } from "../config/cidr.ts";
import type { ServerConfig } from "../config/types.ts";
import { unmapIPv4 } from "./passive.ts";
import { type ProxyMode, readProxyHeader } from "./proxy_protocol.ts";

/** How long a trusted sender has for its header: a silent peer must not hold a slot. */
export const HEADER_TIMEOUT_MS = 5000;

/** A connection's two ends as the client sees them. */
export interface Origin {
  /** The client's address. */
  remote: string;
  /** The address the client connected to (the balancer's, when proxied). */
  local: string;
  /** The address this connection reached us on (passive listeners bind it). */
  bind: string;
  /** Whether the addresses came from a PROXY header. */
  proxied: boolean;
}

/** The answer for one connection: its origin, or why it must be closed (to log). */
export type Admitted = { ok: true; origin: Origin } | { ok: false; ip: string; reason: string };

/** The `proxy_protocol` and `proxy_trusted_networks` settings, applied to connections. */
export class ProxyGate {
  readonly #trusted: Cidr[];

  constructor(
    readonly mode: ProxyMode,
    trusted: readonly string[],
    private readonly timeoutMs = HEADER_TIMEOUT_MS,
  ) {
    this.#trusted = trusted.map(parseCidr).filter((cidr) => cidr !== null);
  }

  static of(config: Pick<ServerConfig, "proxyProtocol" | "proxyTrustedNetworks">): ProxyGate {
    return new ProxyGate(config.proxyProtocol, config.proxyTrustedNetworks);
  }

  /** A connection's own addresses. */
  static direct(conn: Deno.Conn<Deno.NetAddr>): Origin {
    const local = unmapIPv4(conn.localAddr.hostname);
    return { remote: unmapIPv4(conn.remoteAddr.hostname), local, bind: local, proxied: false };
  }

  get on(): boolean {
    return this.mode !== "off";
  }

  /**
   * Reads the header of a connection when the protocol is on (consuming
   * exactly the header's bytes); the connection's own addresses when off.
   */
  async admit(conn: Deno.Conn<Deno.NetAddr>): Promise<Admitted> {
    const own = ProxyGate.direct(conn);
    if (!this.on) return { ok: true, origin: own };
    if (!inRanges(own.remote, this.#trusted)) {
      return { ok: false, ip: own.remote, reason: "not from proxy_trusted_networks" };
    }
    const read = await readProxyHeader(conn, this.mode, this.timeoutMs);
    if (!read.ok) return { ok: false, ip: own.remote, reason: read.error };
    const header = read.header;
    if (header.kind === "local") return { ok: true, origin: own };
    return {
      ok: true,
      origin: {
        remote: unmapIPv4(header.source.address),
        local: unmapIPv4(header.destination.address),
        bind: own.bind,
        proxied: true,
      },
    };
  }
}
