/**
 * Where an account's COS keys come from: the configured keys (with an STS
 * token or not), or a CVM instance role's temporary keys, fetched from the
 * instance metadata service and replaced before they expire. The Node SDK has
 * no provider for instance roles, so this is ours.
 *
 * Refresh policy: past half of the keys' life (at most 5 minutes before they
 * expire) a request starts a refresh in the background and is still signed
 * with the current keys; past 3/4 (at most 60 s before) requests wait for new
 * keys, so no request is signed with keys about to expire. There is no timer:
 * an idle server fetches on its next request.
 *
 * @module
 */

import type { CosStorageConfig } from "../../config/types.ts";
import { printable } from "../../config/show.ts";
import { ROLE_NAME } from "../../config/credentials.ts";
import { StorageError } from "../errors.ts";

/** Keys to sign one request with. */
export interface CosKeys {
  secretId: string;
  secretKey: string;
  /** STS session token, sent as `x-cos-security-token`; "" for permanent keys. */
  securityToken: string;
}

/** The keys of one account. */
export interface KeySource {
  /** The configured keys when they never change (the SDK signs with them itself), else null. */
  readonly fixed: CosKeys | null;
  /** Keys valid for a request about to be sent; a StorageError when none can be had. */
  current(): Promise<CosKeys>;
  /** The holder is done with it. */
  release(): void;
}

/** Path of the role list (and, with the role's name appended, of its keys). */
export const CREDENTIALS_PATH = "/latest/meta-data/cam/security-credentials/";

const ATTEMPTS = 3;
const ATTEMPT_TIMEOUT_MS = 2000;
const BACKOFF_MS = [200, 800];
const REFRESH_AHEAD_MS = 5 * 60_000;
const WAIT_AHEAD_MS = 60_000;
/** A failed or fruitless background refresh is tried again after at most this. */
const RETRY_AFTER_MS = 30_000;
/**
 * Without usable keys, a failed fetch answers the requests of the next few
 * seconds, so that a dead metadata service does not cost every request (and
 * each of its retries) a full round of tries.
 */
const FAILURE_HOLD_MS = 3000;

/** The account's key source (role sources are shared by accounts naming the same role). */
export function keySource(config: CosStorageConfig): KeySource {
  if (config.cvmRole === undefined) {
    const fixed = {
      secretId: config.secretId,
      secretKey: config.secretKey,
      securityToken: config.securityToken ?? "",
    };
    return { fixed, current: () => Promise.resolve(fixed), release: () => {} };
  }
  // Config fills metadataUrl for every role account (DEFAULT_METADATA_URL when unset).
  const base = config.metadataUrl!;
  const where = `${base}|${config.cvmRole}`;
  let source = ROLES.get(where);
  if (!source) {
    source = new RoleKeys(base, config.cvmRole, () => ROLES.delete(where));
    ROLES.set(where, source);
  }
  return source.retain();
}

const ROLES = new Map<string, RoleKeys>();

/** Temporary keys handed out in this process, for masking in messages (newest last). */
const SEEN_SECRETS: string[] = [];
const SEEN_LIMIT = 64;

/** Temporary keys and tokens this process has fetched: never to be printed. */
export function temporarySecrets(): readonly string[] {
  return SEEN_SECRETS;
}

function remember(keys: CosKeys): void {
  SEEN_SECRETS.push(keys.secretId, keys.secretKey, keys.securityToken);
  if (SEEN_SECRETS.length > SEEN_LIMIT) SEEN_SECRETS.splice(0, SEEN_SECRETS.length - SEEN_LIMIT);
}

/** Keys with the times that govern them (ms since the epoch). */
interface Held {
  keys: CosKeys;
  expiresAt: number;
  /** From here on a request starts a background refresh. */
  refreshAt: number;
  /** From here on requests wait for new keys. */
  usableUntil: number;
}

/** One role's keys, refreshed on demand. */
class RoleKeys {
  #held: Held | null = null;
  #refreshing: Promise<Held> | null = null;
  #failure: { error: unknown; until: number } | null = null;
  #users = 0;
  #stop = new AbortController();

  constructor(
    private readonly base: string,
    private readonly role: string,
    private readonly onUnused: () => void,
  ) {}

  retain(): KeySource {
    this.#users++;
    let released = false;
    return {
      fixed: null,
      current: () => this.current(),
      release: () => {
        if (released) return;
        released = true;
        if (--this.#users === 0) this.#close();
      },
    };
  }

  async current(): Promise<CosKeys> {
    const held = this.#held;
    const now = Date.now();
    if (held && now < held.usableUntil) {
      if (now >= held.refreshAt) this.#refresh().catch(() => {});
      return held.keys;
    }
    if (this.#failure && now < this.#failure.until) throw this.#failure.error;
    const fresh = await this.#refresh();
    if (Date.now() >= fresh.usableUntil) {
      const error = this.#error(
        `${this.base}${CREDENTIALS_PATH}`,
        "the keys it returned have expired",
      );
      // Expired keys are a failed fetch: hold it, or every request would ask again at once.
      this.#failure = { error, until: Date.now() + FAILURE_HOLD_MS };
      throw error;
    }
    return fresh.keys;
  }

  /** One refresh at a time; its result replaces the held keys. */
  #refresh(): Promise<Held> {
    this.#refreshing ??= this.#fetch().then(
      (held) => {
        this.#failure = null;
        return this.#adopt(held);
      },
      (error) => {
        this.#failure = { error, until: Date.now() + FAILURE_HOLD_MS };
        this.#postpone();
        throw error;
      },
    ).finally(() => this.#refreshing = null);
    return this.#refreshing;
  }

