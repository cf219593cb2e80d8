/**
 * Limits that keep one client from hurting the others: connections per
 * address, logged-in users, and temporary bans after repeated failed logins.
 * Pure bookkeeping: the server asks before it starts a session and reports
 * what happens; this module never touches a connection.
 *
 * @module
 */

import type { ServerConfig } from "../config/types.ts";

/** The settings this module acts on. */
export type LimitSettings = Pick<
  ServerConfig,
  "maxConnectionsPerIp" | "maxLoggedInUsers" | "banAfterFailures" | "banWindowMs" | "banTimeMs"
>;

/** The answer to a new connection: serve it, or refuse it with the text of a 421 reply. */
export type Admission = { ok: true } | { ok: false; refuse: string };

/** Most addresses whose failed logins and bans are remembered; the oldest are dropped beyond. */
export const MAX_TRACKED_ADDRESSES = 10_000;

/** Failed logins and ban of one address. */
interface AddressRecord {
  /** Times of the failures within the ban window, oldest first. */
  failures: number[];
  /** Until when the address is banned (0 = not banned). */
  bannedUntil: number;
  /** The last failure; the table is kept in this order. */
  touched: number;
}

/** Admission bookkeeping for one server. */
export class AdmissionControl {
  /** Open connections per address (entries are removed at zero). */
  readonly #connections = new Map<string, number>();
  /** Failures and bans per address, least recently failed first. */
  readonly #records = new Map<string, AddressRecord>();
  #loggedIn = 0;

  constructor(
    private readonly settings: LimitSettings,
    private readonly maxTracked = MAX_TRACKED_ADDRESSES,
    private readonly now: () => number = Date.now,
  ) {}

  /** Decides on a new connection from `ip`; an admitted one must be {@link release}d later. */
  admit(ip: string): Admission {
    if (this.isBanned(ip)) {
      return { ok: false, refuse: "Temporarily banned after repeated failed logins" };
    }
    const open = this.#connections.get(ip) ?? 0;
    const max = this.settings.maxConnectionsPerIp;
    if (max > 0 && open >= max) {
      return { ok: false, refuse: "Too many connections from your address" };
    }
    this.#connections.set(ip, open + 1);
    return { ok: true };
  }

  /** A connection admitted by {@link admit} has ended. */
  release(ip: string): void {
    const open = (this.#connections.get(ip) ?? 0) - 1;
    if (open > 0) this.#connections.set(ip, open);
    else this.#connections.delete(ip);
  }

  /** Whether `ip` is banned now. */
  isBanned(ip: string): boolean {
    const record = this.#records.get(ip);
    return record !== undefined && record.bannedUntil > this.now();
  }

  /** Counts a failed login from `ip`; true when it got the address banned. */
  loginFailed(ip: string): boolean {
    const { banAfterFailures, banWindowMs, banTimeMs } = this.settings;
    if (banAfterFailures <= 0) return false;
    const now = this.now();
    this.#prune(now);
    const record = this.#records.get(ip) ?? { failures: [], bannedUntil: 0, touched: now };
    record.failures = record.failures.filter((time) => now - time < banWindowMs);
    record.failures.push(now);
    record.touched = now;
    const banned = record.failures.length >= banAfterFailures;
    if (banned) {
      record.bannedUntil = now + banTimeMs;
      record.failures = [];
    }
    this.#remember(ip, record);
    return banned;
  }

  /** Takes a logged-in slot; false when `maxLoggedInUsers` are logged in already. */
  claimLogin(): boolean {
    const max = this.settings.maxLoggedInUsers;
    if (max > 0 && this.#loggedIn >= max) return false;
    this.#loggedIn++;
    return true;
  }

  /** Gives back a slot taken by {@link claimLogin} (the user logged out or disconnected). */
  releaseLogin(): void {
    this.#loggedIn = Math.max(0, this.#loggedIn - 1);
  }

  /** Users logged in now. */
  get loggedIn(): number {
    return this.#loggedIn;
  }

  /** Addresses banned now (a scan of at most `maxTracked` records, for the metrics). */
  get bannedNow(): number {
    const now = this.now();
    let banned = 0;
    for (const record of this.#records.values()) if (record.bannedUntil > now) banned++;
    return banned;
  }

  /** Addresses whose failures or bans are remembered (bounded by `maxTracked`). */
  get trackedAddresses(): number {
    return this.#records.size;
  }

  /** Moves `ip` to the young end of the table and drops the oldest beyond the cap. */
  #remember(ip: string, record: AddressRecord): void {
    this.#records.delete(ip);
    this.#records.set(ip, record);
    for (const oldest of this.#records.keys()) {
      if (this.#records.size <= this.maxTracked) break;
      this.#records.delete(oldest);
    }
  }

  /** Forgets, from the old end, addresses with no failure in the window and no running ban. */
  #prune(now: number): void {
    const { banWindowMs } = this.settings;
    for (const [ip, record] of this.#records) {
      if (record.bannedUntil > now || now - record.touched < banWindowMs) break;
      this.#records.delete(ip);
    }
  }
}
