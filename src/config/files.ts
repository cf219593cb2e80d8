/**
 * Checks the files and directories a config names before the server uses them
 * (log_dir and its cos_v5.log, the FTPS PEM files, local storage roots), so an
 * unusable path is a `file:line: key: message` from `--check` and at start-up
 * instead of a crash once the server is running.
 *
 * @module
 */

import { dirname, join } from "node:path";
import { LOG_FILE_NAME } from "../log.ts";
import { printable } from "./show.ts";
import type { ConfigIssue, ServerConfig } from "./types.ts";

/** How the server uses a path. */
export type FileRole = "log-dir" | "read-file" | "storage-root";

/** A path the config names, and where. */
export interface FileUse {
  role: FileRole;
  /** Absolute path. */
  path: string;
  file: string;
  line: number;
  key: string;
}

/**
 * `check` only looks (and writes nothing but a probe file it removes again);
 * `start` creates missing directories and the log file, as serving would.
 */
export type FileCheckMode = "check" | "start";

/** PEM certificates and keys are a few KiB; a larger file is the wrong file. */
const MAX_PEM_BYTES = 1 << 20;
/** Linux limits: NAME_MAX and PATH_MAX. */
const MAX_NAME_BYTES = 255;
const MAX_PATH_BYTES = 4095;

/** Every problem with the files `uses` name; empty when all are usable. */
export async function checkFiles(uses: FileUse[], mode: FileCheckMode): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  for (const use of uses) {
    const problem = await checkOne(use, mode);
    if (problem !== null) {
      issues.push({ file: use.file, line: use.line, key: use.key, message: problem });
    }
  }
  return issues;
}

async function checkOne(use: FileUse, mode: FileCheckMode): Promise<string | null> {
  const where = printable(use.path);
  const tooLong = lengthProblem(use.path);
  if (tooLong !== null) return `${where}: ${tooLong}`;
  if (use.role === "read-file") return await checkReadable(use.path);
  const dirProblem = await checkDirectory(use.path, mode);
  if (dirProblem !== null || use.role !== "log-dir") return dirProblem;
  return await checkLogFile(join(use.path, LOG_FILE_NAME), mode);
}

function lengthProblem(path: string): string | null {
  const bytes = (text: string) => new TextEncoder().encode(text).length;
  if (bytes(path) > MAX_PATH_BYTES) return `the path is longer than ${MAX_PATH_BYTES} bytes`;
  if (path.split("/").some((name) => bytes(name) > MAX_NAME_BYTES)) {
    return `a name in the path is longer than ${MAX_NAME_BYTES} bytes`;
  }
  return null;
}

async function checkReadable(path: string): Promise<string | null> {
  const where = printable(path);
  const info = await statOf(path);
  if (info instanceof Error) return `${where}: cannot be read: ${reasonOf(info)}`;
  if (!info.isFile) return `${where}: is not a regular file`;
  if (info.size > MAX_PEM_BYTES) return `${where}: is larger than 1 MiB, not a PEM file`;
  try {
    (await Deno.open(path, { read: true })).close();
    return null;
  } catch (error) {
    return `${where}: cannot be read: ${reasonOf(error)}`;
  }
}

/** An existing, writable directory, or one that can be created. */
async function checkDirectory(path: string, mode: FileCheckMode): Promise<string | null> {
  const where = printable(path);
  const info = await statOf(path);
  if (!(info instanceof Error)) {
    if (!info.isDirectory) return `${where}: is not a directory`;
    const denied = await probeWrite(path);
    return denied === null ? null : `${where}: directory is not writable: ${denied}`;
  }
  if (!isMissing(info)) return `${where}: cannot be used: ${reasonOf(info)}`;
  const ancestor = await nearestExisting(path);
  if (ancestor.info instanceof Error || !ancestor.info.isDirectory) {
    return `${where}: cannot be created: ${printable(ancestor.path)} is not a directory`;
  }
  const failed = mode === "start" ? await createDirectory(path) : await probeWrite(ancestor.path);
  return failed === null ? null : `${where}: cannot be created: ${failed}`;
}

