/**
 * Data transfers: PASV, EPSV, PORT, EPRT, REST, RETR, STOR, APPE, ALLO, ABOR.
 *
 * @module
 */

import type { WriteSink } from "../../storage/types.ts";
import { familyOf, parseEprt, parsePort } from "../active.ts";
import { CrlfToLf, lfToCrlf } from "../ascii.ts";
import type { Session } from "../context.ts";
import { ConnectionLost, FtpError } from "../errors.ts";
import { fileKey } from "../paths.ts";
import { commitCheckpoint, receiveFromClient, sendToClient } from "../pump.ts";
import { type Command, fixedReply, loggedIn, onPath, refuseDestroying } from "./command.ts";
import { requireParent } from "./files.ts";

/** The address passive listeners bind: the one the client reached us on. */
function bindAddress(session: Session): string {
  return session.localAddress;
}

const pasv: Command = {
  access: "login",
  syntax: "PASV",
  async run(session) {
    if (session.state.epsvAll) throw new FtpError(501, "Only EPSV is allowed after EPSV ALL");
    const address = await session.services.passiveAddress(session.controlAddress);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(address)) {
      throw new FtpError(425, "PASV needs an IPv4 address; use EPSV");
    }
    const port = session.data.openPassive(bindAddress(session));
    const h = address.split(".").join(",");
    await session.send(227, `Entering Passive Mode (${h},${port >> 8},${port & 255}).`);
  },
};

const epsv: Command = {
  access: "login",
  syntax: "EPSV [1|2|ALL]",
  async run(session, arg) {
    const what = arg.trim().toUpperCase();
    if (what === "ALL") {
      session.state.epsvAll = true;
      return void await session.send(200, "EPSV ALL accepted");
    }
    const family = session.controlAddress.includes(":") ? "2" : "1";
    if (what !== "" && what !== family) {
      throw new FtpError(522, `Network protocol not supported, use (${family})`);
    }
    const port = session.data.openPassive(bindAddress(session));
    await session.send(229, `Entering Extended Passive Mode (|||${port}|)`);
  },
};

/**
 * What PORT and EPRT check before parsing: active mode enabled, no EPSV ALL.
 * Like PASV, a PORT or EPRT drops any earlier prepared connection, even when
 * its argument is then refused.
 */
function allowActive(session: Session): void {
  if (!session.config.activeMode) {
    throw new FtpError(502, "Active mode is disabled on this server; use PASV or EPSV");
  }
  if (session.state.epsvAll) throw new FtpError(501, "Only EPSV is allowed after EPSV ALL");
  session.data.discard();
}

/** PORT or EPRT: `parse` reads the client's address; the connection is made when the transfer starts. */
function activeCommand(
  verb: "PORT" | "EPRT",
  syntax: string,
  parse: (session: Session, arg: string) => { host: string; port: number },
): Command {
  return {
    access: "login",
    needsArg: true,
    syntax,
    async run(session, arg) {
      allowActive(session);
      const target = parse(session, arg);
      session.data.openActive(target.host, target.port, verb);
      await session.send(
        200,
        `${verb} command successful; the server connects when the transfer starts`,
      );
    },
  };
}

const port = activeCommand("PORT", "PORT h1,h2,h3,h4,p1,p2", (_session, arg) => parsePort(arg));

const eprt = activeCommand(
  "EPRT",
  "EPRT |1|a.b.c.d|port| or |2|ipv6|port|",
  (session, arg) => parseEprt(arg, familyOf(session.remoteAddress)),
);

const rest: Command = {
  access: "login",
  needsArg: true,
  syntax: "REST <offset>",
  async run(session, arg) {
    if (!/^\d{1,15}$/.test(arg.trim())) throw new FtpError(501, "REST needs a byte offset");
    session.state.restOffset = Number(arg.trim());
    await session.send(
      350,
      `Restarting at ${session.state.restOffset}; send RETR, or STOR to resume an upload`,
    );
  },
};

const retr = onPath("RETR <path>", "read", async (session, path, { storage }) => {
  const offset = takeRestOffset(session);
  refuseWhenShuttingDown(session);
  const entry = path === "/" ? null : await storage.stat(fileKey(path));
  if (!entry) throw new FtpError(550, `${path}: No such file`);
  if (offset > entry.size) {
    throw new FtpError(554, `REST offset ${offset} is past the end (${entry.size} bytes)`);
  }
  const stream = await storage.read(fileKey(path), { offset });
  const source = session.state.binary ? stream : stream.pipeThrough(lfToCrlf());
  session.startTransfer({
    command: "RETR",
    path,
    async run(transfer) {
      await sendToClient(source, transfer);
      return "Transfer complete";
    },
    cleanup: () => source.cancel().catch(() => {}),
  });
}, { opensData: true });

