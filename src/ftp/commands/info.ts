/**
 * Questions about the server and session: NOOP, SYST, FEAT, OPTS, STAT.
 *
 * @module
 */

import { VERSION } from "../../version.ts";
import type { Session } from "../context.ts";
import { FtpError } from "../errors.ts";
import { formatListLine, SUPPORTED_FACTS } from "../listing.ts";
import { type Command, fixedReply, loggedIn } from "./command.ts";
import { hashFeature, optsHash } from "./hash.ts";
import { resolveListTarget, targetEntries } from "./listing.ts";

/** Most lines STAT <path> sends over the control connection. */
const STAT_MAX_LINES = 1000;

const noop = fixedReply("NOOP", "none", 200, "NOOP ok");

const syst = fixedReply("SYST", "none", 215, "UNIX Type: L8");

const feat: Command = {
  access: "none",
  syntax: "FEAT",
  async run(session) {
    const facts = SUPPORTED_FACTS.map((fact) => `${fact}*;`).join("");
    const features = [
      "EPRT",
      "EPSV",
      hashFeature(session),
      "MDTM",
      `MLST ${facts}`,
      "REST STREAM",
      "SIZE",
      "TVFS",
      "UTF8",
      "XCRC",
      "XMD5",
      "XSHA1",
      "XSHA256",
    ];
    if (session.tlsAvailable) features.unshift("AUTH TLS", "AUTH SSL", "PBSZ", "PROT");
    await session.send(211, ["Features:", ...features.map((f) => ` ${f}`), "End"]);
  },
};

const opts: Command = {
  access: "none",
  needsArg: true,
  syntax: "OPTS UTF8 ON | OPTS MLST <facts> | OPTS HASH [algorithm]",
  async run(session, arg) {
    const [option, ...rest] = arg.trim().split(/\s+/);
    const value = rest.join(" ");
    switch (option.toUpperCase()) {
      case "UTF8":
        if (value.toUpperCase() !== "ON" && value !== "") {
          throw new FtpError(504, "UTF8 is always on");
        }
        return void await session.send(200, "UTF8 mode is always on");
      case "MLST":
        return void await setMlstFacts(session, value);
      case "HASH":
        return void await optsHash(session, value);
      default:
        throw new FtpError(501, `Unknown option ${option}`);
    }
  },
};

async function setMlstFacts(session: Session, value: string): Promise<void> {
  const wanted = value.toLowerCase().split(";").filter((f) => SUPPORTED_FACTS.includes(f));
  session.state.mlstFacts = new Set(wanted);
  await session.send(200, `MLST OPTS ${wanted.map((f) => `${f};`).join("")}`);
}

const stat: Command = {
  access: (arg) => arg.trim() === "" ? "none" : "read",
  duringTransfer: true,
  syntax: "STAT [path]",
  async run(session, arg) {
    const running = session.transferStatus();
    if (running) return void await session.send(213, `Status: ${running}`);
    if (arg.trim() === "") return void await session.send(211, serverStatus(session));
    await session.send(213, [
      `Status of ${arg}:`,
      ...await statListing(session, arg),
      "End of status",
    ]);
  },
};

function serverStatus(session: Session): string[] {
  const { state } = session;
  return [
    `cos-ftp-server ${VERSION} status:`,
    `Connected from ${session.remoteAddress}`,
    state.user ? `Logged in as ${state.user.user.name}` : "Not logged in",
    `TYPE: ${state.binary ? "BINARY" : "ASCII"}; STRUcture: File; transfer MODE: Stream`,
    session.data.mode
      ? `${session.data.mode === "active" ? "Active" : "Passive"} data connection ready`
      : "No data connection",
    state.tls
      ? `Control connection: TLS; data: ${state.protectData ? "TLS (PROT P)" : "clear (PROT C)"}`
      : "Control connection: clear",
    "End of status",
  ];
}

async function statListing(session: Session, arg: string): Promise<string[]> {
  const { storage, user } = loggedIn(session);
  const target = await resolveListTarget(session, arg);
  const now = new Date();
  const lines: string[] = [];
  for await (const page of targetEntries(storage, target)) {
    for (const entry of page) {
      if (lines.length >= STAT_MAX_LINES) {
        return [...lines, `(cut at ${STAT_MAX_LINES} entries; use LIST)`];
      }
      lines.push(formatListLine(entry, user, now));
    }
  }
  return lines;
}

/** NOOP, SYST, FEAT, OPTS, STAT. */
export const INFO_COMMANDS: Record<string, Command> = {
  NOOP: noop,
  SYST: syst,
  FEAT: feat,
  OPTS: opts,
  STAT: stat,
};