async function checkLogFile(path: string, mode: FileCheckMode): Promise<string | null> {
  const where = printable(path);
  const info = await statOf(path);
  if (info instanceof Error && !isMissing(info)) return `${where}: ${reasonOf(info)}`;
  if (!(info instanceof Error) && !info.isFile) {
    return `${where}: is not a regular file; the log is appended to it`;
  }
  // Opening a FIFO would block, so only regular files (or none) reach here.
  if (info instanceof Error && mode === "check") return null;
  try {
    (await Deno.open(path, { append: true, create: mode === "start" })).close();
    return null;
  } catch (error) {
    return `${where}: cannot be appended to: ${reasonOf(error)}`;
  }
}

async function createDirectory(path: string): Promise<string | null> {
  try {
    await Deno.mkdir(path, { recursive: true });
    return await probeWrite(path);
  } catch (error) {
    return reasonOf(error);
  }
}

/** Creates and removes a file in `dir`: root passes permission bits, so only trying tells. */
async function probeWrite(dir: string): Promise<string | null> {
  const probe = join(dir, `.cos-ftp-probe-${crypto.randomUUID()}`);
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
  } catch (error) {
    return reasonOf(error);
  }
  await Deno.remove(probe).catch(() => {});
  return null;
}

async function nearestExisting(
  path: string,
): Promise<{ path: string; info: Deno.FileInfo | Error }> {
  let current = path;
  while (true) {
    const parent = dirname(current);
    const info = await statOf(parent);
    if (!(info instanceof Error) || !isMissing(info) || parent === current) {
      return { path: parent, info };
    }
    current = parent;
  }
}

async function statOf(path: string): Promise<Deno.FileInfo | Error> {
  try {
    return await Deno.stat(path);
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

/** Missing, or a file where a directory was expected further up (walk up to see which). */
function isMissing(error: Error): boolean {
  return error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory;
}

const REASONS: Readonly<Record<string, string>> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is not a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "the file system is read-only",
  ENOSPC: "no space left on the device",
  EISDIR: "is a directory",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many symbolic links",
  EDQUOT: "disk quota exceeded",
};

/** The reason in plain words, without the path (messages name it once, up front). */
export function reasonOf(error: unknown): string {
  if (error instanceof Deno.errors.NotCapable) {
    return "the server's permissions (deno run --allow-* flags) do not reach it";
  }
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && REASONS[code] !== undefined) return REASONS[code];
  const message = error instanceof Error ? error.message : String(error);
  return printable(message.replace(/ \(os error \d+\).*$/s, ""));
}

/** Where a key is set: its line and the spelling used (an alias, say); line 0 when unknown. */
export type Locate = (section: string, keys: string[]) => { line: number; key: string };

const NOWHERE: Locate = (_section, keys) => ({ line: 0, key: keys[0] });

/** The paths `config` makes the server read or write at start-up. */
export function fileUsesOf(config: ServerConfig, locate: Locate = NOWHERE): FileUse[] {
  const file = config.source;
  const uses: FileUse[] = [];
  const add = (role: FileRole, path: string, section: string, keys: string[]) => {
    if (path !== "") uses.push({ role, path, file, ...locate(section, keys) });
  };
  add("log-dir", config.logDir, "OPTIONAL", ["log_dir"]);
  add("read-file", config.tls.certFile, "FTPS", ["cert_file"]);
  add("read-file", config.tls.keyFile, "FTPS", ["key_file"]);
  for (const account of config.accounts) {
    if (account.storage.kind !== "local") continue;
    const keys = ["local_root", "home_dir", "cos_user_home_dir"];
    add("storage-root", account.storage.root, account.section, keys);
  }
  return uses;
}
