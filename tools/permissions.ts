/**
 * The Deno permissions the server runs with, shared by `tools/compile.ts` (baked into the
 * binary) and `tools/dist.ts` (written into the launcher script), so that the two
 * packagings can never drift apart from each other. `deno task serve` in deno.json
 * uses the same flags; keep the three in step.
 *
 * @module
 */

/** The `deno run` / `deno compile` permission flags of the server, each with its reason. */
export const SERVER_PERMISSIONS: readonly string[] = [
  // The FTP control and passive-mode data listeners, and HTTPS requests to COS.
  "--allow-net",
  // Local storage (the account's local_root), the config file, and the log directory.
  "--allow-read",
  "--allow-write",
  // COS credentials may come from the environment (COS_SECRET_ID, COS_SECRET_KEY, ...).
  "--allow-env",
  // The COS SDK reads the host name and OS release (for its User-Agent). Kept even before
  // the SDK is imported, so adding it later does not make packaged builds fail at run time.
  // uid: the start-up warning when run as root (Deno.uid(); /proc/self needs --allow-all).
  "--allow-sys=hostname,osRelease,uid",
];
