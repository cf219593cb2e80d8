/**
 * One control connection: reads command lines, dispatches them in order, and
 * keeps the session's state. Transfers run in the background so ABOR and
 * STAT are heard while data flows; any other command waits for the running
 * transfer to finish, which keeps pipelined commands in order.
 *
 * @module
 */

import type { ServerConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { COMMANDS } from "./commands/index.ts";
import type { Session, SessionServices, SessionState, TransferSpec } from "./context.ts";
import { readControlLines, ReplyWriter } from "./control.ts";
import { DataChannels } from "./data.ts";
import { FtpError, isExpected, replyForError, requestIdOf } from "./errors.ts";
import type { PortPool } from "./passive.ts";
import { unmapIPv4 } from "./passive.ts";
import { type Reply, reply } from "./reply.ts";
import { ActiveTransfer } from "./transfer.ts";

/** Commands served while a transfer runs (RFC 959 4.1.3). */
const DURING_TRANSFER = new Set(["ABOR", "STAT"]);

/** Greeting, kept from the original so scripts that match it still work. */
const BANNER = "Welcome to COS FTP Service";

/** Everything a session needs from its server. */
export interface SessionDeps {
  config: ServerConfig;
  log: Logger;
  pool: PortPool;
  services: SessionServices;
}

/** A control connection being served. */
export class FtpSession implements Session {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly services: SessionServices;
  readonly remoteAddress: string;
  readonly localAddress: string;
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
  };
  readonly #writer: ReplyWriter;
  #transfer: ActiveTransfer | null = null;
  #ending = false;
  #closed = false;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly conn: Deno.TcpConn, readonly id: number, deps: SessionDeps) {
    this.config = deps.config;
    this.log = deps.log;
    this.services = deps.services;
    this.remoteAddress = unmapIPv4(conn.remoteAddr.hostname);
    this.localAddress = unmapIPv4(conn.localAddr.hostname);
    this.data = new DataChannels(deps.pool, this.remoteAddress, this.config.passiveAcceptTimeoutMs);
    this.#writer = new ReplyWriter(conn.writable.getWriter());
  }

  /** Serves the connection until the client leaves, QUIT, or {@link close}. */
  async serve(): Promise<void> {
    this.log.debug("connect", { session: this.id, ip: this.remoteAddress });
    await this.send(220, BANNER);
    this.#armIdleTimer();
    try {
      for await (const input of readControlLines(this.conn.readable)) {
        this.#armIdleTimer();
        if (input.kind === "overlong") await this.send(500, "Command line too long");
        else if (input.kind === "invalid-utf8") await this.send(501, "Command is not valid UTF-8");
        else await this.#handleLine(input.text);
        if (this.#ending || this.#writer.failed) break;
      }
    } catch {
      // The client reset the connection, or close() closed it: either way we are done.
    } finally {
      await this.#finish();
    }
  }

  /** Ends the session now: a running transfer is aborted (an upload is discarded) and told why. */
  async close(reason: FtpError): Promise<void> {
    this.#transfer?.abort(reason);
    await this.#transfer?.done;
    this.#closeConnection();
  }

  /** Ends the session once the running transfer (if any) is over, telling the client why. */
  async closeGracefully(code: number, text: string): Promise<void> {
    this.#ending = true;
    await this.#transfer?.done;
    await this.send(code, text);
    this.#closeConnection();
  }

  /** Whether a transfer is running. */
  get busy(): boolean {
    return this.#transfer !== null;
  }

  send(code: number, text: string | string[]): Promise<void> {
    return this.#writer.send(reply(code, text));
  }

  startTransfer(spec: TransferSpec): void {
    const transfer = new ActiveTransfer(spec, {
      data: this.data,
      log: this.log,
      user: this.state.user?.user.name ?? "",
      binary: this.state.binary,
      stallTimeoutMs: this.config.dataTimeoutMs,
      send: (r: Reply) => this.#writer.send(r),
    });
    this.#transfer = transfer;
    transfer.done.finally(() => {
      if (this.#transfer === transfer) this.#transfer = null;
    });
  }

  async abortTransfer(): Promise<boolean> {
    const transfer = this.#transfer;
    if (!transfer) return false;
    transfer.abort(new FtpError(426, "Transfer aborted by ABOR; nothing was stored"));
    await transfer.done;
    return true;
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
    if (this.#transfer && !DURING_TRANSFER.has(name)) await this.#transfer.done;
    await this.#dispatch(name, arg);
  }

  async #dispatch(name: string, arg: string): Promise<void> {
    const command = COMMANDS.get(name);
    const renameFrom = this.state.renameFrom;
    this.state.renameFrom = null;
    if (!command) return void await this.send(502, `${name} not implemented`);
    if (command.needsLogin && this.state.phase !== "ready") {
      return void await this.send(530, "Please log in with USER and PASS first");
    }
    if (command.needsArg && arg.trim() === "") {
      return void await this.send(501, `Syntax: ${command.syntax}`);
    }
    if (name === "RNTO") this.state.renameFrom = renameFrom;
    try {
      await command.run(this, arg);
    } catch (error) {
      await this.#reportFailure(name, arg, error);
    }
  }

  async #reportFailure(name: string, arg: string, error: unknown): Promise<void> {
    const failure = replyForError(error);
    this.log.warn("command-failed", {
      session: this.id,
      user: this.state.user?.user.name,
      ip: this.remoteAddress,
      command: name,
      arg: name === "PASS" ? undefined : arg,
      code: failure.code,
      reason: failure.lines.join(" "),
      requestId: requestIdOf(error),
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
    this.send(421, "Idle timeout: closing control connection").finally(() =>
      this.#closeConnection()
    );
  }

  async #finish(): Promise<void> {
    clearTimeout(this.#idleTimer);
    this.#transfer?.abort(new FtpError(426, "Control connection closed; transfer aborted"));
    await this.#transfer?.done;
    this.data.discard();
    this.#closeConnection();
    this.log.debug("disconnect", { session: this.id, ip: this.remoteAddress });
  }

  #closeConnection(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}
