/**
 * Incomplete uploads of one account with their owners, for the operator's
 * `--list-incomplete-uploads` / `--abort-incomplete-uploads` commands.
 *
 * @module
 */

import type { CosStorageConfig } from "../../config/types.ts";
import { createCosClient } from "./client.ts";
import { abortUpload, lastSeen, listIncompleteUploads } from "./incomplete.ts";
import { Journal } from "./journal.ts";

/** Who holds an upload, according to the journal. */
export type Owner =
  | { kind: "live"; instance: string }
  | { kind: "dead"; instance: string }
  | { kind: "foreign" };

/** One incomplete upload as the operator sees it. */
export interface Leftover {
  key: string;
  uploadId: string;
  initiated: number;
  /** Milliseconds since initiated, by COS's clock. */
  ageMs: number;
  owner: Owner;
  /** The journal entry, for ours. */
  entry?: string;
}

/** What happened to one upload on `--abort-incomplete-uploads`. */
export type Outcome = "aborted" | "gone" | "in-flight" | "too-young" | { failed: string };

/** The incomplete uploads under an account's prefix, oldest first; and the bucket's journal. */
export class AccountLeftovers {
  readonly #client;
  readonly #journal;

  constructor(config: CosStorageConfig, private readonly staleAfterMs: number, timeoutMs: number) {
    this.#client = createCosClient(config, timeoutMs);
    this.#journal = new Journal(this.#client);
    this.prefix = config.prefix;
  }

  readonly prefix: string;

  async list(): Promise<Leftover[]> {
    const uploads = await listIncompleteUploads(this.#client, this.prefix);
    const { entries, now } = await this.#journal.entries();
    const { leases } = await this.#journal.leases();
    const seen = lastSeen(entries, leases);
    const claims = new Map(entries.filter((e) => e.uploadId).map((e) => [e.uploadId!, e]));
    return uploads.map((upload) => {
      const claim = claims.get(upload.uploadId);
      const alive = claim && now - (seen.get(claim.instance) ?? 0) <= this.staleAfterMs;
      const owner: Owner = !claim
        ? { kind: "foreign" }
        : { kind: alive ? "live" : "dead", instance: claim.instance };
      const ageMs = Math.max(0, now - upload.initiated);
      return { ...upload, ageMs, owner, entry: claim?.entry };
    }).sort((a, b) => a.initiated - b.initiated);
  }

  /** Aborts `leftover` unless a live instance has it in flight or it is younger than `minAgeMs`. */
  async abort(leftover: Leftover, minAgeMs: number): Promise<Outcome> {
    if (leftover.owner.kind === "live") return "in-flight";
    if (leftover.ageMs < minAgeMs) return "too-young";
    try {
      const open = await abortUpload(this.#client, leftover.key, leftover.uploadId);
      if (leftover.owner.kind === "dead" && leftover.entry) {
        await this.#journal.removeEntry(leftover.owner.instance, leftover.entry, leftover.uploadId);
      }
      return open ? "aborted" : "gone";
    } catch (error) {
      return { failed: error instanceof Error ? error.message : String(error) };
    }
  }

  close(): void {
    this.#client.http.close();
  }
}
