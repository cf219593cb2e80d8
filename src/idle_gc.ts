/**
 * One full garbage collection when the server falls quiet after work, so
 * that its RSS returns near the idle figure instead of staying at the
 * peak of the last burst.
 *
 * Why: V8 grows its heap under a burst of work (300 sessions, several big
 * listings) and collects the old generation only when it next grows past a
 * limit; an idle server allocates almost nothing, so that never comes, and
 * tens of MiB of garbage stayed resident for good (issue 10). A full
 * collection of a quiet heap takes a few milliseconds and runs only after
 * {@link QUIET_MS} without any transfer.
 *
 * Deno exposes no `gc()`; V8 offers it to contexts created after the
 * `--expose-gc` flag is set, which node:vm can make at run time. Where that
 * fails, nothing is collected early and nothing else changes.
 *
 * @module
 */

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Quiet time before the collection. */
export const QUIET_MS = 5000;

let running = 0;
let workSinceCollection = false;
let timer: ReturnType<typeof setTimeout> | undefined;
let collect: (() => void) | null | undefined;

/** Marks the start of a transfer or other background work; call the result when it ends. */
export function workStarted(): () => void {
  running++;
  workSinceCollection = true;
  clearTimeout(timer);
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    if (--running === 0) scheduleCollection();
  };
}

/** Marks work that has already ended (a session that closed). */
export function workDone(): void {
  workStarted()();
}

function scheduleCollection(): void {
  clearTimeout(timer);
  const scheduled = setTimeout(() => {
    if (running > 0 || !workSinceCollection) return;
    workSinceCollection = false;
    fullCollection()?.();
  }, QUIET_MS);
  // A pending collection must not keep the process alive.
  Deno.unrefTimer(scheduled);
  timer = scheduled;
}

/** V8's `gc()`, or `null` where it cannot be had. */
function fullCollection(): (() => void) | null {
  if (collect !== undefined) return collect;
  try {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc");
    collect = typeof gc === "function" ? () => gc() : null;
  } catch {
    collect = null;
  }
  return collect;
}
