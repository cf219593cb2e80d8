/**
 * The storage interface: flat keys, the way object storage sees the world.
 *
 * Keys never start with "/". A key ending in "/" names a directory: either an
 * explicit marker object or an implicit directory that exists because keys
 * live under it. The empty key "" is the root directory.
 *
 * @module
 */

/** One file or directory as a listing shows it. */
export interface Entry {
  /** The last path segment (no slashes). */
  name: string;
  kind: "file" | "dir";
  /** Bytes; 0 for directories. */
  size: number;
  /** Last modification; `null` when the backend cannot know (an implicit directory). */
  modified: Date | null;
}

/** Options for {@link Storage.list}. */
export interface ListOptions {
  /** Entries per page the backend fetches at once (a hint). */
  pageSize?: number;
  signal?: AbortSignal;
}

/** Options for {@link Storage.read}. */
export interface ReadOptions {
  /** First byte to send (FTP REST). */
  offset?: number;
  signal?: AbortSignal;
}

/** Options for {@link Storage.write}. */
export interface WriteOptions {
  /**
   * Resume or append: the new object starts with the first `keepBytes` bytes
   * of the object now at the key (at most its size), and what is written
   * follows them. The old object stays as it is until commit.
   */
  keepBytes?: number;
}

/**
 * A pending upload. Bytes written are invisible until {@link commit}; after
 * {@link abort}, or when commit fails, nothing is left behind and any object
 * that already had the key is unchanged.
 */
export interface WriteSink {
  /**
   * Resolves when the sink can take more (this is the backpressure point).
   * The caller reuses `chunk` afterwards: a sink copies whatever it keeps.
   */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Makes the object visible under its key, atomically; returns its final
   * state. `confirm` runs once every byte is stored but before the object
   * becomes visible: if it throws, nothing becomes visible, the error is
   * passed on unchanged, and the caller aborts.
   */
  commit(confirm?: () => Promise<void>): Promise<Entry>;
  /** Discards everything written; safe to call more than once and after a failed commit. */
  abort(): Promise<void>;
  /** Size of the object so far: the kept head (see {@link WriteOptions}) and the bytes written. */
  readonly bytesWritten: number;
}

/** Everything the FTP layer needs from a place that stores files. */
export interface Storage {
  /** Human-readable location for logs ("local:/srv/data", "cos://bucket/prefix/"). */
  readonly description: string;
  /** Children of directory `dir` ("" or ending in "/"), page by page, in key order. */
  list(dir: string, options?: ListOptions): AsyncIterable<Entry[]>;
  /** The file at exactly `key`, or `null`. Never a prefix match. */
  stat(key: string): Promise<Entry | null>;
  /** Whether directory `dir` exists, explicitly or implicitly. The root always exists. */
  isDirectory(dir: string): Promise<boolean>;
  /**
   * The file's bytes from `offset` on. Chunks are views of reused buffers
   * (src/storage/reused_chunks.ts): copy or send a chunk before reading the
   * next but one.
   */
  read(key: string, options?: ReadOptions): Promise<ReadableStream<Uint8Array>>;
  /** Starts an upload to `key`; with `keepBytes`, one that keeps the head of the existing file. */
  write(key: string, options?: WriteOptions): Promise<WriteSink>;
  /** Deletes exactly the file `key`; `not-found` when absent. */
  delete(key: string): Promise<void>;
  /** Creates directory `dir`; `exists` when a file or directory has that name. */
  mkdir(dir: string): Promise<void>;
  /** Removes the empty directory `dir`; `not-empty` or `not-found` otherwise. */
  rmdir(dir: string): Promise<void>;
  /** Renames a file (`from`, `to` without "/") or a directory (both ending in "/"). */
  rename(from: string, to: string): Promise<void>;
  /** Proves the storage is reachable and usable (for `--check`); throws a StorageError if not. */
  probe(): Promise<void>;
  /** Releases connections and timers. */
  close(): Promise<void>;
}
