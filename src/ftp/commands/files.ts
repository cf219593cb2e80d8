/**
 * Changing the tree and asking about files: MKD, RMD, DELE, RNFR, RNTO,
 * SIZE, MDTM.
 *
 * @module
 */

import type { Entry, Storage } from "../../storage/types.ts";
import { FtpError } from "../errors.ts";
import { formatTimeVal } from "../listing.ts";
import { dirKey, fileKey, parentPath } from "../paths.ts";
import { quotePath } from "../reply.ts";
import { type Command, onPath } from "./command.ts";

/** 550 unless the directory that would hold `path` exists. */
export async function requireParent(storage: Storage, path: string): Promise<void> {
  const parent = parentPath(path);
  if (!(await storage.isDirectory(dirKey(parent)))) {
    throw new FtpError(550, `${parent}: No such directory`);
  }
}

const mkd = onPath("MKD <path>", "write", async (session, path, { storage }) => {
  if (path === "/") throw new FtpError(550, "/ already exists");
  await requireParent(storage, path);
  if (await storage.stat(fileKey(path))) throw new FtpError(550, `${path}: A file has that name`);
  await storage.mkdir(dirKey(path));
  await session.send(257, `${quotePath(path)} created`);
});

const rmd = onPath("RMD <path>", "delete", async (session, path, { storage }) => {
  if (path === "/") throw new FtpError(550, "Cannot remove the root directory");
  await storage.rmdir(dirKey(path));
  await session.send(250, `${path} removed`);
});

const dele = onPath("DELE <path>", "delete", async (session, path, { storage }) => {
  await storage.delete(fileKey(path));
  await session.send(250, `${path} deleted`);
});

const rnfr = onPath("RNFR <path>", "write", async (session, path, { storage }) => {
  if (path === "/") throw new FtpError(550, "Cannot rename the root directory");
  const isFile = (await storage.stat(fileKey(path))) !== null;
  if (!isFile && !(await storage.isDirectory(dirKey(path)))) {
    throw new FtpError(550, `${path}: No such file or directory`);
  }
  session.state.renameFrom = { path, isDir: !isFile };
  await session.send(350, "Ready for RNTO");
});

const rnto = onPath("RNTO <path>", "write", async (session, to, { storage, user }) => {
  const from = session.state.renameFrom;
  session.state.renameFrom = null;
  if (!from) throw new FtpError(503, "Send RNFR first");
  if (to === "/") throw new FtpError(553, "Cannot rename onto the root directory");
  // On object storage a rename is copy-then-delete: onto itself, that would delete the file.
  if (to === from.path) return void await session.send(250, `${to}: same name, nothing to do`);
  if (from.isDir && to.startsWith(`${from.path}/`)) {
    throw new FtpError(550, "Cannot move a directory into itself");
  }
  await requireParent(storage, to);
  if (await storage.isDirectory(dirKey(to))) {
    throw new FtpError(550, `${to}: A directory has that name`);
  }
  const existing = await storage.stat(fileKey(to));
  if (existing && (from.isDir || !user.canDelete)) {
    const why = from.isDir ? "a file has that name" : "overwriting is disabled for this account";
    throw new FtpError(550, `${to}: ${why}`);
  }
  if (from.isDir) await storage.rename(dirKey(from.path), dirKey(to));
  else await storage.rename(fileKey(from.path), fileKey(to));
  await session.send(250, `Renamed ${from.path} to ${to}`);
}, { takesRename: true });

/** The file at `path`, for SIZE and MDTM: 550 saying whether the name is missing or a directory. */
async function statFile(storage: Storage, path: string): Promise<Entry> {
  const entry = path === "/" ? null : await storage.stat(fileKey(path));
  if (entry) return entry;
  if (path === "/" || await storage.isDirectory(dirKey(path))) {
    throw new FtpError(550, `${path}: Not a plain file`);
  }
  throw new FtpError(550, `${path}: No such file or directory`);
}

const size = onPath("SIZE <path>", "read", async (session, path, { storage }) => {
  // RFC 3659 4: in TYPE A, SIZE must count the bytes RETR would send (CRLF line ends);
  // refused instead, as vsftpd and pyftpdlib do, rather than reading the whole file.
  if (!session.state.binary) throw new FtpError(550, "SIZE not allowed in ASCII mode");
  const entry = await statFile(storage, path);
  await session.send(213, String(entry.size));
});

const modificationTime = onPath("MDTM <path>", "read", async (session, path, { storage }) => {
  const entry = await statFile(storage, path);
  if (!entry.modified) throw new FtpError(550, "Modification time unknown");
  await session.send(213, formatTimeVal(entry.modified));
});

/** MDTM with a time first is the form that sets it (draft-somers-ftp-mfxx), which we refuse. */
const mdtm: Command = {
  ...modificationTime,
  async run(session, arg) {
    if (/^\d{14}\s/.test(arg)) {
      throw new FtpError(550, "Setting modification times is not supported");
    }
    await modificationTime.run(session, arg);
  },
};

/** MKD, RMD, DELE, RNFR, RNTO, SIZE, MDTM and the RFC 775 aliases. */
export const FILE_COMMANDS: Record<string, Command> = {
  MKD: mkd,
  XMKD: mkd,
  RMD: rmd,
  XRMD: rmd,
  DELE: dele,
  RNFR: rnfr,
  RNTO: rnto,
  SIZE: size,
  MDTM: mdtm,
};
