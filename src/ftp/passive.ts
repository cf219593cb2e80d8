/**
 * Passive data connections: a pool of ports from the configured range, and
 * listeners that accept exactly one connection from the expected peer.
 *
 * The pool never probes a port and then listens on it later (a race another
 * process can win): it listens directly, and on AddrInUse moves on to the
 * next candidate. A port returns to the pool when its listener closes.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import { FtpError } from "./errors.ts";
import type { ProxyGate } from "./proxy_gate.ts";

/** Called with a data connection refused by the PROXY gate (for the log). */
export type RefusedHook = (ip: string, reason: string) => void;

/** How many ports one PASV tries before giving up. */
const MAX_ATTEMPTS = 64;

/** The ports of `passive_port`, shared by all sessions. */
export class PortPool {
  readonly #inUse = new Set<number>();

  /** `gate`: PROXY protocol on passive connections too (the balancer forwards them). */
  constructor(
    readonly min: number,
    readonly max: number,
    private readonly gate: ProxyGate | null = null,
    private readonly onRefused: RefusedHook = () => {},
  ) {}

  /** Ports currently held by open listeners. */
  get inUse(): number {
    return this.#inUse.size;
  }

  /** Listens on a free port of the range at `hostname`. */
  listen(hostname: string): PassiveListener {
    const span = this.max - this.min + 1;
    const start = Math.floor(Math.random() * span);
    const attempts = Math.min(span, MAX_ATTEMPTS);
    for (let i = 0; i < attempts; i++) {
      const port = this.min + ((start + i) % span);
      if (this.#inUse.has(port)) continue;
      const listener = tryListen(hostname, port);
      if (!listener) continue;
      this.#inUse.add(port);
      const release = () => this.#inUse.delete(port);
      return new PassiveListener(listener, port, release, this.gate, this.onRefused);
    }
    throw new FtpError(425, "No passive port available; try again later");
  }
}

function tryListen(hostname: string, port: number): Deno.TcpListener | null {
  try {
    return Deno.listen({ hostname, port, transport: "tcp" });
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) return null;
    if (error instanceof Deno.errors.PermissionDenied) return null;
    throw error;
  }
}

/**
 * One passive port waiting for its data connection. The port stays taken
 * until {@link release}, i.e. until the transfer that used it has ended.
 */
export class PassiveListener {
  #listening = true;
  #released = false;

  constructor(
    private readonly listener: Deno.TcpListener,
    readonly port: number,
    private readonly onRelease: () => void,
    private readonly gate: ProxyGate | null = null,
    private readonly onRefused: RefusedHook = () => {},
  ) {}

  /**
   * Accepts the first connection coming from `peer`; connections from any
   * other address are closed (they could be someone stealing the transfer).
   * Fails with 425 after `timeoutMs` (0 = no limit), or once {@link release} is called.
   */
  async accept(peer: string, timeoutMs: number): Promise<Deno.TcpConn> {
    const timer = timeoutMs > 0 ? setTimeout(() => this.#stopListening(), timeoutMs) : undefined;
    try {
      while (true) {
        const conn = await this.listener.accept();
        // Like the control connection: a small last write must not wait for a delayed ACK.
        conn.setNoDelay(true);
        if (sameHost(await this.#clientOf(conn), peer)) return conn;
        conn.close();
      }
    } catch {
      throw new FtpError(425, "Can't open data connection: no connection from the client in time");
    } finally {
      clearTimeout(timer);
      this.#stopListening();
    }
  }

  /** The client's address: the PROXY header's source when the gate is on, "" when refused. */
  async #clientOf(conn: Deno.TcpConn): Promise<string> {
    if (!this.gate?.on) return conn.remoteAddr.hostname;
    const admitted = await this.gate.admit(conn);
    if (admitted.ok) return admitted.origin.remote;
    this.onRefused(admitted.ip, admitted.reason);
    return "";
  }

  /** Stops listening (if still) and returns the port to the pool. */
  release(): void {
    this.#stopListening();
    if (this.#released) return;
    this.#released = true;
    this.onRelease();
  }

  #stopListening(): void {
    if (!this.#listening) return;
    this.#listening = false;
    this.listener.close();
  }
}

/** Compares two addresses, treating IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4. */
export function sameHost(a: string, b: string): boolean {
  return unmapIPv4(a) === unmapIPv4(b);
}

/** `::ffff:1.2.3.4` -> `1.2.3.4`; anything else unchanged. */
export function unmapIPv4(address: string): string {
  const match = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return match ? match[1] : address;
}

/** How long a resolved masquerade host name is trusted. */
const MASQUERADE_TTL_MS = 60_000;

/**
 * The IPv4 address PASV replies announce (`masquerade_address`): the
 * address the client reached us on, a fixed address, or a host name
 * resolved at most once a minute (a dynamic DNS name may move).
 */
export class PassiveAddress {
  #resolved = { address: "", expires: 0 };

  constructor(private readonly masquerade: string, private readonly onUnresolved: () => void) {}

  /**
   * The address to announce to a client connected to `localAddress` (with
   * the PROXY protocol: the balancer's address from the header).
   */
  async for(localAddress: string): Promise<string> {
    const masquerade = this.masquerade;
    if (masquerade === "" || masquerade === "control") return localAddress;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(masquerade)) return masquerade;
    if (Date.now() < this.#resolved.expires) return this.#resolved.address;
    try {
      const { address } = await lookup(masquerade, { family: 4 });
      this.#resolved = { address, expires: Date.now() + MASQUERADE_TTL_MS };
      return address;
    } catch {
      this.onUnresolved();
      throw new FtpError(425, `Cannot resolve masquerade_address ${masquerade}`);
    }
  }
}
