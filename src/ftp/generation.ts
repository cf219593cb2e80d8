/**
 * A generation: what one config makes the server serve with (the config, its
 * users, every account's storage, the AUTH TLS certificate). A reload (SIGHUP)
 * builds the next generation beside the running one; new sessions and new
 * logins use the newest, while sessions that started earlier keep what they
 * hold, and what only older generations use is closed once those sessions end.
 *
 * @module
 */

import type { AccountConfig, ServerConfig } from "../config/types.ts";
import { openStorage, type StorageContext } from "../storage/open.ts";
import type { Storage } from "../storage/types.ts";
import { UserDirectory } from "./auth.ts";
import type { LimitSettings } from "./limits.ts";
import { closeStorages, loadTls } from "./resources.ts";
import { type TlsMaterial, TlsUpgrader } from "./tls.ts";

/** One config's users, storages and certificate. */
export interface Generation {
  config: ServerConfig;
  users: UserDirectory;
  /** In account order (a user's `account` indexes it). */
  storages: Storage[];
  /** AUTH TLS / PROT P; `null` without FTPS. */
  tls: TlsUpgrader | null;
  /** Shared by every generation: the process-wide upload budget, upload journals, observers. */
  context: StorageContext;
}

/** The generation a server starts with, from what start-up opened. */
export function firstGeneration(
  config: ServerConfig,
  storages: Storage[],
  tls: TlsUpgrader | null,
  context: StorageContext,
): Generation {
  return { config, users: new UserDirectory(config.users), storages, tls, context };
}

/**
 * Builds the generation `config` describes. An account whose storage
 * settings did not change keeps `current`'s storage object (no second
 * client, no second upload journal lease); the others are opened anew, as are
 * the certificate and key. Throws (having closed what it opened) when the
 * certificate or a storage cannot be used; `current` is untouched either way.
 */
export async function nextGeneration(
  config: ServerConfig,
  current: Generation,
): Promise<Generation> {
  const context = { ...current.context, config };
  const users = new UserDirectory(config.users);
  const material = await loadTls(config);
  const storages: Storage[] = [];
  const reused = new Set<Storage>();
  try {
    for (const account of config.accounts) {
      const same = sameStorage(account, config, current, reused);
      if (same) reused.add(same);
      storages.push(same ?? await openStorage(account.storage, context));
    }
  } catch (error) {
    await closeStorages(storages.filter((storage) => !reused.has(storage)));
    throw error;
  }
  const tls = material === null ? null : upgraderFor(material, current.tls);
  return { config, users, storages, tls, context };
}

/**
 * Once every session in `users` has ended (the sessions that existed when
 * `previous` was replaced, the only ones that can hold its storages or its
 * certificate), closes what `previous` has that `next` does not share.
 */
export async function retire(
  previous: Generation,
  next: Generation,
  users: Promise<unknown>[],
): Promise<void> {
  await Promise.allSettled(users);
  await closeStorages(previous.storages.filter((storage) => !next.storages.includes(storage)));
  if (previous.tls !== null && previous.tls !== next.tls) await previous.tls.close();
}

/** The limits read live from whatever generation `current` returns, so a reload changes them. */
export function liveLimits(current: () => ServerConfig): LimitSettings {
  return {
    get maxConnectionsPerIp() {
      return current().maxConnectionsPerIp;
    },
    get maxLoggedInUsers() {
      return current().maxLoggedInUsers;
    },
    get banAfterFailures() {
      return current().banAfterFailures;
    },
    get banWindowMs() {
      return current().banWindowMs;
    },
    get banTimeMs() {
      return current().banTimeMs;
    },
  };
}

/** The settings besides the account's own that shape a storage object (see storage/open.ts). */
function storageSettings(account: AccountConfig, config: ServerConfig): string {
  const { minPartSize, uploadThreadNum, cosTimeoutMs, maxRenameObjects, verifyChecksums } = config;
  return JSON.stringify([
    account.storage,
    minPartSize,
    uploadThreadNum,
    cosTimeoutMs,
    maxRenameObjects,
    verifyChecksums,
  ]);
}

/** `current`'s storage for an account configured exactly like `account`, not yet taken. */
function sameStorage(
  account: AccountConfig,
  config: ServerConfig,
  current: Generation,
  taken: Set<Storage>,
): Storage | undefined {
  const wanted = storageSettings(account, config);
  const index = current.config.accounts.findIndex((old, i) =>
    !taken.has(current.storages[i]) && storageSettings(old, current.config) === wanted
  );
  return index < 0 ? undefined : current.storages[index];
}

/** The running upgrader when the certificate and key are byte for byte the same, else a new one. */
function upgraderFor(material: TlsMaterial, running: TlsUpgrader | null): TlsUpgrader {
  const same = running !== null && running.material.cert === material.cert &&
    running.material.key === material.key;
  return same ? running : new TlsUpgrader(material);
}
