/**
 * The upload guard of one bucket: journals this process's multipart uploads,
 * keeps its lease fresh while any is open, and sweeps the journal for the
 * uploads of dead instances (and leftovers of its own) to abort them, with a
 * background retry queue for aborts that fail.
 *
 * Timings derive from one interval `L` (lease_interval, 15 s by default):
 * heartbeat every L while uploads are open; an instance is dead when COS's
 * clock shows no sign of it (lease or entry) for 3L + 2 s; sweeps run every
 * L/3. A sweeper judges others only after its own journal requests have
 * succeeded for that long, so after a COS outage every live instance has
 * had the chance to heartbeat before anyone is called dead.
 *
 * @module
 */

import { hostname } from "node:os";
import type { LogFields } from "../../log.ts";
import type { CosClient } from "./client.ts";
import { lastSeen } from "./incomplete.ts";
import { Journal, type JournalEntry } from "./journal.ts";
import { type Orphan, Resolver } from "./resolver.ts";
import { RetryQueue } from "./retry_queue.ts";

/** Where the guard reports (the server's logger). */
export interface GuardLog {
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
}

/** How a guard runs. */
export interface GuardOptions {
  /** Stable part of the instance id; "" = the host name, with no previous-life fast path. */
  instanceName: string;
  leaseIntervalMs: number;
  /** Per-request COS timeout (bounds how late an Initiate can take effect). */
  timeoutMs: number;
  log: GuardLog;
}

/** How long shutdown waits for queued aborts. */
const CLOSE_BOUND_MS = 5000;

/** An open upload of this process. */
interface Active {
  key: string;
  uploadId?: string;
  /** The claim write, awaited before the entry is removed. */
  claimed?: Promise<void>;
}

/** Journals, heartbeats and sweeps for one bucket. */
export class UploadGuard {
  readonly instance: string;
  readonly staleAfterMs: number;
  readonly #journal: Journal;
  readonly #resolver: Resolver;
  readonly #queue: RetryQueue;
  readonly #active = new Map<string, Active>();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  /** Dead instances whose lease goes once their entries are resolved. */
  readonly #dead = new Set<string>();
  #healthySince: number | null = null;
  #leaseLive = false;
  #leaseEver = false;
  #sweeping: Promise<void> | null = null;
  #refs = 0;
  #closed: Promise<void> | null = null;

