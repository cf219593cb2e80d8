/**
 * The shape of a command handler, and the checks most handlers share.
 *
 * @module
 */

import type { LoggedIn, Session } from "../context.ts";
import { FtpError } from "../errors.ts";
import { resolvePath } from "../paths.ts";

/** One FTP command. */
export interface Command {
  /** Whether the command needs a logged-in user. */
  needsLogin: boolean;
  /** Whether an empty argument is a syntax error (501). */
  needsArg?: boolean;
  /** Shown by HELP and in 501 replies. */
  syntax: string;
  run(session: Session, arg: string): Promise<void>;
}

/** The logged-in user (dispatch guarantees one for commands that need login). */
export function loggedIn(session: Session): LoggedIn {
  const user = session.state.user;
  if (!user) throw new FtpError(530, "Please log in with USER and PASS first");
  return user;
}

/** Resolves a command argument to an absolute virtual path. */
export function resolve(session: Session, arg: string): string {
  return resolvePath(session.state.cwd, arg);
}

/** Refuses unless the user may list and download (authority contains R). */
export function requireRead(session: Session): LoggedIn {
  const user = loggedIn(session);
  if (!user.user.canRead) throw new FtpError(550, "Permission denied: this account cannot read");
  return user;
}

/** Refuses unless the user may upload and change (authority contains W). */
export function requireWrite(session: Session): LoggedIn {
  const user = loggedIn(session);
  if (!user.user.canWrite) throw new FtpError(550, "Permission denied: this account cannot write");
  return user;
}

/** Refuses unless the user may destroy data (W and delete_enable). */
export function requireDelete(session: Session): LoggedIn {
  const user = requireWrite(session);
  if (!user.user.canDelete) {
    throw new FtpError(550, "Permission denied: deleting is disabled for this account");
  }
  return user;
}
