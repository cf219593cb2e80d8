/**
 * Builds the storage an account's config asks for.
 *
 * @module
 */

import type { StorageConfig } from "../config/types.ts";
import { StorageError } from "./errors.ts";
import { LocalStorage } from "./local.ts";
import type { Storage } from "./types.ts";

/** Opens the backend `config` describes. */
export async function openStorage(config: StorageConfig): Promise<Storage> {
  if (config.kind === "local") return await LocalStorage.open(config.root);
  throw new StorageError(
    "failed",
    `COS storage for bucket ${config.bucket} is not available in this build`,
  );
}
