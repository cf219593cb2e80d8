/**
 * TLS for FTPS: loading the certificate, and turning an accepted plain TCP
 * connection into a server-side TLS connection.
 *
 * Deno 2.9.6 has no server-side STARTTLS (`Deno.startTls` is client-only,
 * and node:tls `TLSSocket({isServer: true})` does not handshake over an
 * existing socket). So an upgrade relays the connection through an
 * in-process `Deno.listenTls` listener on loopback: the client's bytes are
 * copied to a loopback connection, the listener's side of which is the TLS
 * server. The cost is two extra copies through the kernel per byte (the
 * benchmark measures it).
 *
 * @module
 */

import { closeQuietly } from "./close.ts";
import type { TlsConfig } from "../config/types.ts";

/** How long a TLS handshake may take before the connection is dropped. */
const HANDSHAKE_TIMEOUT_MS = 30_000;

/** The certificate and key, read and proven usable. */
export interface TlsMaterial {
  cert: string;
  key: string;
}

/** Reads the PEM files; errors name the file and say what is wrong. */
export async function loadTlsMaterial(config: TlsConfig): Promise<TlsMaterial> {
  if (config.minVersion === "1.3") {
    throw new Error(
      "min_tls_version = 1.3 cannot be enforced by this runtime (it accepts TLS 1.2 and 1.3, " +
        "never 1.0 or 1.1); use 1.2",
    );
  }
  const cert = await readPem(config.certFile, "CERTIFICATE");
  const key = await readPem(config.keyFile, "PRIVATE KEY");
  try {
    Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key }).close();
  } catch (error) {
    throw new Error(
      `${config.certFile} / ${config.keyFile}: not a usable certificate and key: ${
        messageOf(error)
      }`,
    );
  }
  return { cert, key };
}

async function readPem(path: string, label: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`${path}: cannot read: ${messageOf(error)}`);
  }
  if (!text.includes("-----BEGIN") || !text.includes(label)) {
    throw new Error(`${path}: not a PEM file with a ${label}`);
  }
  return text;
}

/** A connection upgraded to TLS. */
export interface Secured {
  conn: Deno.TlsConn;
  /**
   * Resolves once everything the TLS side wrote has been handed to the
   * client's socket and that socket is closed: only then is a download
   * really sent (closing the client's socket earlier would cut it).
   */
  drained: Promise<void>;
  /** Lets through what {@link SecureOptions.holdAfterHandshake} held back. */
  release(): void;
}

/** How to relay. */
export interface SecureOptions {
  /**
   * For uploads: hold back what the server sends after the client's
   * handshake is done (TLS 1.3 session tickets) until {@link Secured.release}.
   * A client that uploads never reads them, and closing its socket with
   * unread bytes makes its kernel send a reset, which destroys the tail of
   * the upload still in our kernel's buffer (seen with curl: 0.7 MB of 2 MB).
   */
  holdAfterHandshake?: boolean;
}

/** Upgrades accepted connections to TLS through a loopback TLS listener. */
export class TlsUpgrader {
  readonly #listener: Deno.TlsListener;
  readonly #waiting = new Map<number, (conn: Deno.TlsConn) => void>();
  readonly #accepting: Promise<void>;

  constructor(readonly material: TlsMaterial) {
    this.#listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...material });
    this.#accepting = this.#acceptLoop();
  }

