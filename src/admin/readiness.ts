/**
 * Readiness: every account's storage is probed in the background (the same
 * probe as start-up and `--check`), and an account is ready while its last
 * answered probe is younger than the configured age. A probe that hangs
 * (COS not answering) therefore turns the account unready once the age is
 * passed, without waiting for the request's own timeout.
 *
 * @module
 */

import type { ServerConfig } from "../config/types.ts";
import { probeStorages } from "../ftp/resources.ts";
import type { Storage } from "../storage/types.ts";

/** An account that is not ready, and why (safe to show: escaped, no credentials). */
export interface Unready {
  section: string;
  reason: string;
}

/** Background probes of every account's storage. */
export class Readiness {
  /** Per account: when its storage last answered (0 = never). */
  readonly #answered: number[];
  /** Per account: the last probe failure ("" after a success). */
  readonly #reasons: string[];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(
    private readonly config: ServerConfig,
    private readonly storages: Storage[],
    private readonly intervalMs: number,
    private readonly maxAgeMs: number,
  ) {
    this.#answered = storages.map(() => 0);
    this.#reasons = storages.map(() => "not probed yet");
  }

  /** Probes now, then every interval until {@link stop}. */
  start(): void {
    this.#running = this.#probe();
  }

  /** No more probes; resolves when the running one ends (closing the storages ends it). */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  /** The accounts not ready now, in config order. */
  unready(now = Date.now()): Unready[] {
    return this.config.accounts.flatMap((account, i) => {
      if (now - this.#answered[i] <= this.maxAgeMs) return [];
      const reason = this.#reasons[i] || `no answer for ${Math.round(this.maxAgeMs / 1000)} s`;
      return [{ section: account.section, reason }];
    });
  }

  /** Per account section: ready or not. */
  states(now = Date.now()): [string, boolean][] {
    return this.config.accounts.map((
      a,
      i,
    ) => [a.section, now - this.#answered[i] <= this.maxAgeMs]);
  }

  async #probe(): Promise<void> {
    const started = Date.now();
    const failures = await probeStorages(this.config, this.storages);
    this.config.accounts.forEach((account, i) => {
      const failure = failures.find((f) => f.account === account);
      if (failure) this.#reasons[i] = failure.reason;
      else {
        this.#answered[i] = started;
        this.#reasons[i] = "";
      }
    });
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#probe();
    }, this.intervalMs);
  }
}
