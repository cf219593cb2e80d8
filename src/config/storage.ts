/**
 * Chooses and reads an account's storage: a COS bucket, or a local directory when
 * asked for or when no COS credentials are available.
 *
 * @module
 */

import { resolve } from "node:path";
import type { AccountContext, StorageChoice } from "./context.ts";
import {
  ACCOUNT_SPECS as KEYS,
  type AccountFields,
  defaultOf,
  type KeySpec,
  namesOf,
} from "./keys.ts";
import { readKey, readRequired, readValue, type SectionReader } from "./sections.ts";
import { printable } from "./show.ts";
import type { CosStorageConfig, LocalStorageConfig } from "./types.ts";

type CredentialSpec = KeySpec<AccountFields, "secretId" | "secretKey" | "securityToken">;

interface Credentials {
  secretId?: string;
  secretKey?: string;
  securityToken?: string;
  /** Set (maybe "") when `cos_credentials` names a CVM role: the keys are then not read. */
  cvmRole?: string;
}

/** The account's storage; errors are logged. */
export function readStorage(section: SectionReader, ctx: AccountContext): StorageChoice {
  const entry = section.get(KEYS.storage.key);
  if (entry === undefined) return chooseStorage(section, ctx);
  const kind = KEYS.storage.parse(entry.value);
  if (!kind.ok) {
    ctx.log.error(entry.line, entry.key, kind.message);
    return { kind: undefined, storage: null };
  }
  return kind.value === "local"
    ? { kind: "local", storage: readLocal(section, ctx, false) }
    : { kind: "cos", storage: readCos(section, readCredentials(section, ctx), ctx) };
}

/** Without `storage`, credentials decide; a half-configured pair is an error, not local. */
function chooseStorage(section: SectionReader, ctx: AccountContext): StorageChoice {
  const credentials = readCredentials(section, ctx);
  const none = credentials.secretId === undefined && credentials.secretKey === undefined;
  if (none && credentials.cvmRole === undefined) {
    return { kind: "local", storage: readLocal(section, ctx, true) };
  }
  return { kind: "cos", storage: readCos(section, credentials, ctx) };
}

/** Environment variable names, by file key. */
const CREDENTIAL_ENV: Readonly<Record<string, string>> = {
  [KEYS.secretId.key]: "COS_SECRET_ID",
  [KEYS.secretKey.key]: "COS_SECRET_KEY",
  [KEYS.securityToken.key]: "COS_SECURITY_TOKEN",
};

/** Where a credential was found: the section, its own variable, or the shared one. */
type CredentialOrigin = "file" | "own" | "shared";

/**
 * `[S]` key, else env `<NAME>_<S>` (S upper-cased, non-alphanumerics as `_`), else env `<NAME>`.
 * The token comes only from where the secret id came from: a shared COS_SECURITY_TOKEN
 * belongs to the shared keys, and would make another account's requests fail with 403.
 */
function readCredentials(section: SectionReader, ctx: AccountContext): Credentials {
  const cvmRole = readKey(section, KEYS.cvmRole, defaultOf(KEYS.cvmRole), ctx.log);
  if (cvmRole !== undefined) return { cvmRole };
  const secretId = credential(section, KEYS.secretId, ctx);
  const secretKey = credential(section, KEYS.secretKey, ctx);
  const token = credential(section, KEYS.securityToken, ctx, secretId?.origin);
  return { secretId: secretId?.value, secretKey: secretKey?.value, securityToken: token?.value };
}

/** The credential and where it was found; `only` limits the search to that origin. */
function credential(
  section: SectionReader,
  spec: CredentialSpec,
  ctx: AccountContext,
  only?: CredentialOrigin,
): { value: string; origin: CredentialOrigin } | undefined {
  // Read even when not used, so that a bad value still gets its error.
  const fromFile = readKey<AccountFields, CredentialSpec["field"], undefined>(
    section,
    spec,
    undefined,
    ctx.log,
  );
  const [own, shared] = envNames(section, spec.key);
  const found: [CredentialOrigin, string | undefined][] = [
    ["file", fromFile],
    ["own", nonEmpty(ctx.env[own])],
    ["shared", nonEmpty(ctx.env[shared])],
  ];
  for (const [origin, value] of found) {
    if (value !== undefined && (only === undefined || only === origin)) return { value, origin };
  }
  return undefined;
}

