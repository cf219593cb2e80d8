/**
 * Closing connections that may already be closed (by their streams, by the
 * peer, or by another path of the same shutdown).
 *
 * @module
 */

/** Closes each resource once, ignoring ones already closed. */
export function closeQuietly(...resources: Array<{ close(): void }>): void {
  for (const resource of new Set(resources)) {
    try {
      resource.close();
    } catch {
      // Already closed: the outcome we wanted.
    }
  }
}