  #adopt(fresh: Held): Held {
    const old = this.#held;
    if (old && old.keys.secretId === fresh.keys.secretId && fresh.expiresAt <= old.expiresAt) {
      // The service still hands out the same keys: ask again later, not on every request.
      this.#postpone();
      return old;
    }
    remember(fresh.keys);
    this.#held = fresh;
    return fresh;
  }

  #postpone(): void {
    const held = this.#held;
    if (!held) return;
    const now = Date.now();
    held.refreshAt = now + Math.min(RETRY_AFTER_MS, Math.max(0, held.usableUntil - now) / 4);
  }

  async #fetch(): Promise<Held> {
    const role = this.role || await this.#discoverRole();
    const url = `${this.base}${CREDENTIALS_PATH}${encodeURIComponent(role)}`;
    const fetchedAt = Date.now();
    const text = await this.#get(url, `role "${printable(role)}" not found`);
    return held(
      parseKeys(text, (reason) => this.#error(url, reason)),
      fetchedAt,
      (reason) => this.#error(url, reason),
    );
  }

  /** The instance's role: the first name the list gives. */
  async #discoverRole(): Promise<string> {
    const url = `${this.base}${CREDENTIALS_PATH}`;
    const text = await this.#get(url, "no role is bound to this instance");
    const role = text.split(/\r?\n/).map((line) => line.trim()).find((line) => line !== "");
    if (role === undefined) throw this.#error(url, "no role is bound to this instance");
    if (!ROLE_NAME.test(role)) {
      throw this.#error(url, "the role list is not a role name");
    }
    return role;
  }

  /** GET with a timeout, retrying network failures and 5xx. */
  async #get(url: string, notFound: string): Promise<string> {
    let reason = "";
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if (attempt > 0) await this.#sleep(BACKOFF_MS[attempt - 1] ?? 1000);
      const outcome = await this.#getOnce(url);
      if (typeof outcome === "string") return outcome;
      if (outcome.status === 404) throw this.#error(url, `${notFound} (HTTP 404)`);
      reason = outcome.reason;
      if (!outcome.retry) break;
    }
    throw this.#error(url, reason);
  }

  async #getOnce(
    url: string,
  ): Promise<string | { status: number; reason: string; retry: boolean }> {
    const controller = new AbortController();
    const onStop = () => controller.abort();
    this.#stop.signal.addEventListener("abort", onStop);
    const timer = setTimeout(() => controller.abort(), ATTEMPT_TIMEOUT_MS);
    try {
      const response = await fetch(url, { signal: controller.signal });
      const body = await response.text();
      if (response.ok) return body;
      return {
        status: response.status,
        reason: `HTTP ${response.status}`,
        retry: response.status >= 500,
      };
    } catch {
      const reason = this.#stop.signal.aborted
        ? "stopped"
        : controller.signal.aborted
        ? `no answer within ${ATTEMPT_TIMEOUT_MS / 1000} s`
        : "connection failed";
      return { status: 0, reason, retry: !this.#stop.signal.aborted };
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener("abort", onStop);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#stop.signal.addEventListener("abort", done, { once: true });
    });
  }

  #error(url: string, reason: string): StorageError {
    return new StorageError(
      "transient",
      `cannot get CVM role credentials from ${printable(url, 200)}: ${reason}`,
    );
  }

  #close(): void {
    this.#stop.abort();
    this.#held = null;
    this.onUnused();
  }
}

/** The answer's keys; `fail` makes the error for a malformed answer. */
function parseKeys(
  text: string,
  fail: (reason: string) => StorageError,
): { keys: CosKeys; expiresAt: number } {
  let data: Record<string, unknown>;
  try {
    data = JSON.parse(text);
  } catch {
    throw fail("the answer is not JSON");
  }
  if (typeof data !== "object" || data === null) throw fail("the answer is not a JSON object");
  if (data.Code !== undefined && data.Code !== "Success") {
    throw fail(`the answer's Code is ${printable(String(data.Code), 40)}, not Success`);
  }
  const field = (name: string): string => {
    const value = data[name];
    if (typeof value !== "string" || value === "") throw fail(`the answer has no ${name}`);
    return value;
  };
  const keys = {
    secretId: field("TmpSecretId"),
    secretKey: field("TmpSecretKey"),
    securityToken: field("Token"),
  };
  const expired = Number(data.ExpiredTime);
  if (!Number.isFinite(expired) || expired <= 0) throw fail("the answer has no ExpiredTime");
  return { keys, expiresAt: expired * 1000 };
}

/** Times for keys fetched at `fetchedAt` (see the module's refresh policy). */
function held(
  answer: { keys: CosKeys; expiresAt: number },
  fetchedAt: number,
  fail: (reason: string) => StorageError,
): Held {
  const life = answer.expiresAt - fetchedAt;
  if (life <= 0) throw fail("the keys it returned have expired");
  return {
    ...answer,
    refreshAt: answer.expiresAt - Math.min(REFRESH_AHEAD_MS, life / 2),
    usableUntil: answer.expiresAt - Math.min(WAIT_AHEAD_MS, life / 4),
  };
}
