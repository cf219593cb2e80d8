/**
 * Directory listings: LIST, NLST, MLSD over the data connection, MLST over
 * the control connection. Pages from storage are formatted and sent as they
 * arrive, so memory stays constant whatever the directory size.
 *
 * @module
 */

import type { UserConfig } from "../../config/types.ts";
import type { Entry, Storage } from "../../storage/types.ts";
import type { Session, TransferContext } from "../context.ts";
import { FtpError } from "../errors.ts";
import { globMatcher, hasWildcard } from "../glob.ts";
import { formatFacts, formatListLine } from "../listing.ts";
import { baseName, dirKey, fileKey } from "../paths.ts";
import { type Command, loggedIn, resolve } from "./command.ts";

/** What a listing argument named: one file, or a directory filtered by an optional glob. */
export interface ListTarget {
  path: string;
  file: Entry | null;
  pattern: ((name: string) => boolean) | null;
  /** Prefix NLST puts before names, as the client wrote the argument ("" for the cwd). */
  namePrefix: string;
}

/**
 * Resolves a LIST/NLST/STAT argument: `ls` options stripped, globs in the
 * last segment. A name that exists as written wins over reading it as a
 * glob (`a[1].txt` is that file, not `a1.txt`), as ls does.
 */
export async function resolveListTarget(session: Session, arg: string): Promise<ListTarget> {
  const { storage } = loggedIn(session);
  const spec = stripListOptions(arg);
  const slash = spec.lastIndexOf("/");
  const last = spec.slice(slash + 1);
  if (hasWildcard(last) && !(await existsLiterally(session, storage, spec))) {
    const path = resolve(session, spec.slice(0, slash + 1) || ".");
    await requireDirectory(storage, path);
    return { path, file: null, pattern: globMatcher(last), namePrefix: spec.slice(0, slash + 1) };
  }
  const path = resolve(session, spec || ".");
  const prefix = spec === "" ? "" : `${spec.replace(/\/+$/, "")}/`;
  if (path !== "/") {
    const file = await storage.stat(fileKey(path));
    if (file) return { path, file, pattern: null, namePrefix: spec };
  }
  await requireDirectory(storage, path);
  return { path, file: null, pattern: null, namePrefix: prefix };
}

/** Whether `spec` names a file or directory as written (one request, two for a directory). */
async function existsLiterally(session: Session, storage: Storage, spec: string): Promise<boolean> {
  const path = resolve(session, spec);
  if (path === "/") return true;
  return (await storage.stat(fileKey(path))) !== null ||
    await storage.isDirectory(dirKey(path));
}

/** Entries of a target, page by page, filtered by its glob. */
export async function* targetEntries(
  storage: Storage,
  target: ListTarget,
  signal?: AbortSignal,
): AsyncGenerator<Entry[]> {
  if (target.file) return yield [target.file];
  for await (const page of storage.list(dirKey(target.path), { signal })) {
    yield target.pattern ? page.filter((entry) => target.pattern!(entry.name)) : page;
  }
}

/** `-la`, `-a -l` etc. before the path: clients send them, storage has no use for them. */
function stripListOptions(arg: string): string {
  return arg.replace(/^(\s*-[A-Za-z0-9]+)+(\s+|$)/, "").trim();
}

async function requireDirectory(storage: Storage, path: string): Promise<void> {
  if (!(await storage.isDirectory(dirKey(path)))) {
    throw new FtpError(550, `${path}: No such file or directory`);
  }
}

type LineFormat = (entry: Entry, user: UserConfig, target: ListTarget) => string;

/** Sends a listing over the data connection, stopping at max_list_file. */
function listingTransfer(
  session: Session,
  command: string,
  target: ListTarget,
  format: LineFormat,
): void {
  const { storage, user } = loggedIn(session);
  const limit = session.config.maxListFile;
  const encoder = new TextEncoder();
  session.startTransfer({
    command,
    path: target.path,
    async run(transfer: TransferContext) {
      const writer = transfer.conn.writable.getWriter();
      let count = 0;
      for await (const page of targetEntries(storage, target, transfer.signal)) {
        const room = limit > 0 ? limit - count : page.length;
        const lines = page.slice(0, room).map((entry) => format(entry, user, target) + "\r\n");
        count += lines.length;
        const bytes = encoder.encode(lines.join(""));
        await writeOrFail(writer, bytes);
        transfer.progress(bytes.length);
        if (limit > 0 && count >= limit && room < page.length) {
          writer.releaseLock();
          await transfer.conn.finish().catch(() => {});
          return `Listing cut at ${limit} entries (max_list_file); ask for a narrower path`;
        }
      }
      writer.releaseLock();
      await transfer.conn.finish().catch(() => {});
      return `Transfer complete: ${count} entries`;
    },
  });
}

async function writeOrFail(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  bytes: Uint8Array,
): Promise<void> {
  try {
    await writer.write(bytes);
  } catch {
    throw new FtpError(426, "Data connection closed by the client; listing aborted");
  }
}

/** LIST and NLST: a directory, a file, or a glob, each line made by `lineFor` (given the time now). */
function listCommand(name: string, syntax: string, lineFor: (now: Date) => LineFormat): Command {
  return {
    access: "read",
    opensData: true,
    syntax,
    async run(session, arg) {
      const target = await resolveListTarget(session, arg);
      listingTransfer(session, name, target, lineFor(new Date()));
    },
  };
}

const list = listCommand(
  "LIST",
  "LIST [-options] [path]",
  (now) => (entry, user) => formatListLine(entry, user, now),
);

const nlst = listCommand(
  "NLST",
  "NLST [path]",
  () => (entry, _user, t) => (t.file ? t.namePrefix : t.namePrefix + entry.name),
);

const mlsd: Command = {
  access: "read",
  opensData: true,
  syntax: "MLSD [path]",
  async run(session, arg) {
    const { storage } = loggedIn(session);
    const path = resolve(session, arg || ".");
    await requireDirectory(storage, path);
    const target: ListTarget = { path, file: null, pattern: null, namePrefix: "" };
    const facts = session.state.mlstFacts;
    listingTransfer(
      session,
      "MLSD",
      target,
      (entry, user) => formatFacts(entry, entry.kind, user, facts, entry.name),
    );
  },
};

const mlst: Command = {
  access: "read",
  syntax: "MLST [path]",
  async run(session, arg) {
    const { storage, user } = loggedIn(session);
    const path = resolve(session, arg || ".");
    const file = path === "/" ? null : await storage.stat(fileKey(path));
    let entry: Entry;
    if (file) entry = file;
    else {
      await requireDirectory(storage, path);
      entry = { name: baseName(path), kind: "dir", size: 0, modified: null };
    }
    const facts = formatFacts(entry, entry.kind, user, session.state.mlstFacts, path);
    await session.send(250, [`Listing ${path}`, ` ${facts}`, "End"]);
  },
};

/** LIST, NLST, MLSD, MLST. */
export const LISTING_COMMANDS: Record<string, Command> = {
  LIST: list,
  NLST: nlst,
  MLSD: mlsd,
  MLST: mlst,
};
