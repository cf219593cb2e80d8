/**
 * The shape of a command: everything that is true of one FTP command lives
 * in its entry (who may run it, when, what it does to the session), and the
 * session's dispatcher applies it. Adding a command touches one file.
 *
 * @module
 */

import type { LoggedIn, Session } from "../context.ts";
import { FtpError } from "../errors.ts";
import { resolvePath } from "../paths.ts";

/**
 * What a user needs before a command runs: `none` (anyone, before login
 * too), `login` (a logged-in user), or a right besides: `read` (R: list and
 * download), `write` (W: upload and change), `delete` (W and delete_enable).
 */
export type Access = "none" | "login" | "read" | "write" | "delete";

/** One FTP command. */
export interface Command {
  /** Shown by HELP and in 501 replies. */
  syntax: string;
  /** What the user needs; a function where it depends on the argument (STAT with or without a path). */
  access: Access | ((arg: string) => Access);
  /** Whether an empty argument is a syntax error (501). */
  needsArg?: boolean;
  /** Served while a transfer runs (RFC 959 4.1.3); any other command waits for it to end. */
  duringTransfer?: boolean;
  /** Opens a data connection: with require_tls, only once data is protected (PROT P). */
  opensData?: boolean;
  /** Carries credentials: with require_tls, only over TLS. */
  carriesCredentials?: boolean;
  /** Consumes the pending RNFR (RNTO); any other command cancels it. */
  takesRename?: boolean;
  /** The data comes from the client (STOR, APPE). */
  upload?: boolean;
  run(session: Session, arg: string): Promise<void>;
}

/** A command whose whole work is one fixed reply (NOOP, SYST, ALLO). */
export function fixedReply(syntax: string, access: Access, code: number, text: string): Command {
  return { access, syntax, run: (session) => session.send(code, text) };
}

/**
 * A command on one path argument (MKD, DELE, RNFR...): `act` gets the path
 * resolved against the working directory and the logged-in user's storage.
 */
export function onPath(
  syntax: string,
  access: Exclude<Access, "none">,
  act: (session: Session, path: string, login: LoggedIn) => Promise<void>,
  flags: Pick<Command, "takesRename" | "opensData" | "upload"> = {},
): Command {
  return {
    ...flags,
    syntax,
    access,
    needsArg: true,
    run: (session, arg) => act(session, resolve(session, arg), loggedIn(session)),
  };
}

/** Throws the reply for a user who may not run a command that needs `access`. */
export function checkAccess(session: Session, access: Access): void {
  if (access === "none") return;
  const { user } = loggedIn(session);
  if (access === "read" && !user.canRead) {
    throw new FtpError(550, "Permission denied: this account cannot read");
  }
  if ((access === "write" || access === "delete") && !user.canWrite) {
    throw new FtpError(550, "Permission denied: this account cannot write");
  }
  if (access === "delete" && !user.canDelete) {
    throw new FtpError(550, "Permission denied: deleting is disabled for this account");
  }
}

/**
 * Refuses an operation that would destroy stored bytes (an overwrite, a
 * truncating resume) unless the user may delete: `delete_enable = false`
 * protects data from overwrites as surely as from DELE.
 */
export function refuseDestroying(session: Session): void {
  checkAccess(session, "delete");
}

/** The logged-in user (the dispatcher guarantees one for commands that need more than `none`). */
export function loggedIn(session: Session): LoggedIn {
  const user = session.state.user;
  if (!user || session.state.phase !== "ready") {
    throw new FtpError(530, "Please log in with USER and PASS first");
  }
  return user;
}

/** Resolves a command argument to an absolute virtual path. */
export function resolve(session: Session, arg: string): string {
  return resolvePath(session.state.cwd, arg);
}
