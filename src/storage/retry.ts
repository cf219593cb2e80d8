/**
 * Retrying transient storage failures with exponential backoff and jitter.
 *
 * @module
 */

import { StorageError } from "./errors.ts";

/** How retries are spaced. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  /** Delay before the first retry; doubled each time, with up to 50% jitter. */
  baseDelayMs: number;
}

/** Five attempts over about 0.2 + 0.4 + 0.8 + 1.6 s: rides out a COS hiccup, not an outage. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 200 };

/**
 * Runs `action`, retrying while it fails with a `transient` StorageError.
 * `onRetry` hears about each retry (for the log).
 */
export async function withRetry<T>(
  action: () => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry: (error: StorageError, attempt: number) => void = () => {},
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await action();
    } catch (error) {
      const transient = error instanceof StorageError && error.kind === "transient";
      if (!transient || attempt >= policy.attempts) throw error;
      onRetry(error, attempt);
      const delay = policy.baseDelayMs * 2 ** (attempt - 1);
      await new Promise((resolve) => setTimeout(resolve, delay * (1 + Math.random() / 2)));
    }
  }
}
