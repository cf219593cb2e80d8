/**
 * One control connection: reads command lines, dispatches them in order, and
 * keeps the session's state. Transfers run in the background so ABOR and
 * STAT are heard while data flows; any other command waits for the running
 * transfer to finish, which keeps pipelined commands in order.
 *
 * @module
 */

import { closeQuietly } from "./close.ts";
import { delay } from "../delay.ts";
import type { ServerConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { checkAccess, type Command } from "./commands/command.ts";
import { COMMANDS } from "./commands/index.ts";
import type { Session, SessionServices, SessionState, TransferSpec } from "./context.ts";
import { ControlReader, ReplyWriter } from "./control.ts";
import { DataChannels } from "./data.ts";
import {
  ConnectionLost,
  detailFor,
  FtpError,
  isExpected,
  replyForError,
  requestIdOf,
} from "./errors.ts";
import type { PortPool } from "./passive.ts";
import { unmapIPv4 } from "./passive.ts";
import { type Reply, reply } from "./reply.ts";
import type { TlsUpgrader } from "./tls.ts";
import { ActiveTransfer } from "./transfer.ts";
import { workDone, workStarted } from "../idle_gc.ts";

/** Shortest time a reply may take to write before the client counts as not reading. */
const MIN_WRITE_TIMEOUT_MS = 5000;

/** How long closing a session waits for its transfer to report before hanging up anyway. */
const CLOSE_WAIT_MS = 5000;

/** How long closing a TLS control connection waits for its last bytes to go out. */
const TLS_CLOSE_WAIT_MS = 2000;

/** Greeting, kept from the original so scripts that match it still work. */
const BANNER = "Welcome to COS FTP Service";

/** What runs while the control connection is still read: a transfer, or a checksum. */
interface Background {
  abort(reason: FtpError): void;
  readonly done: Promise<void>;
  /** For STAT. */
  status(): string;
}

/** Everything a session needs from its server. */
export interface SessionDeps {
  config: ServerConfig;
  log: Logger;
  pool: PortPool;
  services: SessionServices;
  /** Upgrades connections to TLS; `null` when FTPS is not configured. */
  tls: TlsUpgrader | null;
  /** The connection's ends as the client sees them (from a PROXY header); absent = its own. */
  origin?: { remote: string; local: string; bind: string };
}

/** A control connection being served. */
export class FtpSession implements Session {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly services: SessionServices;
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly controlAddress: string;
  readonly data: DataChannels;
  readonly state: SessionState = {
    phase: "need-user",
    pendingUser: "",
    user: null,
    failedLogins: 0,
    cwd: "/",
    binary: false,
    restOffset: 0,
    renameFrom: null,
    epsvAll: false,
    mlstFacts: new Set(["type", "size", "modify", "perm"]),
    tls: false,
    protectData: false,
  };
  readonly #writer: ReplyWriter;
  readonly #reader: ControlReader;
  readonly #tls: TlsUpgrader | null;
  /** The current control transport: the accepted connection, or TLS over it. */
  #transport: Deno.Conn<Deno.NetAddr>;
  #upgradeRequested = false;
  /** With AUTH TLS: resolves when the relay has delivered all our bytes. */
  #drained: Promise<void> = Promise.resolve();
  #transfer: Background | null = null;
  /** The command being dispatched: for the log of a background job's failure, and its transfer. */
  #command = { name: "", arg: "", upload: false };
  /** The command dispatched and not yet finally answered (for its "command" event), or "". */
  #unanswered = "";
  #ending = false;
  #closed = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** `secure`: `conn` is already TLS (implicit FTPS). */
  constructor(
    private readonly conn: Deno.Conn<Deno.NetAddr>,
    readonly id: number,
    deps: SessionDeps,
    secure = false,
  ) {
    this.config = deps.config;
    this.log = deps.log;
    this.services = deps.services;
    const origin = deps.origin;
    this.localAddress = origin?.bind ?? unmapIPv4(conn.localAddr.hostname);
    this.remoteAddress = origin?.remote ?? unmapIPv4(conn.remoteAddr.hostname);
    this.controlAddress = origin?.local ?? this.localAddress;
    this.data = new DataChannels(deps.pool, this.remoteAddress, this.config.passiveAcceptTimeoutMs);
    this.#transport = conn;
    this.#reader = new ControlReader(conn);
    const writeTimeoutMs = Math.max(MIN_WRITE_TIMEOUT_MS, this.config.idleTimeoutMs || 300_000);
    this.#writer = new ReplyWriter(conn, writeTimeoutMs, () => this.#abandon());
    this.#tls = deps.tls;
    this.state.tls = secure;
  }

  /** Serves the connection until the client leaves, QUIT, or {@link close}. */
  async serve(): Promise<void> {
    this.log.debug("connect", { session: this.id, ip: this.remoteAddress });
    await this.send(220, BANNER);
    this.#armIdleTimer();
    try {
      for (let input = await this.#reader.next(); input; input = await this.#reader.next()) {
        this.#armIdleTimer();
        // Lines that never become a command still fail as one, in the log too.
        if (input.kind === "overlong") {
          await this.#reportFailure("", "", new FtpError(500, "Command line too long"));
        } else if (input.kind === "invalid-utf8") {
          await this.#reportFailure("", "", new FtpError(501, "Command is not valid UTF-8"));
        } else await this.#handleLine(input.text);
        if (this.#ending || this.#writer.failed) break;
        if (this.#upgradeRequested) await this.#upgradeControl();
      }
    } catch {
      // The client reset the connection, or close() closed it: either way we are done.
    } finally {
      await this.#finish();
      workDone();
    }
  }

  /** Ends the session now: a running transfer is aborted (an upload is discarded) and told why. */
  async close(reason: FtpError): Promise<void> {
    this.#transfer?.abort(reason);
    // The transfer's final reply may be stuck behind a client that does not read.
    await Promise.race([this.#transfer?.done, delay(CLOSE_WAIT_MS)]);
    await this.#closeConnection();
  }

  /** Ends the session once the running transfer (if any) is over, telling the client why. */
  async closeGracefully(code: number, text: string): Promise<void> {
    this.#ending = true;
    await this.#transfer?.done;
    await this.send(code, text);
    await this.#closeConnection();
  }

  /** Whether a transfer is running. */
  get busy(): boolean {
    return this.#transfer !== null;
  }

  send(code: number, text: string | string[]): Promise<void> {
    if (code >= 200) this.#answered(code);
    return this.#writer.send(reply(code, text));
  }

  /** A command's first final reply: one debug event (counted by the admin listener's metrics). */
  #answered(code: number): void {
    if (this.#unanswered === "") return;
    this.log.debug("command", { session: this.id, command: this.#unanswered, code });
    this.#unanswered = "";
  }

  startTransfer(spec: TransferSpec): void {
    this.#unanswered = ""; // the transfer's own event carries its outcome
    const transfer = new ActiveTransfer(spec, {
      data: this.data,
      log: this.log,
      user: this.state.user?.user.name ?? "",
      binary: this.state.binary,
      upload: this.#command.upload,
      stallTimeoutMs: this.config.dataTimeoutMs,
      tls: this.state.protectData ? this.#tls : null,
      send: (r: Reply) => this.#writer.send(r),
    });
    this.#runInBackground(transfer);
  }

  runAbortable(job: (signal: AbortSignal) => Promise<void>): void {
    const { name, arg } = this.#command;
    const controller = new AbortController();
    const done = job(controller.signal).catch((error) => this.#reportFailure(name, arg, error));
    this.#runInBackground({
      abort: (reason) => controller.abort(reason),
      done,
      status: () => `${name} ${arg}: in progress`,
    });
  }

  #runInBackground(work: Background): void {
    this.#transfer = work;
    this.#reader.readByteAtATime(true);
    const ended = workStarted();
    work.done.finally(() => {
      ended();
      if (this.#transfer !== work) return;
      this.#transfer = null;
      this.#reader.readByteAtATime(false);
    });
  }

  async abortTransfer(): Promise<boolean> {
    const transfer = this.#transfer;
    if (!transfer) return false;
    transfer.abort(new FtpError(426, "Transfer aborted by ABOR; nothing was stored"));
    await transfer.done;
    return true;
  }

  get tlsAvailable(): boolean {
    return this.#tls !== null;
  }

  startTls(): void {
    this.#upgradeRequested = true;
  }

  /** AUTH TLS: no read is pending now, so the next bytes on the wire are the TLS handshake. */
  async #upgradeControl(): Promise<void> {
    this.#upgradeRequested = false;
    const secured = await this.#tls!.secure(this.#transport, this.#reader.takeBuffered());
    const tls = secured.conn;
    this.#drained = secured.drained;
    this.#transport = tls;
    this.#reader.setTransport(tls);
    this.#writer.setTransport(tls);
    this.state.tls = true;
    this.log.debug("tls", { session: this.id, ip: this.remoteAddress });
  }

  transferStatus(): string | null {
    return this.#transfer?.status() ?? null;
  }

  end(): void {
    this.#ending = true;
  }

  async #handleLine(line: string): Promise<void> {
    const space = line.indexOf(" ");
    const name = (space < 0 ? line : line.slice(0, space)).trim().toUpperCase();
    const arg = space < 0 ? "" : line.slice(space + 1);
    if (name === "") return;
    if (this.#transfer && !COMMANDS.get(name)?.duringTransfer) await this.#transfer.done;
    await this.#dispatch(name, arg);
  }

  async #dispatch(name: string, arg: string): Promise<void> {
    const command = COMMANDS.get(name);
    const renameFrom = this.state.renameFrom;
    this.state.renameFrom = null;
    this.#command = { name, arg, upload: command?.upload ?? false };
    this.#unanswered = name;
    try {
      if (!command) throw new FtpError(502, `${name} not implemented`);
      this.#admit(command, arg);
      if (command.takesRename) this.state.renameFrom = renameFrom;
      await command.run(this, arg);
    } catch (error) {
      await this.#reportFailure(name, arg, error);
    }
  }

  /** Applies the command's entry: login and rights, its argument, and require_tls. */
  #admit(command: Command, arg: string): void {
    checkAccess(this, typeof command.access === "function" ? command.access(arg) : command.access);
    if (command.needsArg && arg.trim() === "") {
      throw new FtpError(501, `Syntax: ${command.syntax}`);
    }
    if (!this.config.tls.requireTls) return;
    if (command.carriesCredentials && !this.state.tls) {
      throw new FtpError(530, "TLS required: send AUTH TLS before logging in");
    }
    if (command.opensData && !this.state.protectData) {
      throw new FtpError(521, "Data connections must be protected: send PBSZ 0 and PROT P");
    }
  }

  async #reportFailure(name: string, arg: string, error: unknown): Promise<void> {
    const failure = replyForError(error, name);
    if (name === this.#unanswered) this.#unanswered = ""; // command-failed carries its outcome
    this.log.warn("command-failed", {
      session: this.id,
      user: this.state.user?.user.name,
      ip: this.remoteAddress,
      command: name,
      arg: name === "PASS" ? undefined : arg,
      code: failure.code,
      reason: failure.lines.join(" "),
      requestId: requestIdOf(error),
      detail: detailFor(error, failure),
      error: isExpected(error) ? undefined : String(error),
    });
    await this.#writer.send(failure);
  }

  #armIdleTimer(): void {
    clearTimeout(this.#idleTimer);
    if (this.config.idleTimeoutMs === 0) return;
    this.#idleTimer = setTimeout(() => this.#onIdle(), this.config.idleTimeoutMs);
  }

  #onIdle(): void {
    if (this.#transfer) return this.#armIdleTimer();
    this.log.info("idle-timeout", { session: this.id, ip: this.remoteAddress });
    const told = this.send(421, "Idle timeout: closing control connection");
    Promise.race([told, delay(CLOSE_WAIT_MS)]).finally(() => this.#closeConnection());
  }

  /** The client stopped reading replies: drop the connection (and with it any transfer). */
  #abandon(): void {
    this.log.warn("client-not-reading", { session: this.id, ip: this.remoteAddress });
    this.#transfer?.abort(new ConnectionLost("Control connection not read; transfer aborted"));
    closeQuietly(this.#transport, this.conn);
  }

  async #finish(): Promise<void> {
    clearTimeout(this.#idleTimer);
    this.#transfer?.abort(new ConnectionLost("Control connection closed; transfer aborted"));
    await this.#transfer?.done;
    this.data.discard();
    await this.#closeConnection();
    this.log.debug("disconnect", { session: this.id, ip: this.remoteAddress });
  }

  /**
   * Closes the control connection. Over TLS the last replies are flushed
   * with a close_notify first (bounded in time), so a client that reads to
   * the end sees them and a proper TLS end.
   */
  async #closeConnection(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.state.tls) {
      const flushed = this.#transport.closeWrite().then(() => this.#drained);
      await Promise.race([flushed.catch(() => {}), delay(TLS_CLOSE_WAIT_MS)]);
    }
    closeQuietly(this.#transport, this.conn);
  }
}
