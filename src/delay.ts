/**
 * A pause that never keeps the process alive on its own.
 *
 * @module
 */

/** Resolves after `ms`; the timer is unref'd, so a pending pause does not hold an exit. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    Deno.unrefTimer(timer);
  });
}