  constructor(private readonly client: CosClient, private readonly options: GuardOptions) {
    this.instance = instanceId(options.instanceName);
    const interval = options.leaseIntervalMs;
    this.staleAfterMs = 3 * interval + 2000;
    this.#journal = new Journal(client);
    this.#resolver = new Resolver(client, this.#journal, 2 * options.timeoutMs + 5000);
    this.#queue = new RetryQueue(
      (orphan) => this.#resolve(orphan),
      { baseMs: Math.min(1000, interval), capMs: 4 * interval },
      (orphan, attempt, error) =>
        options.log.warn("orphan-abort-retry", {
          ...describe(orphan),
          attempt,
          error: error instanceof Error ? error.message : String(error),
        }),
    );
  }

  /** Starts sweeping (one sweep at once: a restart cleans its previous life at start-up). */
  start(): void {
    const interval = this.options.leaseIntervalMs;
    this.#timers.push(setInterval(() => void this.sweep(), Math.max(100, interval / 3)));
    this.#timers.push(setInterval(() => void this.#heartbeat(), interval));
    void this.sweep();
  }

  /** One more user (an account's storage) of this guard. */
  retain(): this {
    this.#refs++;
    return this;
  }

  /** Drops a user; the last one stops the guard. */
  release(): Promise<void> {
    if (--this.#refs > 0) return Promise.resolve();
    this.#closed ??= this.#close();
    return this.#closed;
  }

  /** Open uploads of this process (entries in the journal). */
  get activeCount(): number {
    return this.#active.size;
  }

  /** Resolutions waiting in the retry queue. */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * Before InitiateMultipartUpload: the intent (and the lease, when it is not
   * live) in parallel. Returns the entry id.
   */
  async beginUpload(key: string): Promise<string> {
    const entry = Journal.newEntryId();
    this.#active.set(entry, { key });
    const lease = this.#leaseLive ? Promise.resolve() : this.#writeLease().catch(() => {});
    try {
      await Promise.all([this.#journal.writeIntent(this.instance, entry, key), lease]);
    } catch (error) {
      this.abandon(entry);
      throw error;
    }
    return entry;
  }

  /** After InitiateMultipartUpload: the claim, written while the parts upload. */
  claim(entry: string, uploadId: string): void {
    const active = this.#active.get(entry);
    if (!active) return;
    active.uploadId = uploadId;
    active.claimed = this.#journal.writeClaim(this.instance, entry, active.key, uploadId)
      .catch((error) => {
        this.options.log.warn("journal-claim-failed", { key: active.key, error: String(error) });
      });
  }

  /**
   * Initiate failed: the upload may still exist (a lost answer, or COS acting
   * after our timeout), so the intent is resolved later rather than deleted.
   */
  abandon(entry: string): void {
    const active = this.#active.get(entry);
    if (!active) return;
    this.#active.delete(entry);
    this.#queue.add(
      { instance: this.instance, entry, key: active.key },
      this.options.leaseIntervalMs,
    );
  }

  /** The upload was completed or aborted: remove its entry (and the lease with the last one). */
  async finish(uploadId: string): Promise<void> {
    const found = this.#find(uploadId);
    if (!found) return;
    const [entry, active] = found;
    await active.claimed;
    this.#active.delete(entry);
    const withLease = this.#active.size === 0 && this.#leaseLive;
    if (withLease) this.#leaseLive = false;
    try {
      await this.#journal.removeEntry(this.instance, entry, uploadId, withLease);
    } catch {
      this.#queue.add({ instance: this.instance, entry, uploadId, key: active.key });
    }
  }

  /** An abort failed: the retry queue owns it now. */
  abortLater(uploadId: string, error: unknown): void {
    const found = this.#find(uploadId);
    if (!found) return;
    const [entry, active] = found;
    this.#active.delete(entry);
    const orphan = { instance: this.instance, entry, uploadId, key: active.key };
    this.options.log.warn("abort-queued", {
      ...describe(orphan),
      error: error instanceof Error ? error.message : String(error),
    });
    this.#queue.add(orphan, Math.min(1000, this.options.leaseIntervalMs));
  }

  /** One pass over the journal (skipped while another runs). */
  sweep(): Promise<void> {
    this.#sweeping ??= this.#sweepOnce().finally(() => this.#sweeping = null);
    return this.#sweeping;
  }

  async #sweepOnce(): Promise<void> {
    if (this.#closed) return;
    let snapshot;
    try {
      snapshot = await this.#journal.entries();
      this.#healthySince ??= Date.now();
    } catch (error) {
      if (this.#healthySince !== null) {
        this.options.log.warn("journal-unreachable", { error: String(error) });
      }
      this.#healthySince = null;
      return;
    }
    const byInstance = groupByInstance(snapshot.entries);
    this.#queueOwnLeftovers(byInstance.get(this.instance) ?? []);
    byInstance.delete(this.instance);
    await this.#buryResolved(byInstance);
    if (byInstance.size === 0) return;
    const { leases, now } = await this.#journal.leases().catch(() => ({ leases: [], now: 0 }));
    if (now === 0) return;
    const seen = lastSeen(snapshot.entries, leases);
    const judged = this.#healthySince !== null &&
      Date.now() - this.#healthySince >= this.staleAfterMs;
    for (const [instance, entries] of byInstance) {
      const stale = judged && now - (seen.get(instance) ?? 0) > this.staleAfterMs;
      if (!stale && !this.#isPreviousLife(instance)) continue;
      this.#dead.add(instance);
      for (const orphan of orphansOf(instance, entries)) this.#queue.add(orphan);
    }
  }

  /** Deletes the leases of dead instances that have no entries left. */
  async #buryResolved(byInstance: Map<string, JournalEntry[]>): Promise<void> {
    for (const instance of this.#dead) {
      if (byInstance.has(instance)) continue;
      await this.#journal.deleteLease(instance).then(() => this.#dead.delete(instance), () => {});
    }
  }

  /** Own entries with no upload open in memory: a removal that failed, or an earlier bug. */
  #queueOwnLeftovers(entries: JournalEntry[]): void {
    for (const orphan of orphansOf(this.instance, entries)) {
      if (!this.#active.has(orphan.entry)) this.#queue.add(orphan);
    }
  }

  /**
   * With a configured instance_name, another id with the same name is an
   * earlier run of this instance (the name must be unique among instances):
   * its uploads are aborted at once, without waiting for its lease to go stale.
   */
  #isPreviousLife(instance: string): boolean {
    const name = this.options.instanceName;
    return name !== "" && instance !== this.instance &&
      instance.slice(0, instance.lastIndexOf(".")) === sanitize(name);
  }

  async #resolve(orphan: Orphan): Promise<void> {
    const aborted = await this.#resolver.resolve(orphan);
    for (const uploadId of aborted) {
      this.options.log.info("orphan-aborted", { ...describe(orphan), uploadId });
    }
    // A queued abort of ours was the last reason for the lease.
    if (orphan.instance === this.instance && this.#active.size === 0 && this.#leaseLive) {
      this.#leaseLive = false;
      await this.#journal.deleteLease(this.instance).catch(() => {});
    }
  }

  async #heartbeat(): Promise<void> {
    if (this.#active.size === 0 || this.#closed) return;
    await this.#writeLease().catch((error) => {
      this.options.log.warn("lease-failed", { instance: this.instance, error: String(error) });
    });
  }

  async #writeLease(): Promise<void> {
    await this.#journal.writeLease(this.instance, {
      instance: this.instance,
      host: safeHostname(),
      pid: Deno.pid,
      written: new Date().toISOString(),
    });
    this.#leaseEver = true;
    this.#leaseLive = this.#active.size > 0;
  }

  #find(uploadId: string): [string, Active] | undefined {
    return [...this.#active].find(([, a]) => a.uploadId === uploadId);
  }

  async #close(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    await this.#sweeping;
    await this.#queue.close(CLOSE_BOUND_MS);
    // What is left in the journal is found by a live instance or the next start.
    if (this.#leaseEver) await this.#journal.deleteLease(this.instance).catch(() => {});
    this.client.http.close();
  }
}

