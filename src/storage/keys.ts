/**
 * Names in "/"-separated keys and paths: storage keys ("a/b/"), virtual FTP
 * paths ("/a/b") and the local backend's file-system paths alike.
 *
 * @module
 */

/** The last segment, a trailing "/" ignored ("a/b/" -> "b", "/a/b" -> "b", "/" -> "/"). */
export function baseName(path: string): string {
  if (path === "/") return "/";
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Everything before the last "/" ("/a/b" -> "/a", "/a" -> "/"). */
export function parentPath(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}
