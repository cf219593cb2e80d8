/**
 * Warns when the server runs as root. It binds port 21 without root through
 * CAP_NET_BIND_SERVICE (the systemd unit grants it), and it cannot drop
 * privileges itself after binding: Deno has no setuid/setgid API.
 *
 * @module
 */

import type { Logger } from "./log.ts";

/** What the operator should do instead, in the log line. */
export const ROOT_ADVICE = "run it as an unprivileged user: the systemd unit " +
  "deploy/systemd/cos-ftp-server.service (user cos-ftp with CAP_NET_BIND_SERVICE for port 21), " +
  "or a dedicated user given CAP_NET_BIND_SERVICE; the server cannot drop root itself";

/** Logs a warning when the effective user is root; true when it did. */
export function warnIfRoot(log: Logger): boolean {
  if (effectiveUid() !== 0) return false;
  log.warn("running-as-root", { advice: ROOT_ADVICE });
  return true;
}

/** The effective user id (Deno.uid() is the real one; for a server they are the same), or null. */
function effectiveUid(): number | null {
  try {
    return Deno.uid();
  } catch {
    // Not permitted (a launcher without --allow-sys=uid) or not a POSIX system: no warning.
    return null;
  }
}
