/**
 * A session's data channel: at most one prepared data connection at a time
 * (a passive port from PASV/EPSV, or an active target from PORT/EPRT), and
 * the connection a transfer runs over.
 *
 * @module
 */

import { closeQuietly } from "./close.ts";
import { type ActiveTarget, checkActiveTarget, familyOf } from "./active.ts";
import { FtpError } from "./errors.ts";
import type { PassiveListener, PortPool } from "./passive.ts";
import type { SecureOptions, TlsUpgrader } from "./tls.ts";

/** The byte pipe of one transfer. */
export interface DataConnection {
  /** Reads into `buffer`; the byte count, or `null` at a clean EOF. Rejects on a reset. */
  read(buffer: Uint8Array): Promise<number | null>;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /**
   * Ends the sending side cleanly: everything written is flushed, then EOF
   * (with TLS, a close_notify first, so the client can tell the end from a cut).
   */
  finish(): Promise<void>;
  /**
   * The same connection with TLS on top (PROT P), the client handshaking now:
   * RFC 4217 clients start TLS on the data connection after the 150 reply.
   * `upload`: the client only sends (see {@link SecureOptions.holdAfterHandshake}).
   */
  secure(tls: TlsUpgrader, upload: boolean): Promise<DataConnection>;
  /** Closes the connection and frees its port; safe to call twice. */
  close(): void;
}

/** A passive port waiting for the client (the accept starts at PASV time). */
interface PendingPassive {
  mode: "passive";
  listener: PassiveListener;
  conn: Promise<Deno.TcpConn | FtpError>;
}

/** A port on the client to connect to when the transfer starts. */
interface PendingActive {
  mode: "active";
  port: number;
}

type Pending = PendingPassive | PendingActive;

/** Passive and active data connections for one control session. */
export class DataChannels {
  #pending: Pending | null = null;

  constructor(
    private readonly pool: PortPool,
    /**
     * The control connection's peer: the only address a passive data
     * connection may come from, and the only one an active one goes to.
     */
    private readonly peer: string,
    /** Limit on waiting for a passive connection or an active connect (0 = none). */
    private readonly acceptTimeoutMs: number,
  ) {}

  /** Whether PASV/EPSV or PORT/EPRT has prepared a connection. */
  get prepared(): boolean {
    return this.#pending !== null;
  }

  /** How the prepared connection will be made, or `null` when none is. */
  get mode(): "passive" | "active" | null {
    return this.#pending?.mode ?? null;
  }

  /** Listens on a passive port at `hostname` (dropping any earlier one) and returns the port. */
  openPassive(hostname: string): number {
    this.discard();
    const listener = this.pool.listen(hostname);
    const conn = listener.accept(this.peer, this.acceptTimeoutMs).catch((error) =>
      error instanceof FtpError ? error : new FtpError(425, "Can't open data connection")
    );
    this.#pending = { mode: "passive", listener, conn };
    return listener.port;
  }

  /**
   * Prepares an active connection to `host`:`port` (dropping any earlier
   * one); nothing connects until a transfer calls {@link connect}. Throws
   * (500/504/522, preparing nothing) unless `host` is the client's own
   * address and `port` is 1024 or above: the bounce protection. `command`
   * (PORT or EPRT) names the command in such a reply.
   */
  openActive(host: string, port: number, command = "PORT"): void {
    this.discard();
    const target: ActiveTarget = { family: familyOf(host), host, port };
    checkActiveTarget(command, target, this.peer);
    this.#pending = { mode: "active", port };
  }

  /**
   * Waits for the prepared connection (passive) or connects to the client
   * (active); 425 when none was prepared or none came. Aborting `signal`
   * stops the wait.
   */
  async connect(signal: AbortSignal): Promise<DataConnection> {
    const pending = this.#pending;
    if (!pending) throw new FtpError(425, "Use PASV or EPSV first");
    this.#pending = null;
    const release = () => {
      if (pending.mode === "passive") pending.listener.release();
    };
    let conn: Deno.TcpConn;
    try {
      conn = pending.mode === "passive"
        ? await this.#accept(pending, signal)
        : await this.#dial(pending.port, signal);
    } catch (error) {
      release();
      throw error;
    }
    return new StreamDataConnection(conn, conn, release);
  }

