/**
 * Virtual paths: what the client names, resolved against its working
 * directory and confined to its root. Every path a command touches goes
 * through {@link resolvePath}; the result is always absolute and normalised,
 * so `..`, `//` and backslashes can never climb above `/`.
 *
 * @module
 */

import { FtpError } from "./errors.ts";

/**
 * Resolves `arg` against `cwd` (both FTP paths). Backslashes count as
 * separators (Windows clients send them); `..` at the root stays at the root.
 */
export function resolvePath(cwd: string, arg: string): string {
  if (hasControlCharacter(arg)) {
    throw new FtpError(553, "File name not allowed: control characters");
  }
  const joined = arg.startsWith("/") || arg.startsWith("\\") ? arg : `${cwd}/${arg}`;
  const segments: string[] = [];
  for (const segment of joined.split(/[\\/]+/)) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  return `/${segments.join("/")}`;
}

/** C0 controls and DEL: never part of a name a person meant (NUL, CR, LF, escape sequences). */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

/** The storage key of the file at `path` ("/a/b" -> "a/b"). */
export function fileKey(path: string): string {
  if (path === "/") throw new FtpError(550, "/ is a directory");
  return path.slice(1);
}

/** The storage key of the directory at `path` ("/a/b" -> "a/b/", "/" -> ""). */
export function dirKey(path: string): string {
  return path === "/" ? "" : `${path.slice(1)}/`;
}

export { baseName, parentPath } from "../storage/keys.ts";
