/**
 * Types the account readers (accounts.ts, storage.ts, homedirs.ts) share. They live here,
 * not in accounts.ts, so those modules import this one and never each other back.
 *
 * @module
 */

import type { IssueLog } from "./issues.ts";
import type { StorageConfig } from "./types.ts";

/** What per-account parsing needs besides the section. */
export interface AccountContext {
  env: Record<string, string | undefined>;
  cwd: string;
  log: IssueLog;
}

/** The storage kind chosen (undefined when `storage` is invalid) and the storage, if valid. */
export interface StorageChoice {
  kind: StorageConfig["kind"] | undefined;
  storage: StorageConfig | null;
}
