/**
 * The working directory: PWD, CWD, CDUP (and their X- forms from RFC 775).
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import { dirKey } from "../paths.ts";
import { quotePath } from "../reply.ts";
import { type Command, loggedIn, resolve } from "./command.ts";
import type { Session } from "../context.ts";

const pwd: Command = {
  access: "login",
  syntax: "PWD",
  async run(session) {
    await session.send(257, `${quotePath(session.state.cwd)} is the current directory`);
  },
};

/** Changes to `arg` when it is a directory (one storage request). */
async function changeDirectory(session: Session, arg: string): Promise<void> {
  const { storage } = loggedIn(session);
  const path = resolve(session, arg);
  if (!(await storage.isDirectory(dirKey(path)))) {
    throw new FtpError(550, `${path}: No such directory`);
  }
  session.state.cwd = path;
  await session.send(250, `Directory changed to ${path}`);
}

const cwd: Command = {
  access: "login",
  needsArg: true,
  syntax: "CWD <path>",
  run: changeDirectory,
};

const cdup: Command = {
  access: "login",
  syntax: "CDUP",
  run: (session) => changeDirectory(session, ".."),
};

/** PWD, CWD, CDUP and the RFC 775 aliases. */
export const NAVIGATION_COMMANDS: Record<string, Command> = {
  PWD: pwd,
  XPWD: pwd,
  CWD: cwd,
  XCWD: cwd,
  CDUP: cdup,
  XCUP: cdup,
};
