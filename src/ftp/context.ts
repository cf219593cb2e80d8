/**
 * What a command handler sees of its session. Handlers depend on this
 * interface only, never on the session class, so data flows one way:
 * session -> command -> storage.
 *
 * @module
 */

import type { ServerConfig, UserConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { Storage } from "../storage/types.ts";
import type { DataChannels, DataConnection } from "./data.ts";

/** A logged-in user and the storage of its account. */
export interface LoggedIn {
  user: UserConfig;
  storage: Storage;
}

/** Where the session stands in the RFC 959 login sequence. */
export type Phase = "need-user" | "need-password" | "ready";

/** Per-session state that commands read and change. */
export interface SessionState {
  phase: Phase;
  /** The name given by USER, waiting for PASS. */
  pendingUser: string;
  user: LoggedIn | null;
  failedLogins: number;
  /** Working directory, an absolute virtual path. */
  cwd: string;
  /** TYPE I (true) or TYPE A (false). */
  binary: boolean;
  /** REST offset for the next RETR. */
  restOffset: number;
  /** Path named by the RNFR that must be followed by RNTO. */
  renameFrom: { path: string; isDir: boolean } | null;
  /** After `EPSV ALL`, only EPSV may set up data connections (RFC 2428). */
  epsvAll: boolean;
  /** Facts MLSD/MLST show (OPTS MLST). */
  mlstFacts: Set<string>;
  /** The control connection is encrypted (AUTH TLS done, or implicit FTPS). */
  tls: boolean;
  /** PROT P: data connections are encrypted too. */
  protectData: boolean;
  /** The algorithm HASH uses, set by OPTS HASH (absent: SHA-256). */
  hashAlgorithm?: string;
}

/** What a transfer body gets while it runs. */
export interface TransferContext {
  conn: DataConnection;
  /** Aborted by ABOR, a stalled connection, a lost control connection or shutdown. */
  signal: AbortSignal;
  /** Reports progress (resets the stall timer, counts bytes for STAT and the log). */
  progress(bytes: number): void;
  /** The upload's data has all arrived: the stall timer stops while storage finishes. */
  dataEnded(): void;
}

/** A transfer a command hands to its session to run over the data connection. */
export interface TransferSpec {
  command: string;
  path: string;
  /** Runs over the open data connection; returns the text of the final 226 reply. */
  run(transfer: TransferContext): Promise<string>;
  /**
   * Called with the cause when the transfer did not complete: an upload
   * leaves nothing behind, unless it keeps what arrived (keep_partial_uploads)
   * and returns a note for the reply saying so.
   */
  cleanup?(cause: unknown): Promise<string | void>;
}

/** Server-wide services a session uses. */
export interface SessionServices {
  /** The user and storage for a name and password, or `null`. */
  authenticate(name: string, password: string): Promise<LoggedIn | null>;
  /** Takes a logged-in slot; false when `maxLoggedInUsers` are logged in (the server frees it at disconnect). */
  claimLogin(): boolean;
  /** Counts a failed login from `ip` towards a temporary ban of that address. */
  loginFailed(ip: string): void;
  /** The IPv4 address a PASV reply announces for a control connection's local address. */
  passiveAddress(localAddress: string): Promise<string>;
  /** Whether the server is shutting down (new transfers are refused). */
  readonly shuttingDown: boolean;
}

/** The session as command handlers see it. */
export interface Session {
  readonly id: number;
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly services: SessionServices;
  /** The client's address. */
  readonly remoteAddress: string;
  /** The address the client connected to (passive listeners bind it). */
  readonly localAddress: string;
  /** The address the client used: {@link localAddress}, or the balancer's from a PROXY header. */
  readonly controlAddress: string;
  readonly state: SessionState;
  readonly data: DataChannels;
  /** Sends a reply; "\n" in `text` makes it multi-line. */
  send(code: number, text: string | string[]): Promise<void>;
  /** Starts a transfer in the background; the session sends its 150 and final replies. */
  startTransfer(spec: TransferSpec): void;
  /** Aborts the running transfer (its final reply is sent first); false when none ran. */
  abortTransfer(): Promise<boolean>;
  /**
   * Runs `job` in the background as the session's running operation, like a
   * transfer without a data connection: ABOR aborts `signal` (and waits for
   * the job's reply), STAT is answered meanwhile, other commands wait until
   * it ends. The job sends its own reply; what it throws is answered as a
   * command failure.
   */
  runAbortable(job: (signal: AbortSignal) => Promise<void>): void;
  /** Whether this server can do TLS (a certificate is configured). */
  readonly tlsAvailable: boolean;
  /** Switches the control connection to TLS right after the current reply (AUTH TLS). */
  startTls(): void;
  /** One-line status of the running transfer, or `null`. */
  transferStatus(): string | null;
  /** Closes the session once the current reply is sent (QUIT, too many failed logins). */
  end(): void;
}
