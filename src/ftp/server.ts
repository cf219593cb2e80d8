/**
 * The FTP server: accepts control connections, runs a session for each, and
 * shuts down gracefully.
 *
 * @module
 */

import { lookup } from "node:dns/promises";
import type { ServerConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { openStorage, storageContext } from "../storage/open.ts";
import type { Storage } from "../storage/types.ts";
import { UserDirectory } from "./auth.ts";
import type { LoggedIn, SessionServices } from "./context.ts";
import { FtpError } from "./errors.ts";
import { PortPool } from "./passive.ts";
import { FtpSession } from "./session.ts";

/** How long a resolved masquerade host name is trusted. */
const MASQUERADE_TTL_MS = 60_000;

/** A running FTP server. */
export class FtpServer implements SessionServices {
  readonly #sessions = new Map<FtpSession, Promise<void>>();
  readonly #users: UserDirectory;
  readonly #pool: PortPool;
  #nextId = 1;
  #shuttingDown = false;
  #masquerade = { address: "", expires: 0 };
  readonly #accepting: Promise<void>;

  private constructor(
    readonly config: ServerConfig,
    private readonly log: Logger,
    private readonly listener: Deno.TcpListener,
    private readonly storages: Storage[],
  ) {
    this.#users = new UserDirectory(config.users);
    this.#pool = new PortPool(config.passivePorts.min, config.passivePorts.max);
    this.#accepting = this.#acceptLoop();
  }

  /** Opens every account's storage and starts listening. */
  static async start(config: ServerConfig, log: Logger): Promise<FtpServer> {
    const context = storageContext(
      config,
      (error, attempt) =>
        log.warn("storage-retry", {
          attempt,
          reason: error.message,
          requestId: error.requestId || undefined,
        }),
    );
    const storages: Storage[] = [];
    for (const account of config.accounts) {
      storages.push(await openStorage(account.storage, context));
    }
    const listener = Deno.listen({ hostname: config.listenAddress, port: config.listenPort });
    return new FtpServer(config, log, listener, storages);
  }

  /** The address actually listened on (the port matters when listen_port is 0). */
  get address(): Deno.NetAddr {
    return this.listener.addr;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Open control connections. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Passive ports currently held. */
  get passivePortsInUse(): number {
    return this.#pool.inUse;
  }

  authenticate(name: string, password: string): LoggedIn | null {
    const user = this.#users.check(name, password);
    return user ? { user, storage: this.storages[user.account] } : null;
  }

  async passiveAddress(localAddress: string): Promise<string> {
    const masquerade = this.config.masqueradeAddress;
    if (masquerade === "") return localAddress;
    if (/^\d+\.\d+\.\d+\.\d+$/.test(masquerade)) return masquerade;
    if (Date.now() < this.#masquerade.expires) return this.#masquerade.address;
    try {
      const { address } = await lookup(masquerade, { family: 4 });
      this.#masquerade = { address, expires: Date.now() + MASQUERADE_TTL_MS };
      return address;
    } catch {
      this.log.error("masquerade-unresolved", { host: masquerade });
      throw new FtpError(425, `Cannot resolve masquerade_address ${masquerade}`);
    }
  }

  /**
   * Stops accepting, lets running transfers finish for the grace period, then
   * aborts what is left (uploads are discarded, never committed partially).
   */
  async shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.listener.close();
    await this.#accepting;
    const sessions = [...this.#sessions.keys()];
    const graceful = Promise.all(
      sessions.map((s) => s.closeGracefully(421, "Server shutting down; goodbye")),
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise((resolve) =>
      timer = setTimeout(resolve, this.config.shutdownGraceMs)
    );
    await Promise.race([graceful, expired]);
    clearTimeout(timer);
    const reason = new FtpError(421, "Server shutting down; transfer aborted, nothing stored");
    await Promise.all([...this.#sessions.keys()].map((session) => session.close(reason)));
    await Promise.all(this.#sessions.values());
    await Promise.all(this.storages.map((storage) => storage.close()));
  }

  async #acceptLoop(): Promise<void> {
    try {
      for await (const conn of this.listener) this.#admit(conn);
    } catch (error) {
      if (!this.#shuttingDown) this.log.error("accept-failed", { error: String(error) });
    }
  }

  #admit(conn: Deno.TcpConn): void {
    const max = this.config.maxConnections;
    if (this.#shuttingDown || (max > 0 && this.#sessions.size >= max)) {
      refuse(conn, this.#shuttingDown ? "Server shutting down" : "Too many connections; try later");
      return;
    }
    const session = new FtpSession(conn, this.#nextId++, {
      config: this.config,
      log: this.log,
      pool: this.#pool,
      services: this,
    });
    const served = session.serve().catch((error) => {
      this.log.error("session-crashed", { session: session.id, error: String(error) });
    }).finally(() => this.#sessions.delete(session));
    this.#sessions.set(session, served);
  }
}

/** Answers 421 and hangs up, without a session. */
function refuse(conn: Deno.TcpConn, text: string): void {
  conn.write(new TextEncoder().encode(`421 ${text}\r\n`))
    .catch(() => {})
    .finally(() => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    });
}
