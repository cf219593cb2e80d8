/**
 * COS's multipart limits, defined once: the writer cuts uploads by them,
 * copies respect them, and the config refuses sizes beyond them.
 *
 * @module
 */

/** Parts one multipart upload may have. */
export const MAX_PARTS = 10_000;

/** The largest part, and the largest single server-side copy (5 GiB). */
export const MAX_PART_BYTES = 5 * 1024 ** 3;

/** The smallest part but the last (1 MiB). */
export const MIN_PART_BYTES = 1024 * 1024;

/** The largest object: every part at its largest (48.82 TiB). */
export const MAX_OBJECT_BYTES = MAX_PARTS * MAX_PART_BYTES;