/** `<name>.<random>`: the name for people and previous-life matching, the random part per run. */
function instanceId(name: string): string {
  const random = crypto.getRandomValues(new Uint8Array(4));
  const hex = [...random].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${sanitize(name || safeHostname())}.${hex}`;
}

/** Key-safe, dot-free (the dot separates the random part). */
function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 64) || "host";
}

function safeHostname(): string {
  try {
    return hostname();
  } catch {
    return "host";
  }
}

function groupByInstance(entries: JournalEntry[]): Map<string, JournalEntry[]> {
  const groups = new Map<string, JournalEntry[]>();
  for (const entry of entries) {
    const list = groups.get(entry.instance) ?? [];
    list.push(entry);
    groups.set(entry.instance, list);
  }
  return groups;
}

/** One orphan per entry id, with the upload id when a claim exists. */
function orphansOf(instance: string, entries: JournalEntry[]): Orphan[] {
  const byEntry = new Map<string, Orphan>();
  for (const e of entries) {
    const orphan = byEntry.get(e.entry) ?? { instance, entry: e.entry };
    orphan.uploadId ??= e.uploadId;
    byEntry.set(e.entry, orphan);
  }
  return [...byEntry.values()];
}

function describe(orphan: Orphan): LogFields {
  return { instance: orphan.instance, key: orphan.key, uploadId: orphan.uploadId };
}
