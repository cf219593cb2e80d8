/**
 * What a server runs on besides its sockets: every account's storage and
 * the FTPS certificate. Start-up and `--check` open and probe them the same
 * way, so a config that `--check` passes is one that starts.
 *
 * @module
 */

import type { AccountConfig, ServerConfig, StorageConfig } from "../config/types.ts";
import { printable } from "../config/show.ts";
import { temporarySecrets } from "../storage/cos/credentials.ts";
import { openStorage, type StorageContext } from "../storage/open.ts";
import type { Storage } from "../storage/types.ts";
import { loadTlsMaterial, type TlsMaterial } from "./tls.ts";

/** Longest failure text shown to an operator. */
const FAILURE_TEXT_CHARS = 300;

/** Opens every account's storage, in account order; on a failure closes those already open. */
export async function openStorages(
  config: ServerConfig,
  context: StorageContext,
): Promise<Storage[]> {
  const storages: Storage[] = [];
  try {
    for (const account of config.accounts) {
      storages.push(await openStorage(account.storage, context));
    }
    return storages;
  } catch (error) {
    await closeStorages(storages);
    throw error;
  }
}

/** Closes storages, whatever each one's close does. */
export async function closeStorages(storages: Storage[]): Promise<void> {
  await Promise.allSettled(storages.map((storage) => storage.close()));
}

/** An account whose storage did not answer its probe, and why (safe to print). */
export interface ProbeFailure {
  account: AccountConfig;
  reason: string;
}

/** Probes every account's storage at once; the ones that failed. */
export async function probeStorages(
  config: ServerConfig,
  storages: Storage[],
): Promise<ProbeFailure[]> {
  const results = await Promise.allSettled(storages.map((storage) => storage.probe()));
  return results.flatMap((result, i) => {
    if (result.status === "fulfilled") return [];
    const account = config.accounts[i];
    return [{ account, reason: failureText(result.reason, account.storage) }];
  });
}

/**
 * Opens one account's storage, probes it and closes it, as `--check` does
 * for each account in turn: why it failed (safe to print), or `null`.
 */
export async function probeAccount(
  account: AccountConfig,
  context: StorageContext,
): Promise<string | null> {
  try {
    const storage = await openStorage(account.storage, context);
    try {
      await storage.probe();
    } finally {
      await storage.close();
    }
    return null;
  } catch (error) {
    return failureText(error, account.storage);
  }
}

/** The FTPS certificate and key, or `null` without FTPS; errors name the file. */
export async function loadTls(config: ServerConfig): Promise<TlsMaterial | null> {
  return config.tls.certFile === "" ? null : await loadTlsMaterial(config.tls);
}

/** One line naming an account and where its files are. */
export function describeAccount(account: AccountConfig): string {
  return `[${account.section}] ${describeStorage(account.storage)}`;
}

/** Root, endpoint and prefix come from the config file: escaped and cut like any of its values. */
function describeStorage(storage: StorageConfig): string {
  if (storage.kind === "local") return `local ${printable(storage.root, FAILURE_TEXT_CHARS)}`;
  const where = printable(storage.endpoint || storage.region);
  const prefix = storage.prefix ? `/${printable(storage.prefix)}` : "";
  return `cos ${storage.bucket}${prefix} at ${where}`;
}

/**
 * An error for the operator: escaped, cut, and without the account's
 * credentials, its STS token or any temporary key fetched for a CVM role
 * (an SDK message might quote them).
 */
export function failureText(error: unknown, storage?: StorageConfig): string {
  let text = error instanceof Error ? error.message : String(error);
  const secrets = [...temporarySecrets()];
  if (storage?.kind === "cos") {
    secrets.push(storage.secretId, storage.secretKey, storage.securityToken ?? "");
  }
  for (const secret of secrets) {
    if (secret) text = text.replaceAll(secret, "***");
  }
  return printable(text, FAILURE_TEXT_CHARS);
}