const UPLOAD = { opensData: true, upload: true };

const stor = onPath("STOR <path>", "write", async (session, path, { storage, user }) => {
  const offset = takeRestOffset(session);
  refuseWhenShuttingDown(session);
  await requireParent(storage, path);
  const existing = await storage.stat(fileKey(path));
  if (offset > (existing?.size ?? 0)) {
    throw new FtpError(
      554,
      `REST offset ${offset} is past the end of ${path} (${existing?.size ?? 0} bytes)`,
    );
  }
  // Resuming at the end only adds bytes; anything shorter replaces stored ones.
  if (!user.canDelete && existing && offset < existing.size) refuseDestroying(session);
  await startUpload(session, "STOR", path, offset);
}, UPLOAD);

const appe = onPath("APPE <path>", "write", async (session, path, { storage }) => {
  takeRestOffset(session);
  refuseWhenShuttingDown(session);
  await requireParent(storage, path);
  const existing = await storage.stat(fileKey(path));
  await startUpload(session, "APPE", path, existing?.size ?? 0);
}, UPLOAD);

/**
 * Receives a file into `path`, keeping the first `keepBytes` bytes of the
 * one there. Nothing is visible until the last byte is stored and no ABOR or
 * lost control connection came first; a failed upload leaves the old file as
 * it was (unless keep_partial_uploads keeps what a broken network delivered).
 */
async function startUpload(
  session: Session,
  command: string,
  path: string,
  keepBytes: number,
): Promise<void> {
  const { storage } = loggedIn(session);
  const sink = await storage.write(fileKey(path), { keepBytes });
  const maxSize = session.config.singleFileMaxSize;
  const binary = session.state.binary;
  const keepPartial = session.config.keepPartialUploads;
  // A sink commits once: after a commit was begun, a failure can only abort it.
  let committing = false;
  session.startTransfer({
    command,
    path,
    async run(transfer) {
      const ascii = binary ? null : new CrlfToLf();
      const store = (chunk: Uint8Array) => writeLimited(sink, chunk, maxSize);
      const startedAt = performance.now();
      let checkpoint = () => Promise.resolve();
      await receiveFromClient(
        (chunk) => store(ascii ? ascii.convert(chunk) : chunk),
        transfer,
        () => checkpoint = commitCheckpoint(transfer.signal, startedAt),
      );
      if (ascii) await store(ascii.flush());
      committing = true;
      // The data ended, so every byte is in the sink: a network loss now still keeps it all.
      const confirm = keepPartial ? () => checkpoint().catch(rethrowUnlessLost) : checkpoint;
      const stored = await sink.commit(confirm);
      return `Transfer complete: ${stored.size} bytes stored`;
    },
    async cleanup(cause) {
      if (committing || !keepPartial || !(cause instanceof ConnectionLost)) {
        return await sink.abort();
      }
      const stored = await sink.commit();
      return `${stored.size} bytes kept (keep_partial_uploads); resume with REST or APPE`;
    },
  });
}

function rethrowUnlessLost(error: unknown): void {
  if (!(error instanceof ConnectionLost)) throw error;
}

async function writeLimited(sink: WriteSink, chunk: Uint8Array, maxSize: number): Promise<void> {
  if (maxSize > 0 && sink.bytesWritten + chunk.length > maxSize) {
    throw new FtpError(
      552,
      `File exceeds the size limit of ${maxSize} bytes (single_file_max_size); upload discarded`,
    );
  }
  await sink.write(chunk);
}

/** REST applies to the next transfer only. */
function takeRestOffset(session: Session): number {
  const offset = session.state.restOffset;
  session.state.restOffset = 0;
  return offset;
}

function refuseWhenShuttingDown(session: Session): void {
  if (session.services.shuttingDown) {
    throw new FtpError(421, "Server shutting down; no new transfers");
  }
}

const allo = fixedReply("ALLO <size>", "login", 202, "No storage allocation necessary");

const abor: Command = {
  access: "login",
  duringTransfer: true,
  syntax: "ABOR",
  async run(session) {
    const aborted = await session.abortTransfer();
    session.data.discard();
    await session.send(226, aborted ? "ABOR successful" : "No transfer to abort");
  },
};

/** PASV, EPSV, PORT, EPRT, REST, RETR, STOR, APPE, ALLO, ABOR. */
export const TRANSFER_COMMANDS: Record<string, Command> = {
  PASV: pasv,
  EPSV: epsv,
  PORT: port,
  EPRT: eprt,
  REST: rest,
  RETR: retr,
  STOR: stor,
  APPE: appe,
  ALLO: allo,
  ABOR: abor,
};
