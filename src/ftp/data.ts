/**
 * A session's data channel: at most one prepared passive port at a time, and
 * the connection a transfer runs over.
 *
 * @module
 */

import { FtpError } from "./errors.ts";
import type { PassiveListener, PortPool } from "./passive.ts";

/** The byte pipe of one transfer. */
export interface DataConnection {
  /** Reads into `buffer`; the byte count, or `null` at a clean EOF. Rejects on a reset. */
  read(buffer: Uint8Array): Promise<number | null>;
  readonly readable: ReadableStream<Uint8Array>;
  readonly writable: WritableStream<Uint8Array>;
  /** Closes the connection and frees its port; safe to call twice. */
  close(): void;
}

interface Pending {
  listener: PassiveListener;
  conn: Promise<Deno.TcpConn | FtpError>;
}

/** Passive data connections for one control session. */
export class DataChannels {
  #pending: Pending | null = null;

  constructor(
    private readonly pool: PortPool,
    /** The control connection's peer: the only address a data connection may come from. */
    private readonly peer: string,
    private readonly acceptTimeoutMs: number,
  ) {}

  /** Whether PASV/EPSV has prepared a connection. */
  get prepared(): boolean {
    return this.#pending !== null;
  }

  /** Listens on a passive port at `hostname` (dropping any earlier one) and returns the port. */
  openPassive(hostname: string): number {
    this.discard();
    const listener = this.pool.listen(hostname);
    const conn = listener.accept(this.peer, this.acceptTimeoutMs).catch((error) =>
      error instanceof FtpError ? error : new FtpError(425, "Can't open data connection")
    );
    this.#pending = { listener, conn };
    return listener.port;
  }

  /**
   * Waits for the prepared connection; 425 when none was prepared or none
   * came. Aborting `signal` stops the wait.
   */
  async connect(signal: AbortSignal): Promise<DataConnection> {
    const pending = this.#pending;
    if (!pending) throw new FtpError(425, "Use PASV or EPSV first");
    this.#pending = null;
    const stopWaiting = () => pending.listener.release();
    signal.addEventListener("abort", stopWaiting, { once: true });
    const conn = await pending.conn;
    signal.removeEventListener("abort", stopWaiting);
    if (conn instanceof FtpError) {
      pending.listener.release();
      throw conn;
    }
    return new TcpDataConnection(conn, () => pending.listener.release());
  }

  /** Drops a prepared connection that no transfer will use. */
  discard(): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = null;
    pending.listener.release();
    pending.conn.then((conn) => conn instanceof FtpError || conn.close());
  }
}

class TcpDataConnection implements DataConnection {
  #closed = false;

  constructor(private readonly conn: Deno.TcpConn, private readonly onClose: () => void) {}

  read(buffer: Uint8Array): Promise<number | null> {
    return this.conn.read(buffer);
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
    try {
      this.conn.close();
    } catch {
      // Already closed by its stream (writable.close() closes the resource).
    }
    this.onClose();
  }
}
