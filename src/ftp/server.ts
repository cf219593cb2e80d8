/**
 * The FTP server: accepts control connections, runs a session for each, and
 * shuts down gracefully.
 *
 * @module
 */

import { AdminListener } from "../admin/admin.ts";
import { closeQuietly } from "./close.ts";
import { delay } from "../delay.ts";
import type { ServerConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import { type StorageContext, storageContext } from "../storage/open.ts";
import type { Storage } from "../storage/types.ts";
import { firstGeneration, type Generation, liveLimits, retire } from "./generation.ts";
import type { LoggedIn, SessionServices } from "./context.ts";
import { FtpError } from "./errors.ts";
import { AdmissionControl } from "./limits.ts";
import { PassiveAddress, PortPool } from "./passive.ts";
import { type Origin, ProxyGate } from "./proxy_gate.ts";
import { FtpSession } from "./session.ts";
import {
  closeStorages,
  describeAccount,
  loadTls,
  openStorages,
  probeStorages,
} from "./resources.ts";
import { TlsUpgrader } from "./tls.ts";

/** How long shutdown waits for start-up probes before closing their storages under them. */
const PROBE_WAIT_MS = 1000;

/** Pause before accepting again after a failed accept. */
const ACCEPT_RETRY_MS = 100;

/** A running FTP server. */
export class FtpServer implements SessionServices {
  readonly #sessions = new Map<FtpSession, Promise<void>>();
  /** What new sessions and logins use; {@link reload} replaces it. */
  #gen: Generation;
  /** Older generations closing once their sessions end. */
  #retiring: Promise<unknown> = Promise.resolve();
  readonly #pool: PortPool;
  readonly #limits: AdmissionControl;
  readonly #gate: ProxyGate;
  /** PROXY protocol connections not yet sessions (header, TLS handshake): capped, closed by shutdown. */
  readonly #pending = new Set<Deno.Conn>();
  #nextId = 1;
  #shuttingDown = false;
  #passiveAddress: PassiveAddress;
  readonly #accepting: Promise<void>;
  /** The metrics and health listener (`[ADMIN] listen`), when on. */
  #admin: AdminListener | null = null;
  /** The start-up probes of every account's storage. */
  #probed: Promise<void> = Promise.resolve();

  private constructor(
    config: ServerConfig,
    private readonly log: Logger,
    private readonly listener: Deno.TcpListener,
    storages: Storage[],
    private readonly tls: Tls | null,
    context: StorageContext,
    gate: ProxyGate,
  ) {
    this.#gen = firstGeneration(config, storages, tls?.upgrader ?? null, context);
    this.#gate = gate;
    this.#pool = new PortPool(
      config.passivePorts.min,
      config.passivePorts.max,
      this.#gate,
      (ip, reason) => log.warn("proxy-refused", { ip, reason, channel: "data" }),
    );
    this.#limits = new AdmissionControl(liveLimits(() => this.config));
    this.#passiveAddress = passiveAddressOf(config, log);
    const loops = [this.#acceptLoop(listener, false)];
    if (tls?.implicit) loops.push(this.#acceptLoop(tls.implicit, true));
    this.#accepting = Promise.all(loops).then(() => {});
  }

  /**
   * Opens every account's storage and starts listening. Each storage is
   * then probed in the background: an account that does not answer is
   * logged, but the server serves the others (a COS outage at boot must not
   * keep it down).
   */
  static async start(config: ServerConfig, log: Logger): Promise<FtpServer> {
    const context = storageContext(
      config,
      (error, attempt) =>
        log.warn("storage-retry", {
          attempt,
          reason: error.message,
          requestId: error.requestId || undefined,
        }),
      log,
    );
    const admin = AdminListener.create(config, log);
    context.onRequest = admin?.onCosRequest;
    const storages = await openStorages(config, context);
    let tls: Tls | null = null;
    let server: FtpServer | undefined;
    try {
      const gate = ProxyGate.of(config);
      tls = await startTls(config, gate.on);
      admin?.start({ storages, pool: context.pool, server: () => server });
      const listener = Deno.listen({ hostname: config.listenAddress, port: config.listenPort });
      server = new FtpServer(config, log, listener, storages, tls, context, gate);
      server.#admin = admin;
      server.#probeAccounts();
      return server;
    } catch (error) {
      await admin?.close();
      tls?.implicit?.close();
      await tls?.upgrader.close();
      await closeStorages(storages);
      throw error;
    }
  }

  /** The config new sessions get (the latest one loaded). */
  get config(): ServerConfig {
    return this.#gen.config;
  }

  /** What new sessions and logins use. */
  get generation(): Generation {
    return this.#gen;
  }

  /**
   * Serves new sessions and logins from `next` (see generation.ts); sessions
   * open now keep what they hold, and what only they use is closed when they end.
   * Refused once shutdown started (it closes the running storages): then what
   * only `next` opened is closed and the result is false.
   */
  async reload(next: Generation): Promise<boolean> {
    if (this.#shuttingDown) {
      await retire(next, this.#gen, []);
      return false;
    }
    const previous = this.#gen;
    this.#gen = next;
    this.#passiveAddress = passiveAddressOf(next.config, this.log);
    const users = retire(previous, next, [...this.#sessions.values()]);
    this.#retiring = Promise.all([this.#retiring, users]);
    this.#probeAccounts();
    return true;
  }

  /** Logs every account whose storage does not answer. */
  #probeAccounts(): void {
    const { config, storages } = this.#gen;
    const probed = probeStorages(config, storages).then((failures) => {
      for (const { account, reason } of failures) {
        this.log.warn("storage-unreachable", { account: describeAccount(account), reason });
      }
    });
    this.#probed = Promise.all([this.#probed, probed]).then(() => {});
  }

  /** The implicit FTPS address, when it is on. */
  get implicitAddress(): Deno.NetAddr | null {
    return this.tls?.implicit?.addr ?? null;
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

  /** Client addresses banned now. */
  get bansActive(): number {
    return this.#limits.bannedNow;
  }

  /** The admin listener's address, when it is on. */
  get adminAddress(): Deno.NetAddr | null {
    return this.#admin?.address ?? null;
  }

  async authenticate(name: string, password: string): Promise<LoggedIn | null> {
    const { users, storages } = this.#gen;
    const user = await users.check(name, password);
    return user ? { user, storage: storages[user.account] } : null;
  }

  claimLogin(): boolean {
    return this.#limits.claimLogin();
  }

  loginFailed(ip: string): void {
    if (this.#limits.loginFailed(ip)) {
      this.log.warn("banned", { ip, seconds: this.config.banTimeMs / 1000 });
    }
  }

  passiveAddress(localAddress: string): Promise<string> {
    return this.#passiveAddress.for(localAddress);
  }

  /**
   * Stops accepting, lets running transfers finish for the grace period, then
   * aborts what is left (uploads are discarded, never committed partially).
   */
  async shutdown(): Promise<void> {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.listener.close();
    this.tls?.implicit?.close();
    await this.#accepting;
    closeQuietly(...this.#pending);
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
    // A probe still waiting for an unreachable COS must not hold shutdown: closing its storage ends it.
    await Promise.race([this.#probed, delay(PROBE_WAIT_MS)]);
    await this.#retiring;
    await closeStorages(this.#gen.storages);
    await this.#probed;
    await this.#admin?.close();
    await this.#gen.tls?.close();
  }

  /**
   * Accepts until the listener closes; `secure`: implicit FTPS (TLS from the
   * first byte). A failed accept (e.g. no file descriptors left) is logged
   * and retried after a pause, never the end of accepting.
   */
  async #acceptLoop(
    listener: Deno.Listener<Deno.Conn<Deno.NetAddr>>,
    secure: boolean,
  ): Promise<void> {
    while (!this.#shuttingDown) {
      let conn: Deno.Conn<Deno.NetAddr>;
      try {
        conn = await listener.accept();
        noDelay(conn);
      } catch (error) {
        if (this.#shuttingDown || error instanceof Deno.errors.BadResource) return;
        this.log.error("accept-failed", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      if (!this.#gate.on) this.#admit(conn, secure);
      else this.#admitProxied(conn, secure);
    }
  }

  /**
   * PROXY protocol: the header, then admission of the header's client (bans,
   * per-IP limit, the cap), then (implicit FTPS) the TLS handshake, so a
   * refused client costs no handshake. Until it is a session the connection
   * is pending: counted toward max_connection_num and closed by shutdown.
   */
  async #admitProxied(conn: Deno.Conn<Deno.NetAddr>, secure: boolean): Promise<void> {
    const upgrader = secure ? this.#gen.tls : null;
    if (secure && !upgrader) {
      // The implicit FTPS port without a certificate (after a reload) must never serve plaintext.
      this.log.error("implicit-ftps-refused", { reason: "no TLS certificate loaded" });
      return closeQuietly(conn);
    }
    if (this.#full(this.#pending.size)) {
      return this.#refuse(conn, secure, "Too many connections; try later");
    }
    this.#pending.add(conn);
    try {
      const header = await this.#gate.admit(conn);
      if (!header.ok) {
        if (!this.#shuttingDown) {
          this.log.warn("proxy-refused", { ip: header.ip, reason: header.reason });
        }
        return closeQuietly(conn);
      }
      const ip = header.origin.remote;
      const refusal = this.#claim(ip, this.#pending.size - 1);
      if (refusal) return this.#refuse(conn, secure, refusal);
      if (!upgrader) return this.#serve(conn, false, header.origin);
      const secured = await upgrader.secure(conn).catch(() => null);
      if (!secured || this.#shuttingDown) {
        if (!secured) this.log.warn("proxy-refused", { ip, reason: "TLS handshake failed" });
        this.#limits.release(ip);
        return closeQuietly(conn, ...(secured ? [secured.conn] : []));
      }
      this.#serve(secured.conn, true, header.origin);
    } finally {
      this.#pending.delete(conn);
    }
  }

  #admit(conn: Deno.Conn<Deno.NetAddr>, secure: boolean): void {
    const origin = ProxyGate.direct(conn);
    const refusal = this.#claim(origin.remote, this.#pending.size);
    if (refusal) return refuse(conn, refusal);
    this.#serve(conn, secure, origin);
  }

  /** Whether the cap is reached with `others` connections besides the sessions. */
  #full(others: number): boolean {
    const max = this.config.maxConnections;
    return max > 0 && this.#sessions.size + others >= max;
  }

  /**
   * Why a new connection from `ip` is refused, or null: then it holds a
   * per-IP slot until released. `others`: pending connections besides it.
   */
  #claim(ip: string, others: number): string | null {
    if (this.#shuttingDown) return "Server shutting down";
    if (this.#full(others)) return "Too many connections; try later";
    const admission = this.#limits.admit(ip);
    if (admission.ok) return null;
    this.log.debug("connection-refused", { ip, reason: admission.refuse });
    return admission.refuse;
  }

  /** 421 on the control port; implicit FTPS has no plaintext to say it in: closed. */
  #refuse(conn: Deno.Conn, secure: boolean, text: string): void {
    if (secure) closeQuietly(conn);
    else refuse(conn, text);
  }

  /** Runs a session for an admitted connection (its per-IP slot released when it ends). */
  #serve(conn: Deno.Conn<Deno.NetAddr>, secure: boolean, origin: Origin): void {
    const ip = origin.remote;
    const session = new FtpSession(conn, this.#nextId++, {
      config: this.config,
      log: this.log,
      pool: this.#pool,
      services: this,
      tls: this.#gen.tls,
      origin,
    }, secure);
    const served = session.serve().catch((error) => {
      this.log.error("session-crashed", { session: session.id, error: String(error) });
    }).finally(() => {
      this.#sessions.delete(session);
      this.#limits.release(ip);
      if (session.state.user) this.#limits.releaseLogin();
    });
    this.#sessions.set(session, served);
  }
}

/** PASV's announced address as `config` sets it. */
function passiveAddressOf(config: ServerConfig, log: Logger): PassiveAddress {
  const host = config.masqueradeAddress;
  return new PassiveAddress(host, () => log.error("masquerade-unresolved", { host }));
}

/** FTPS: the upgrader for AUTH TLS and PROT P, and the implicit FTPS listener. */
interface Tls {
  upgrader: TlsUpgrader;
  implicit: Deno.Listener<Deno.Conn<Deno.NetAddr>, Deno.NetAddr> | null;
}

/** Loads the certificate (errors name the file) and opens the implicit FTPS port. */
async function startTls(config: ServerConfig, proxied: boolean): Promise<Tls | null> {
  const material = await loadTls(config);
  if (!material) return null;
  const upgrader = new TlsUpgrader(material);
  const port = config.tls.implicitPort;
  try {
    const hostname = config.listenAddress;
    // Behind a balancer the PROXY header comes before the handshake: TLS starts after it.
    const implicit = port === 0
      ? null
      : proxied
      ? Deno.listen({ hostname, port })
      : Deno.listenTls({ hostname, port, ...material });
    return { upgrader, implicit };
  } catch (error) {
    await upgrader.close();
    throw error;
  }
}

/** Answers 421 and hangs up, without a session. */
function refuse(conn: Deno.Conn, text: string): void {
  conn.write(new TextEncoder().encode(`421 ${text}\r\n`))
    .catch(() => {})
    .finally(() => closeQuietly(conn));
}

/**
 * Replies go out at once: with Nagle's algorithm a small reply (150, 226)
 * waited for the client's delayed ACK, about 40 ms per transfer.
 */
function noDelay(conn: Deno.Conn): void {
  // Implicit FTPS accepts TLS connections, which have no such switch (their relay's sockets do).
  if ("setNoDelay" in conn) (conn as Deno.TcpConn).setNoDelay(true);
}
