/**
 * The few assertions the tests need (jsr:@std/assert is unreachable here).
 */

/** Fails with `message` unless `condition` holds. */
export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

/** Deep equality through JSON-like structure and typed arrays. */
export function assertEquals<T>(actual: T, expected: T, message = ""): void {
  if (!deepEqual(actual, expected)) {
    throw new Error(
      `${message ? message + ": " : ""}expected ${show(expected)}, got ${show(actual)}`,
    );
  }
}

/** Fails unless `text` contains `part`. */
export function assertMatch(text: string, pattern: RegExp, message = ""): void {
  if (!pattern.test(text)) {
    throw new Error(`${message ? message + ": " : ""}${show(text)} does not match ${pattern}`);
  }
}

/** Fails unless `fn` rejects; returns the error. */
export async function assertRejects(fn: () => Promise<unknown>, message = ""): Promise<Error> {
  try {
    await fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error(`expected a rejection${message ? `: ${message}` : ""}`);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return a.length === b.length && a.every((v, i) => v === b[i]);
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
  );
}

function show(value: unknown): string {
  if (value instanceof Uint8Array) return `Uint8Array(${value.length})`;
  const text = typeof value === "string"
    ? JSON.stringify(value)
    : JSON.stringify(value) ?? String(value);
  return text.length > 400 ? text.slice(0, 400) + "..." : text;
}
