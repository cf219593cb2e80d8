/**
 * SITE: only what real clients send on their own. `lftp mirror -R` follows
 * every upload with SITE CHMOD and exits non-zero when it fails; object
 * storage has no modes, so CHMOD succeeds as a no-op and says so.
 *
 * @module
 */

import { FtpError } from "../errors.ts";
import type { Command } from "./command.ts";

const site: Command = {
  // CHMOD changes a file (in name only): it needs the right to write.
  access: (arg) => /^\s*CHMOD\b/i.test(arg) ? "write" : "login",
  needsArg: true,
  syntax: "SITE CHMOD <mode> <path> | SITE HELP",
  async run(session, arg) {
    const [sub] = arg.trim().split(/\s+/);
    switch (sub.toUpperCase()) {
      case "CHMOD":
        return void await session.send(200, "SITE CHMOD ignored: storage keeps no file modes");
      case "HELP":
        return void await session.send(214, [
          "SITE commands:",
          " CHMOD (accepted, no effect)",
          "End",
        ]);
      default:
        throw new FtpError(504, `SITE ${sub} not implemented`);
    }
  },
};

/** SITE. */
export const SITE_COMMANDS: Record<string, Command> = { SITE: site };
