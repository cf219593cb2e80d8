/**
 * FTPS (RFC 4217): AUTH, PBSZ, PROT, CCC.
 *
 * @module
 */

import type { Session } from "../context.ts";
import { FtpError } from "../errors.ts";
import type { Command } from "./command.ts";

const auth: Command = {
  access: "none",
  needsArg: true,
  syntax: "AUTH TLS",
  async run(session, arg) {
    const mechanism = arg.trim().toUpperCase();
    if (!["TLS", "SSL", "TLS-C", "TLS-P"].includes(mechanism)) {
      throw new FtpError(504, `AUTH ${mechanism} not supported; use AUTH TLS`);
    }
    if (!session.tlsAvailable) throw new FtpError(502, "FTPS is not configured on this server");
    if (session.state.tls) throw new FtpError(503, "Already using TLS");
    if (session.transferStatus()) throw new FtpError(503, "Not during a transfer");
    await session.send(234, `AUTH ${mechanism} successful`);
    session.startTls();
  },
};

/** PBSZ and PROT mean something only on a TLS control connection (RFC 4217 9, 10). */
function requireTlsControl(session: Session, verb: string): void {
  if (!session.state.tls) {
    throw new FtpError(503, `${verb} needs a TLS control connection (AUTH TLS)`);
  }
}

const pbsz: Command = {
  access: "none",
  needsArg: true,
  syntax: "PBSZ 0",
  async run(session) {
    requireTlsControl(session, "PBSZ");
    // TLS is a stream: the only buffer size that means anything is 0 (RFC 4217 8).
    await session.send(200, "PBSZ=0");
  },
};

const prot: Command = {
  access: "none",
  needsArg: true,
  syntax: "PROT P|C",
  async run(session, arg) {
    requireTlsControl(session, "PROT");
    const level = arg.trim().toUpperCase();
    if (level === "P") {
      session.state.protectData = true;
      return void await session.send(200, "Protection level set to Private");
    }
    if (level === "C") {
      if (session.config.tls.requireTls) {
        throw new FtpError(534, "Clear data connections are refused on this server");
      }
      session.state.protectData = false;
      return void await session.send(200, "Protection level set to Clear");
    }
    throw new FtpError(504, `PROT ${level} not supported; use P or C`);
  },
};

const ccc: Command = {
  access: "none",
  syntax: "CCC",
  run() {
    // Dropping to clear text would expose everything after it (and let a middlebox inject).
    return Promise.reject(new FtpError(534, "CCC refused: the control connection stays encrypted"));
  },
};

/** AUTH, PBSZ, PROT, CCC. */
export const SECURITY_COMMANDS: Record<string, Command> = {
  AUTH: auth,
  PBSZ: pbsz,
  PROT: prot,
  CCC: ccc,
};
