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

/** The accounts and their storages as the server serves them now (a reload replaces them). */
export interface Accounts {
  config: ServerConfig;
  storages: Storage[];
}

/** What is known of one account section. */
interface Probed {
  /** When its storage last answered (0 = never). */
  answered: number;
  /** The last probe failure ("" after a success). */
  reason: string;
  /** The storage probed: a reload that replaces it starts the section from never answered. */
  storage: Storage | null;
}

/** Background probes of every account's storage. */
export class Readiness {
  /** By account section: accounts a reload removed are forgotten at the next probe. */
  #probed = new Map<string, Probed>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(
    private readonly current: () => Accounts,
    private readonly intervalMs: number,
    private readonly maxAgeMs: number,
  ) {}

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
    return this.current().config.accounts.flatMap(({ section }) => {
      const probed = this.#probed.get(section) ??
        { answered: 0, reason: "not probed yet", storage: null };
      if (now - probed.answered <= this.maxAgeMs) return [];
      const reason = probed.reason || `no answer for ${Math.round(this.maxAgeMs / 1000)} s`;
      return [{ section, reason }];
    });
  }

  /** Per account section: ready or not. */
  states(now = Date.now()): [string, boolean][] {
    return this.current().config.accounts.map(({ section }) => [
      section,
      now - (this.#probed.get(section)?.answered ?? 0) <= this.maxAgeMs,
    ]);
  }

  async #probe(): Promise<void> {
    const started = Date.now();
    const { config, storages } = this.current();
    const failures = await probeStorages(config, storages);
    const next = new Map<string, Probed>();
    config.accounts.forEach((account, i) => {
      const storage = storages[i];
      const failure = failures.find((f) => f.account === account);
      const known = this.#probed.get(account.section);
      const answered = known?.storage === storage ? known.answered : 0;
      next.set(
        account.section,
        failure
          ? { answered, reason: failure.reason, storage }
          : { answered: started, reason: "", storage },
      );
    });
    this.#probed = next;
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#probe();
    }, this.intervalMs);
  }
}
