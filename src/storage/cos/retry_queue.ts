/**
 * The background retry queue of orphan resolutions: an abort that failed
 * (COS down, 503s) is retried with exponential backoff until it succeeds,
 * instead of being logged once and forgotten.
 *
 * @module
 */

import type { Orphan } from "./resolver.ts";

/** How the queue runs one task; throws to be retried. */
export type Run = (orphan: Orphan) => Promise<void>;

interface Task {
  orphan: Orphan;
  attempt: number;
  due: number;
}

/** Backoff spacing. */
export interface Backoff {
  baseMs: number;
  capMs: number;
}

/** Pending resolutions, keyed by instance/entry so a task is queued once. */
export class RetryQueue {
  readonly #tasks = new Map<string, Task>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly run: Run,
    private readonly backoff: Backoff,
    private readonly onFailure: (orphan: Orphan, attempt: number, error: unknown) => void,
  ) {}

  get size(): number {
    return this.#tasks.size;
  }

  has(orphan: Orphan): boolean {
    return this.#tasks.has(idOf(orphan));
  }

  /** Queues `orphan` (first try after `delayMs`); a queued one is kept as is. */
  add(orphan: Orphan, delayMs = 0): void {
    if (this.#closed || this.has(orphan)) return;
    this.#tasks.set(idOf(orphan), { orphan, attempt: 0, due: Date.now() + delayMs });
    this.#schedule();
  }

  /** Stops the timer and tries every task once more, for at most `boundMs`. */
  async close(boundMs: number): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
    const tasks = [...this.#tasks.values()];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((resolve) => timer = setTimeout(resolve, boundMs));
    await Promise.race([Promise.allSettled(tasks.map((t) => this.#attempt(t))), bound]);
    clearTimeout(timer);
  }

  #schedule(): void {
    if (this.#closed || this.#running) return;
    clearTimeout(this.#timer);
    const next = Math.min(...[...this.#tasks.values()].map((t) => t.due));
    if (!Number.isFinite(next)) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#drain().finally(() => {
        this.#running = null;
        this.#schedule();
      });
    }, Math.max(0, next - Date.now()));
  }

  /** Runs the due tasks one by one (aborts are cheap; no burst against a struggling COS). */
  async #drain(): Promise<void> {
    const due = [...this.#tasks.values()].filter((t) => t.due <= Date.now());
    for (const task of due) {
      if (this.#closed) return;
      await this.#attempt(task);
    }
  }

  async #attempt(task: Task): Promise<void> {
    try {
      await this.run(task.orphan);
      this.#tasks.delete(idOf(task.orphan));
    } catch (error) {
      task.attempt++;
      const delay = Math.min(this.backoff.capMs, this.backoff.baseMs * 2 ** (task.attempt - 1));
      task.due = Date.now() + delay * (1 + Math.random() / 2);
      this.onFailure(task.orphan, task.attempt, error);
    }
  }
}

function idOf(orphan: Orphan): string {
  return `${orphan.instance}/${orphan.entry}`;
}
