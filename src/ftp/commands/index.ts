/**
 * The command table, and HELP (which describes the table).
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import { ACCESS_COMMANDS } from "./access.ts";
import type { Command } from "./command.ts";
import { FILE_COMMANDS } from "./files.ts";
import { HASH_COMMANDS } from "./hash.ts";
import { INFO_COMMANDS } from "./info.ts";
import { LISTING_COMMANDS } from "./listing.ts";
import { NAVIGATION_COMMANDS } from "./navigation.ts";
import { PARAMETER_COMMANDS } from "./params.ts";
import { SECURITY_COMMANDS } from "./security.ts";
import { SITE_COMMANDS } from "./site.ts";
import { TRANSFER_COMMANDS } from "./transfer.ts";

const help: Command = {
  access: "none",
  syntax: "HELP [command]",
  async run(session, arg) {
    const name = arg.trim().toUpperCase();
    if (name === "") {
      const names = [...COMMANDS.keys()].sort();
      const rows: string[] = [];
      for (let i = 0; i < names.length; i += 8) rows.push(" " + names.slice(i, i + 8).join(" "));
      return void await session.send(214, [
        "The following commands are recognized:",
        ...rows,
        "Help OK",
      ]);
    }
    const command = COMMANDS.get(name);
    if (!command) throw new FtpError(502, `Unknown command ${name}`);
    await session.send(214, `Syntax: ${command.syntax}`);
  },
};

/** Every command the server implements, by upper-case name. */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(Object.entries({
  ...ACCESS_COMMANDS,
  ...INFO_COMMANDS,
  ...PARAMETER_COMMANDS,
  ...NAVIGATION_COMMANDS,
  ...FILE_COMMANDS,
  ...LISTING_COMMANDS,
  ...TRANSFER_COMMANDS,
  ...SITE_COMMANDS,
  ...SECURITY_COMMANDS,
  ...HASH_COMMANDS,
  HELP: help,
}));
