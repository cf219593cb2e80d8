/**
 * Running one transfer: open the data connection, send 150, run the body,
 * send the final reply, log one line, and on any failure run the cleanup so
 * an upload leaves nothing behind.
 *
 * @module
 */

import type { Logger } from "../log.ts";
import type { DataChannels, DataConnection } from "./data.ts";
import {
  ConnectionLost,
  detailFor,
  type FtpError,
  isExpected,
  replyForError,
  requestIdOf,
} from "./errors.ts";
import type { TransferSpec } from "./context.ts";
import type { Reply } from "./reply.ts";
import type { TlsUpgrader } from "./tls.ts";
import { reply } from "./reply.ts";

/** What a running transfer needs from its session. */
export interface TransferHost {
  readonly data: DataChannels;
  readonly log: Logger;
  readonly user: string;
  readonly binary: boolean;
  /** The client sends the data (STOR, APPE). */
  readonly upload: boolean;
  readonly stallTimeoutMs: number;
  /** TLS for the data connection (PROT P), or `null` for a clear one. */
  readonly tls: TlsUpgrader | null;
  send(reply: Reply): Promise<void>;
}

/** A transfer in progress. */
export class ActiveTransfer {
  readonly #controller = new AbortController();
  readonly done: Promise<void>;
  #bytes = 0;
  #lastProgress = Date.now();
  /** The client sent everything: what remains is storage work, bounded by its own timeouts. */
  #dataEnded = false;
  readonly #started = Date.now();

  constructor(private readonly spec: TransferSpec, private readonly host: TransferHost) {
    this.done = this.#run();
  }

  /** Stops the transfer; its final reply carries `reason`. */
  abort(reason: FtpError): void {
    this.#controller.abort(reason);
  }

  /** For STAT during a transfer. */
  status(): string {
    return `${this.spec.command} ${this.spec.path}: ${this.#bytes} bytes so far`;
  }

  async #run(): Promise<void> {
    const signal = this.#controller.signal;
    let conn: DataConnection | null = null;
    const closeOnAbort = () => conn?.close();
    signal.addEventListener("abort", closeOnAbort);
    const stallTimer = this.#watchForStall();
    let outcome: Reply;
    let requestId: string | undefined;
    let detail: string | undefined;
    try {
      conn = await this.host.data.connect(signal);
      signal.throwIfAborted();
      const mode = this.host.binary ? "BINARY" : "ASCII";
      await this.host.send(
        reply(150, `Opening ${mode} mode data connection for ${this.spec.path}`),
      );
      // RFC 4217 clients start the data connection's TLS after the 150 reply.
      if (this.host.tls) conn = await conn.secure(this.host.tls, this.host.upload);
      const text = await this.spec.run({
        conn,
        signal,
        progress: (n) => this.#progress(n),
        dataEnded: () => {
          this.#dataEnded = true;
        },
      });
      // A clean end on our side too (with TLS, a close_notify the client may wait for).
      await conn.finish().catch(() => {});
      outcome = reply(226, text);
    } catch (error) {
      const cause = signal.aborted ? signal.reason : error;
      outcome = replyForError(cause, this.spec.command);
      requestId = requestIdOf(cause);
      detail = detailFor(cause, outcome);
      const kept = await this.spec.cleanup?.(cause).catch((failure) => {
        this.host.log.error("cleanup-failed", {
          command: this.spec.command,
          path: this.spec.path,
          error: failure instanceof Error ? failure.message : String(failure),
        });
      });
      if (kept) outcome = reply(outcome.code, `${outcome.lines.join(" ")}; ${kept}`);
      if (!isExpected(cause)) this.host.log.error("transfer-error", { error: String(cause) });
    } finally {
      clearInterval(stallTimer);
      signal.removeEventListener("abort", closeOnAbort);
      conn?.close();
    }
    this.#log(outcome, requestId, detail);
    await this.host.send(outcome);
  }

  #progress(bytes: number): void {
    this.#bytes += bytes;
    this.#lastProgress = Date.now();
  }

  /** Aborts when no byte moved for the stall timeout (checked a few times per period). */
  #watchForStall(): ReturnType<typeof setInterval> | undefined {
    const limit = this.host.stallTimeoutMs;
    if (limit === 0) return undefined;
    const every = Math.max(50, Math.min(1000, limit / 4));
    return setInterval(() => {
      if (this.#dataEnded || Date.now() - this.#lastProgress < limit) return;
      this.abort(new ConnectionLost("Data connection timed out: no data moved"));
    }, every);
  }

  #log(outcome: Reply, requestId?: string, detail?: string): void {
    const fields = {
      user: this.host.user,
      command: this.spec.command,
      path: this.spec.path,
      bytes: this.#bytes,
      ms: Date.now() - this.#started,
      result: outcome.code === 226 ? "ok" : `${outcome.code} ${outcome.lines.join(" ")}`,
      requestId,
      detail,
    };
    if (outcome.code === 226) this.host.log.info("transfer", fields);
    else this.host.log.warn("transfer", fields);
  }
}