  /**
   * The server side of TLS over `outer`, after the handshake. `early` holds
   * bytes already read from `outer` that belong to the TLS stream.
   */
  async secure(
    outer: Deno.Conn<Deno.NetAddr>,
    early: Uint8Array = new Uint8Array(),
    options: SecureOptions = {},
  ): Promise<Secured> {
    const inner = await Deno.connect({ hostname: "127.0.0.1", port: this.#listener.addr.port });
    // Each relayed write goes on at once, as on a plain connection.
    inner.setNoDelay(true);
    const accepted = new Promise<Deno.TlsConn>((resolve) =>
      this.#waiting.set(inner.localAddr.port, resolve)
    );
    const gate = new Gate();
    const watcher = options.holdAfterHandshake ? handshakeWatcher(() => gate.close()) : null;
    const drained = relay(outer, inner, early, watcher, gate);
    const timer = setTimeout(() => closeQuietly(outer, inner), HANDSHAKE_TIMEOUT_MS);
    try {
      const conn = await accepted;
      await conn.handshake();
      return { conn, drained, release: () => gate.open() };
    } catch {
      closeQuietly(outer, inner);
      throw new Error("TLS handshake failed");
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(inner.localAddr.port);
    }
  }

  async close(): Promise<void> {
    this.#listener.close();
    await this.#accepting;
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        const waiter = this.#waiting.get(conn.remoteAddr.port);
        // Anything else on this loopback port is not one of our relays.
        if (waiter) waiter(conn);
        else conn.close();
      }
    } catch {
      // The listener was closed.
    }
  }
}

/**
 * Copies bytes both ways. The client's end is passed on as a half-close
 * (FIN), never a full close: closing a socket that still holds unread bytes
 * makes the kernel send a reset, which would discard the end of an upload
 * before TLS has read it. Everything closes when the TLS side has finished,
 * or at once when the client's connection fails. Resolves when the TLS
 * side's bytes are all handed to the client's socket.
 */
function relay(
  outer: Deno.Conn,
  inner: Deno.Conn,
  early: Uint8Array,
  watcher: TransformStream<Uint8Array, Uint8Array> | null,
  gate: Gate,
): Promise<void> {
  const done = () => closeQuietly(outer, inner);
  (async () => {
    if (early.length > 0) await inner.write(early);
    let incoming = outer.readable.pipeThrough(eagerQueue());
    if (watcher) incoming = incoming.pipeThrough(watcher);
    await incoming.pipeTo(inner.writable, { preventClose: true });
    await inner.closeWrite();
  })().catch(done);
  return inner.readable.pipeThrough(gate.stream()).pipeTo(outer.writable).catch(() => {})
    .finally(done);
}

/** A valve on the server-to-client direction: while closed, bytes wait (in order). */
class Gate {
  #open = true;
  #waiters: Array<() => void> = [];

  close(): void {
    this.#open = false;
  }

  open(): void {
    this.#open = true;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  stream(): TransformStream<Uint8Array, Uint8Array> {
    return new TransformStream({
      transform: async (chunk, controller) => {
        while (!this.#open) await new Promise<void>((resolve) => this.#waiters.push(resolve));
        controller.enqueue(chunk);
      },
    });
  }
}

/** TLS record content type of application data (and, in TLS 1.3, of the client's Finished). */
const APPLICATION_DATA = 23;

/**
 * Passes the client's bytes through, calling `onHandshakeDone` before the
 * first application-data record goes on: by then the server's whole
 * handshake flight has been sent, so only post-handshake messages follow.
 */
function handshakeWatcher(onHandshakeDone: () => void): TransformStream<Uint8Array, Uint8Array> {
  let header: number[] = [];
  let skip = 0;
  let seen = false;
  return new TransformStream({
    transform(chunk, controller) {
      for (let i = 0; i < chunk.length && !seen;) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - i);
          skip -= n;
          i += n;
          continue;
        }
        header.push(chunk[i++]);
        if (header.length < 5) continue;
        if (header[0] === APPLICATION_DATA) {
          seen = true;
          onHandshakeDone();
        }
        skip = (header[3] << 8) | header[4];
        header = [];
      }
      controller.enqueue(chunk);
    },
  });
}

/**
 * Bytes the relay takes off the client's socket ahead of TLS. Clients such
 * as curl close the data connection with our TLS session tickets unread,
 * which makes their kernel send a reset, and a reset discards whatever our
 * kernel still held: the tail of the upload (seen: 0.7 MB of 2 MB lost).
 * Reading eagerly into this queue keeps the kernel's buffer empty.
 */
const EAGER_QUEUE_BYTES = 4 * 1024 * 1024;

function eagerQueue(): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>(
    {},
    { highWaterMark: EAGER_QUEUE_BYTES, size: (chunk) => chunk.byteLength },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
