/**
 * Logging in and out: USER, PASS, QUIT.
 *
 * @module
 */

import type { Session } from "../context.ts";
import { FtpError } from "../errors.ts";
import type { Command } from "./command.ts";

const user: Command = {
  access: "none",
  carriesCredentials: true,
  needsArg: true,
  syntax: "USER <name>",
  async run(session, arg) {
    if (session.state.phase === "ready") {
      throw new FtpError(503, "Already logged in");
    }
    session.state.pendingUser = arg.trim();
    session.state.phase = "need-password";
    // Same reply for every name, so USER cannot be used to find accounts.
    await session.send(331, `Password required for ${session.state.pendingUser}`);
  },
};

const pass: Command = {
  access: "none",
  carriesCredentials: true,
  syntax: "PASS <password>",
  async run(session, arg) {
    const state = session.state;
    if (state.phase === "ready") throw new FtpError(503, "Already logged in");
    if (state.phase !== "need-password") throw new FtpError(503, "Send USER first");
    const found = await session.services.authenticate(state.pendingUser, arg);
    if (found && !session.services.claimLogin()) return await tooManyUsers(session);
    if (found) {
      state.user = found;
      state.phase = "ready";
      session.log.info("login", {
        session: session.id,
        user: found.user.name,
        ip: session.remoteAddress,
        result: "ok",
      });
      return void await session.send(230, "Login successful");
    }
    await refuse(session);
  },
};

/** A correct login while `maxLoggedInUsers` are logged in: 421 and hang up. */
async function tooManyUsers(session: Session): Promise<void> {
  session.state.phase = "need-user";
  session.log.warn("login", {
    session: session.id,
    user: session.state.pendingUser,
    ip: session.remoteAddress,
    result: "too-many-users",
  });
  await session.send(421, "Too many users logged in; try later");
  session.end();
}

/** A failed login: count it towards a ban, wait, answer 530, and hang up after too many tries. */
async function refuse(session: Session): Promise<void> {
  const state = session.state;
  state.failedLogins++;
  state.phase = "need-user";
  session.services.loginFailed(session.remoteAddress);
  session.log.warn("login", {
    session: session.id,
    user: state.pendingUser,
    ip: session.remoteAddress,
    result: "failed",
    attempt: state.failedLogins,
  });
  await new Promise((resolve) => setTimeout(resolve, session.config.loginFailDelayMs));
  await session.send(530, "Login incorrect");
  if (state.failedLogins >= session.config.maxLoginAttempts) session.end();
}

const quit: Command = {
  access: "none",
  syntax: "QUIT",
  async run(session) {
    await session.send(221, "Goodbye");
    session.end();
  },
};

/** USER, PASS, QUIT. */
export const ACCESS_COMMANDS: Record<string, Command> = { USER: user, PASS: pass, QUIT: quit };
