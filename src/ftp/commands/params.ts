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

const mode: Command = {
  access: "login",
  needsArg: true,
  syntax: "MODE S",
  async run(session, arg) {
    if (arg.trim().toUpperCase() !== "S") {
      throw new FtpError(504, "Only MODE S (stream) is supported");
    }
    await session.send(200, "Mode set to S");
  },
};

const stru: Command = {
  access: "login",
  needsArg: true,
  syntax: "STRU F",
  async run(session, arg) {
    if (arg.trim().toUpperCase() !== "F") {
      throw new FtpError(504, "Only STRU F (file) is supported");
    }
    await session.send(200, "Structure set to F");
  },
};

/** TYPE, MODE, STRU. */
export const PARAMETER_COMMANDS: Record<string, Command> = { TYPE: type, MODE: mode, STRU: stru };
