/**
 * Local-directory storage: the embedded default, and accounts without COS
 * credentials. Keys map to paths below one root directory; uploads are staged
 * in a reserved directory inside the root (same file system, so the final
 * rename is atomic) and appear only on commit.
 *
 * @module
 */

import { StorageError } from "./errors.ts";
import { baseName, parentPath } from "./keys.ts";
import { toStorageError } from "./local_errors.ts";
import { reusedChunks } from "./reused_chunks.ts";
import type { Entry, ListOptions, ReadOptions, Storage, WriteOptions, WriteSink } from "./types.ts";

/** Name of the staging directory inside the root; no key may use it. */
export const STAGING_DIR = ".cos-ftp-staging";

const DEFAULT_PAGE_SIZE = 1000;

/** Storage on a directory of this machine. */
export class LocalStorage implements Storage {
  readonly description: string;
  readonly #staging: string;

  private constructor(readonly root: string) {
    this.description = `local:${root}`;
    this.#staging = `${root}/${STAGING_DIR}`;
  }

  /** Opens (creating when missing) the directory `root`, which must be absolute. */
  static async open(root: string): Promise<LocalStorage> {
    const storage = new LocalStorage(root.replace(/\/+$/, "") || "/");
    await Deno.mkdir(storage.#staging, { recursive: true });
    await clearStaleUploads(storage.#staging);
    return storage;
  }

  async *list(dir: string, options: ListOptions = {}): AsyncIterable<Entry[]> {
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    const dirPath = this.#path(dir);
    let page: Entry[] = [];
    try {
      for await (const item of Deno.readDir(dirPath)) {
        options.signal?.throwIfAborted();
        if (dir === "" && item.name === STAGING_DIR) continue;
        const entry = statEntry(`${dirPath}/${item.name}`, item.name);
        if (entry) page.push(entry);
        if (page.length >= pageSize) {
          yield page;
          page = [];
        }
      }
    } catch (error) {
      throw toStorageError(error, dir);
    }
    if (page.length > 0) yield page;
  }

  stat(key: string): Promise<Entry | null> {
    return settle(() => {
      const entry = statEntry(this.#path(key), baseName(key));
      return entry?.kind === "file" ? entry : null;
    });
  }

  isDirectory(dir: string): Promise<boolean> {
    return settle(() => statEntry(this.#path(dir), baseName(dir))?.kind === "dir");
  }

  /**
   * The file's bytes from `offset` up to its size when opened: a file that
   * grows meanwhile is sent as it was (as SIZE said), and knowing the size
   * saves the read that would only find the end.
   */
  read(key: string, options: ReadOptions = {}): Promise<ReadableStream<Uint8Array>> {
    return settle(() => {
      const file = Deno.openSync(this.#path(key), { read: true });
      try {
        const info = file.statSync();
        if (info.isDirectory) throw new StorageError("is-a-directory", `${key} is a directory`);
        const offset = options.offset ?? 0;
        if (offset) file.seekSync(offset, Deno.SeekMode.Start);
        return readInBatches(file, info.size - offset);
      } catch (error) {
        file.close();
        throw error;
      }
    }, key);
  }

  async write(key: string, options: WriteOptions = {}): Promise<WriteSink> {
    const target = this.#path(key);
    const temp = `${this.#staging}/${crypto.randomUUID()}`;
    try {
      return await this.#inStaging(async () => {
        if (options.keepBytes) await copyHead(target, temp, options.keepBytes);
        const file = Deno.openSync(temp, { write: true, create: true, append: true });
        return new LocalWriteSink(file, temp, target, key, options.keepBytes ?? 0);
      });
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw toStorageError(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    const path = this.#path(key);
    try {
      if ((await Deno.lstat(path)).isDirectory) {
        throw new StorageError("is-a-directory", `${key} is a directory`);
      }
      await Deno.remove(path);
    } catch (error) {
      throw toStorageError(error, key);
    }
  }

  async mkdir(dir: string): Promise<void> {
    const path = this.#path(dir);
    if (statEntry(path, "")) throw new StorageError("exists", `${dir} already exists`);
    try {
      await Deno.mkdir(path, { recursive: true });
    } catch (error) {
      throw toStorageError(error, dir);
    }
  }

  async rmdir(dir: string): Promise<void> {
    const path = this.#path(dir);
    try {
      if (!(await Deno.lstat(path)).isDirectory) {
        throw new StorageError("not-a-directory", `${dir} is not a directory`);
      }
      await Deno.remove(path);
    } catch (error) {
      throw toStorageError(error, dir);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.#path(from);
    const target = this.#path(to);
    if (to.endsWith("/") && statEntry(target, "")) {
      throw new StorageError("exists", `${to} already exists`);
    }
    if (to.startsWith(from) && from.endsWith("/")) {
      throw new StorageError("invalid-name", "cannot move a directory into itself");
    }
    try {
      await Deno.mkdir(parentPath(target), { recursive: true });
      await Deno.rename(source, target);
    } catch (error) {
      throw toStorageError(error, from);
    }
  }

  /** The root must be a directory we can create files in. */
  async probe(): Promise<void> {
    const temp = `${this.#staging}/probe-${crypto.randomUUID()}`;
    try {
      await this.#inStaging(() => Deno.writeFile(temp, new Uint8Array()));
      await Deno.remove(temp);
    } catch (error) {
      throw toStorageError(error, this.root);
    }
  }

  async close(): Promise<void> {}

  /**
   * Runs `work`, which creates a file in the staging directory. When that
   * directory is gone (someone emptied or re-created the root while we run),
   * it is made again and `work` runs once more; the root itself is not made,
   * so a root that vanished (an unmounted disk) still fails.
   */
  async #inStaging<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound) || statEntry(this.#staging, "")) throw error;
      try {
        Deno.mkdirSync(this.#staging);
      } catch (made) {
        if (!(made instanceof Deno.errors.AlreadyExists)) throw made;
      }
      return await work();
    }
  }

  /** Maps a key to a path below the root, refusing anything that could leave it. */
  #path(key: string): string {
    const trimmed = key.replace(/\/$/, "");
    if (trimmed === "") return this.root;
    const segments = trimmed.split("/");
    for (const segment of segments) {
      if (segment === "" || segment === "." || segment === ".." || segment.includes("\0")) {
        throw new StorageError("invalid-name", `invalid name: ${key}`);
      }
    }
    if (segments[0] === STAGING_DIR) {
      throw new StorageError("invalid-name", `${STAGING_DIR} is reserved`);
    }
    return `${this.root}/${trimmed}`;
  }
}

/**
 * Bytes per file read: one read per 64 KiB (the file's own `readable`) costs
 * more per byte than the copy.
 */
const READ_BATCH_BYTES = 1024 * 1024;

/**
 * An upload being written to a staging file. Each chunk is one write: the
 * data pump hands over 1 MiB at a time (src/ftp/pump.ts), so batching here
 * again would only add a copy.
 */
class LocalWriteSink implements WriteSink {
  #bytes = 0;
  #open = true;

  constructor(
    private readonly file: Deno.FsFile,
    private readonly temp: string,
    private readonly target: string,
    private readonly key: string,
    kept: number,
  ) {
    this.#bytes = kept;
  }

  get bytesWritten(): number {
    return this.#bytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.#bytes += chunk.length;
    try {
      await writeAll(this.file, chunk);
    } catch (error) {
      // A full disk shows here first; the caller aborts, which removes the staging file.
      throw toStorageError(error, this.key);
    }
  }

  async commit(confirm?: () => Promise<void>): Promise<Entry> {
    let info: Deno.FileInfo;
    try {
      // Durable before the client hears 226: a crash right after must not lose the file.
      await this.file.syncData();
      info = this.file.statSync();
      this.#closeFile();
    } catch (error) {
      await this.abort();
      throw toStorageError(error, this.key);
    }
    await confirm?.();
    try {
      moveInto(this.temp, this.target);
      return { name: baseName(this.key), kind: "file", size: info.size, modified: info.mtime };
    } catch (error) {
      await this.abort();
      throw toStorageError(error, this.key);
    }
  }

  async abort(): Promise<void> {
    this.#closeFile();
    await Deno.remove(this.temp).catch(() => {});
  }

  #closeFile(): void {
    if (!this.#open) return;
    this.#open = false;
    this.file.close();
  }
}

/**
 * The result of synchronous `work` as a promise, which rejects (with a
 * StorageError for `key`, when given) instead of throwing.
 */
function settle<T>(work: () => T, key?: string): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(key === undefined ? error : toStorageError(error, key));
  }
}

/**
 * Puts the committed upload in place. The parent was checked when the
 * upload began; only when it was removed meanwhile is it made again (one
 * call fewer per upload than making it every time).
 */
function moveInto(temp: string, target: string): void {
  try {
    Deno.renameSync(temp, target);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    Deno.mkdirSync(parentPath(target), { recursive: true });
    Deno.renameSync(temp, target);
  }
}

/**
 * The next `size` bytes of `file` in chunks of up to 1 MiB, read into
 * reused buffers no larger than the file (a fresh zeroed 1 MiB per chunk
 * kept the garbage collector busy and memory high under many downloads).
 */
function readInBatches(file: Deno.FsFile, size: number): ReadableStream<Uint8Array> {
  let left = size;
  return reusedChunks(
    async (buffer) => {
      const read = await file.read(buffer.subarray(0, Math.min(buffer.length, left)));
      if (read === null) return null;
      left -= read;
      return buffer.subarray(0, read);
    },
    Math.max(1, Math.min(READ_BATCH_BYTES, size)),
    () => {
      try {
        file.close();
      } catch {
        // Already closed.
      }
    },
    () => left <= 0,
  );
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await file.write(bytes.subarray(offset));
}

/**
 * Starts a staging file with the first `bytes` bytes of `source`. The whole
 * file is copied (the kernel's copy_file_range, or a reflink where the file
 * system shares blocks) and then cut: the old file must stay untouched until
 * commit, so its head cannot be reused in place.
 */
async function copyHead(source: string, temp: string, bytes: number): Promise<void> {
  await Deno.copyFile(source, temp);
  await Deno.truncate(temp, bytes);
}

/** Removes staging files left by a crash: they are uploads that never committed. */
async function clearStaleUploads(staging: string): Promise<void> {
  for await (const item of Deno.readDir(staging)) {
    await Deno.remove(`${staging}/${item.name}`, { recursive: true }).catch(() => {});
  }
}

/**
 * File-system metadata calls (stat, open, rename) run on the event loop:
 * on a local disk they take microseconds (measured 5 µs for a stat, against
 * 70 µs for the trip through Deno's blocking pool), which per small file
 * adds up. Reads, writes and fsync, which can wait for the disk, stay async.
 */
function statEntry(path: string, name: string): Entry | null {
  try {
    const info = Deno.statSync(path);
    if (info.isDirectory) return { name, kind: "dir", size: 0, modified: info.mtime };
    if (info.isFile) return { name, kind: "file", size: info.size, modified: info.mtime };
    return null;
  } catch {
    return null;
  }
}