/** The section's own variable and the shared one for a credential key. */
function envNames(section: SectionReader, key: string): [string, string] {
  const shared = CREDENTIAL_ENV[key];
  return [`${shared}_${envSuffix(section.name)}`, shared];
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

/** `COS_ACCOUNT-0` -> `COS_ACCOUNT_0`. */
export function envSuffix(sectionName: string): string {
  return sectionName.toUpperCase().replace(/[^A-Z0-9]/g, "_");
}

/** local_root, else home_dir; `warnChosen` when local was picked for lack of credentials. */
function readLocal(
  section: SectionReader,
  ctx: AccountContext,
  warnChosen: boolean,
): LocalStorageConfig | null {
  const entry = section.first(...namesOf(KEYS.localRoot), ...namesOf(KEYS.homeDir));
  if (entry === undefined) {
    const message = `[${section.name}] uses local storage but has neither local_root nor home_dir`;
    ctx.log.error(section.line, "local_root", message);
    return null;
  }
  const path = readValue(section, entry.key, KEYS.localRoot.parse, null, ctx.log);
  if (path === null) return null;
  const root = resolve(ctx.cwd, path);
  if (warnChosen) {
    const [ownId, sharedId] = envNames(section, KEYS.secretId.key);
    const [ownKey, sharedKey] = envNames(section, KEYS.secretKey.key);
    const message = "account has no COS credentials (cos_secretid/cos_secretkey, or env " +
      `${ownId}/${ownKey} or ${sharedId}/${sharedKey}) and uses local storage at ` +
      `${printable(root)}; ` +
      "set storage = local to make that explicit";
    ctx.log.warn(section.line, `[${section.name}]`, message);
  }
  return { kind: "local", root };
}

function readCos(
  section: SectionReader,
  credentials: Credentials,
  ctx: AccountContext,
): CosStorageConfig | null {
  const { log } = ctx;
  // A role's keys are fetched at run time: none are configured.
  const keys = credentials.cvmRole === undefined;
  const secretId = keys
    ? requireCredential(section, KEYS.secretId.key, credentials.secretId, ctx)
    : "";
  const secretKey = keys
    ? requireCredential(section, KEYS.secretKey.key, credentials.secretKey, ctx)
    : "";
  const bucket = readRequired(section, KEYS.bucket.key, KEYS.bucket.parse, log);
  const location = readLocation(section, ctx);
  const protocol = readKey(section, KEYS.protocol, defaultOf(KEYS.protocol), log);
  const prefix = readKey(section, KEYS.prefix, defaultOf(KEYS.prefix), log);
  if (secretId === undefined || secretKey === undefined) return null;
  if (bucket === undefined || location === null) return null;
  const source = credentialFields(section, credentials, ctx);
  if (source === null) return null;
  return { kind: "cos", secretId, secretKey, bucket, ...location, protocol, prefix, ...source };
}

/** The role and metadata URL, or the STS token; absent fields keep permanent keys' configs as before. */
function credentialFields(
  section: SectionReader,
  credentials: Credentials,
  ctx: AccountContext,
): Pick<CosStorageConfig, "securityToken" | "cvmRole" | "metadataUrl"> | null {
  if (credentials.cvmRole !== undefined) {
    const url = readKey(section, KEYS.metadataUrl, null, ctx.log);
    if (url === null && section.get(KEYS.metadataUrl.key) !== undefined) return null;
    return { cvmRole: credentials.cvmRole, metadataUrl: url ?? defaultOf(KEYS.metadataUrl) };
  }
  return credentials.securityToken ? { securityToken: credentials.securityToken } : {};
}

function requireCredential(
  section: SectionReader,
  key: string,
  value: string | undefined,
  ctx: AccountContext,
): string | undefined {
  if (value === undefined) {
    const [own, shared] = envNames(section, key);
    const message = `[${section.name}] uses COS storage but ${key} is not set ` +
      `(nor env ${own} or ${shared})`;
    ctx.log.error(section.line, key, message);
  }
  return value;
}

/** cos_endpoint (older: endpoint) wins over cos_region; one of them is needed. */
function readLocation(
  section: SectionReader,
  ctx: AccountContext,
): Pick<CosStorageConfig, "region" | "endpoint"> | null {
  const endpoint = readKey(section, KEYS.endpoint, defaultOf(KEYS.endpoint), ctx.log);
  const region = readKey(section, KEYS.region, defaultOf(KEYS.region), ctx.log);
  if (endpoint !== "" || region !== "") return { region, endpoint };
  // A bad value already has its error; only report when neither key is set at all.
  if (section.first(...namesOf(KEYS.endpoint), ...namesOf(KEYS.region)) === undefined) {
    const message =
      `[${section.name}] uses COS storage but has neither cos_region nor cos_endpoint`;
    ctx.log.error(section.line, "cos_region", message);
  }
  return null;
}
