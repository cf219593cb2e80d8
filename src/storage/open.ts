/**
 * Builds the storage an account's config asks for.
 *
 * @module
 */

import type { ServerConfig, StorageConfig } from "../config/types.ts";
import { CosStorage } from "./cos/storage.ts";
import { GuardRegistry } from "./cos/guards.ts";
import type { GuardLog } from "./cos/guard.ts";
import type { StorageError } from "./errors.ts";
import { LocalStorage } from "./local.ts";
import { PartBufferPool } from "./cos/buffers.ts";
import type { Storage } from "./types.ts";
import type { CosRequestObserver } from "./cos/observe.ts";

/** What all storages of one server share. */
export interface StorageContext {
  /** The process-wide upload memory budget. */
  pool: PartBufferPool;
  config: ServerConfig;
  /** Hears about retried storage requests (for the log). */
  onRetry?: (error: StorageError, attempt: number) => void;
  /** Upload journals of COS buckets; only a serving server has them (not `--check`). */
  guards?: GuardRegistry;
  /** Hears about every COS request of the accounts' storages (the admin listener's metrics). */
  onRequest?: CosRequestObserver;
}

/** The shared context for a server's config. */
export function storageContext(
  config: ServerConfig,
  onRetry?: (error: StorageError, attempt: number) => void,
  guardLog?: GuardLog,
): StorageContext {
  const guards = guardLog && new GuardRegistry({
    instanceName: config.instanceName,
    leaseIntervalMs: config.leaseIntervalMs,
    timeoutMs: config.cosTimeoutMs,
    log: guardLog,
  });
  return { pool: new PartBufferPool(config.uploadMemoryBudget), config, onRetry, guards };
}

/** Opens the backend `storage` describes. */
export async function openStorage(
  storage: StorageConfig,
  context: StorageContext,
): Promise<Storage> {
  if (storage.kind === "local") return await LocalStorage.open(storage.root);
  const { config, pool, onRetry, guards, onRequest } = context;
  return new CosStorage(storage, {
    pool,
    minPartSize: config.minPartSize,
    parallelParts: config.uploadThreadNum,
    timeoutMs: config.cosTimeoutMs,
    maxRenameObjects: config.maxRenameObjects,
    verifyChecksums: config.verifyChecksums,
    onRetry,
    onRequest,
    guard: guards?.acquire(storage),
  });
}
