/**
 * Transfer parameters: TYPE, MODE, STRU (RFC 959 4.1.2). Only what object
 * storage can honour: image and ASCII types, stream mode, file structure.
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import type { Command } from "./command.ts";

const type: Command = {
  access: "login",
  needsArg: true,
  syntax: "TYPE A|I|L 8",
  async run(session, arg) {
    const parts = arg.trim().toUpperCase().split(/\s+/);
    if (parts[0] === "I" || (parts[0] === "L" && (parts[1] ?? "8") === "8")) {
      session.state.binary = true;
      return void await session.send(200, "Type set to I");
    }
    if (parts[0] === "A" && (parts[1] ?? "N") === "N") {
      session.state.binary = false;
      return void await session.send(200, "Type set to A");
    }
    throw new FtpError(504, `TYPE ${arg} not supported; use A or I`);
  },
};

/** MODE and STRU: one value is supported (`meaning` names it in the refusal). */
function onlyValue(verb: string, value: string, meaning: string, what: string): Command {
  return {
    access: "login",
    needsArg: true,
    syntax: `${verb} ${value}`,
    async run(session, arg) {
      if (arg.trim().toUpperCase() !== value) {
        throw new FtpError(504, `Only ${verb} ${value} (${meaning}) is supported`);
      }
      await session.send(200, `${what} set to ${value}`);
    },
  };
}

const mode = onlyValue("MODE", "S", "stream", "Mode");

const stru = onlyValue("STRU", "F", "file", "Structure");

/** TYPE, MODE, STRU. */
export const PARAMETER_COMMANDS: Record<string, Command> = { TYPE: type, MODE: mode, STRU: stru };
