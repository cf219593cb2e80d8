/**
 * One {@link UploadGuard} per bucket per process, shared by the accounts
 * that use that bucket (one lease, one sweeper, whatever their prefixes).
 *
 * @module
 */

import type { CosStorageConfig } from "../../config/types.ts";
import { createCosClient } from "./client.ts";
import { type GuardOptions, UploadGuard } from "./guard.ts";

/** The guards of one server. */
export class GuardRegistry {
  readonly #guards = new Map<string, UploadGuard>();

  constructor(private readonly options: GuardOptions) {}

  /** The bucket's guard, started on first use; give it back with {@link UploadGuard.release}. */
  acquire(config: CosStorageConfig): UploadGuard {
    const where = `${config.endpoint || config.region}|${config.bucket}`;
    let guard = this.#guards.get(where);
    if (!guard) {
      // Its own client: the guard outlives any one account's storage.
      guard = new UploadGuard(createCosClient(config, this.options.timeoutMs), this.options);
      this.#guards.set(where, guard);
      guard.start();
    }
    return guard.retain();
  }
}