  /** Drops a prepared connection that no transfer will use. */
  discard(): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = null;
    if (pending.mode !== "passive") return;
    pending.listener.release();
    pending.conn.then((conn) => conn instanceof FtpError || conn.close());
  }

  async #accept(pending: PendingPassive, signal: AbortSignal): Promise<Deno.TcpConn> {
    const stopWaiting = () => pending.listener.release();
    signal.addEventListener("abort", stopWaiting, { once: true });
    const conn = await pending.conn;
    signal.removeEventListener("abort", stopWaiting);
    if (conn instanceof FtpError) throw conn;
    return conn;
  }

  /** Connects to the client's `port`, at the peer address only (never a name it gave). */
  async #dial(port: number, signal: AbortSignal): Promise<Deno.TcpConn> {
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    if (signal.aborted) onAbort();
    let timedOut = false;
    const timer = this.acceptTimeoutMs > 0
      ? setTimeout(() => {
        timedOut = true;
        stop.abort();
      }, this.acceptTimeoutMs)
      : undefined;
    try {
      const conn = await Deno.connect({
        hostname: this.peer,
        port,
        transport: "tcp",
        signal: stop.signal,
      });
      // A small last write must not wait for the client's delayed ACK.
      conn.setNoDelay(true);
      return conn;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const where = `${this.peer} port ${port}`;
      const reason = timedOut ? `no answer from ${where} in time` : connectFailure(error, where);
      throw new FtpError(425, `Can't open data connection: ${reason}`);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }
}

/** Why a connect failed, in words fit for a reply (no stack, no internals). */
function connectFailure(error: unknown, where: string): string {
  if (error instanceof Deno.errors.ConnectionRefused) return `connection refused by ${where}`;
  if (error instanceof Deno.errors.TimedOut) return `connecting to ${where} timed out`;
  if (error instanceof Error && error.message) {
    return `connecting to ${where} failed (${error.message.replace(/\s*\(os error \d+\)$/, "")})`;
  }
  return `connecting to ${where} failed`;
}

/** A data connection over TCP, or over TLS on top of TCP (`conn` then is the TLS side). */
class StreamDataConnection implements DataConnection {
  #closed = false;
  #finished = false;

  constructor(
    private readonly conn: Deno.Conn,
    private readonly tcp: Deno.Conn<Deno.NetAddr>,
    private readonly onClose: () => void,
    /** With TLS: resolves when the relay has delivered everything to the client. */
    private readonly drained: Promise<void> = Promise.resolve(),
    /** With TLS: lets through what the relay held back for an upload. */
    private readonly release: () => void = () => {},
  ) {}

  read(buffer: Uint8Array): Promise<number | null> {
    return this.conn.read(buffer);
  }

  async secure(tls: TlsUpgrader, upload: boolean): Promise<DataConnection> {
    try {
      const options: SecureOptions = { holdAfterHandshake: upload };
      const secured = await tls.secure(this.tcp, new Uint8Array(), options);
      return new StreamDataConnection(
        secured.conn,
        this.tcp,
        this.onClose,
        secured.drained,
        secured.release,
      );
    } catch {
      this.close();
      throw new FtpError(425, "Can't open data connection: TLS handshake failed");
    }
  }

  async finish(): Promise<void> {
    if (this.#finished) return;
    this.#finished = true;
    this.release();
    await this.conn.closeWrite();
    await this.drained;
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.conn.readable;
  }

  get writable(): WritableStream<Uint8Array> {
    return this.conn.writable;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.release();
    closeQuietly(this.conn, this.tcp);
    this.onClose();
  }
}
