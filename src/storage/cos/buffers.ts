/**
 * The process-wide upload memory budget: a pool of contiguous part buffers.
 *
 * Parts are sent as one contiguous body (Deno's fetch streams any other
 * body with chunked encoding, which COS does not take for parts), so each
 * part owns one buffer of its size. Buffers are kept for reuse, by size;
 * when a part needs a size the pool has no free buffer of, free buffers of
 * other sizes are dropped to make room. When the budget is spent,
 * {@link PartBufferPool.take} waits, and the upload waiting on it stops
 * reading its data socket: TCP backpressure instead of more memory.
 *
 * A part takes its whole buffer at once, never piece by piece: uploads that
 * each held half a part while waiting for the rest could wait for each other
 * forever. Waiters are served in order, so a large part is not starved by a
 * stream of small ones.
 *
 * Memory goes back as soon as it is not needed (issue 10): a buffer dropped
 * from the pool is detached, which frees it at once (left to the garbage
 * collector, dropped 128 MiB parts stayed resident while an upload that had
 * grown to 256 MiB parts allocated its new ones: 247 MiB above the bound);
 * a returned buffer smaller than the latest part size taken, of a size no
 * upload has taken for {@link IDLE_RELEASE_MS}, is dropped, as the uploads it
 * served have moved on to larger parts (an upload still on that size keeps
 * reusing it); free buffers unused for
 * {@link IDLE_RELEASE_MS} are dropped, so RSS falls back after a burst.
 *
 * @module
 */

/** Free buffers untouched this long are freed. */
export const IDLE_RELEASE_MS = 2000;

interface Waiter {
  size: number;
  resolve: (buffer: Uint8Array<ArrayBuffer>) => void;
}

/** A bounded pool of reusable part buffers. */
export class PartBufferPool {
  readonly #free = new Map<number, Uint8Array<ArrayBuffer>[]>();
  readonly #waiters: Waiter[] = [];
  /** Bytes of all buffers that exist (free or taken). */
  #allocated = 0;
  #freeBytes = 0;
  /** Size of the latest buffer handed out. */
  #latestSize = 0;
  /** When a buffer of each size was last handed out (performance.now()). */
  readonly #lastTaken = new Map<number, number>();
  #idleTimer: ReturnType<typeof setTimeout> | undefined;

  /** `capacity`: the most bytes all buffers together may hold. */
  constructor(readonly capacity: number) {}

  /** Bytes in buffers handed out and not yet returned. */
  get inUse(): number {
    return this.#allocated - this.#freeBytes;
  }

  /** A buffer of exactly `size` bytes; waits while the budget cannot cover it. */
  take(size: number): Promise<Uint8Array<ArrayBuffer>> {
    if (size > this.capacity) {
      throw new RangeError(`a part of ${size} bytes exceeds the whole budget of ${this.capacity}`);
    }
    if (this.#waiters.length === 0 && this.#fits(size)) return Promise.resolve(this.#grab(size));
    return new Promise((resolve) => this.#waiters.push({ size, resolve }));
  }

  /** Bytes of free buffers kept for reuse. */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** Returns a buffer and serves waiting parts in order. */
  give(buffer: Uint8Array<ArrayBuffer>): void {
    const wanted = this.#waiters.some((waiter) => waiter.size === buffer.length);
    const recent = performance.now() - (this.#lastTaken.get(buffer.length) ?? 0) < IDLE_RELEASE_MS;
    if (buffer.length < this.#latestSize && !wanted && !recent) {
      this.#allocated -= buffer.length;
      release(buffer);
    } else {
      const list = this.#free.get(buffer.length) ?? [];
      list.push(buffer);
      this.#free.set(buffer.length, list);
      this.#freeBytes += buffer.length;
    }
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0].size)) {
      const waiter = this.#waiters.shift()!;
      waiter.resolve(this.#grab(waiter.size));
    }
    this.#armIdleRelease();
  }

  /** Frees every free buffer. */
  releaseFree(): void {
    for (const list of this.#free.values()) {
      for (const buffer of list.splice(0)) release(buffer);
    }
    this.#allocated -= this.#freeBytes;
    this.#freeBytes = 0;
  }

  #armIdleRelease(): void {
    clearTimeout(this.#idleTimer);
    if (this.#freeBytes === 0) return;
    const timer = setTimeout(() => this.releaseFree(), IDLE_RELEASE_MS);
    // A pending release must not keep the process alive.
    Deno.unrefTimer(timer);
    this.#idleTimer = timer;
  }

  /** Whether a buffer of `size` can be had now (a free one, or room once free ones are dropped). */
  #fits(size: number): boolean {
    return (this.#free.get(size)?.length ?? 0) > 0 || this.inUse + size <= this.capacity;
  }

  #grab(size: number): Uint8Array<ArrayBuffer> {
    this.#latestSize = size;
    this.#lastTaken.set(size, performance.now());
    const reused = this.#free.get(size)?.pop();
    if (reused) {
      this.#freeBytes -= size;
      return reused;
    }
    this.#dropFreeUntil(size);
    this.#allocated += size;
    return new Uint8Array(size);
  }

  /** Forgets free buffers (of other sizes) until `size` more bytes fit the budget. */
  #dropFreeUntil(size: number): void {
    for (const [length, list] of this.#free) {
      while (list.length > 0 && this.#allocated + size > this.capacity) {
        release(list.pop()!);
        this.#allocated -= length;
        this.#freeBytes -= length;
      }
    }
  }
}

/** Frees `buffer`'s memory now: detaching releases its backing store without waiting for GC. */
function release(buffer: Uint8Array<ArrayBuffer>): void {
  buffer.buffer.transfer(0);
}

/**
 * The buffer an upload's first bytes go to, before it is known to need a
 * whole part: most uploads are small files, and 300 of them each holding an
 * 8 MiB part buffer for 10 KiB would spend the budget (and make the rest
 * wait) on nothing. An upload that outgrows it moves its bytes into a part
 * buffer from the pool. Head buffers are not taken from the budget (an
 * upload waiting for its first part while holding a head must not block
 * others): they are per transfer, like the receive buffers. 64 KiB, as the
 * first receive buffer: 1 MiB heads, one per small file beyond the spares,
 * were 60 MiB of garbage at once under 30 busy sessions (measured).
 */
export const HEAD_BYTES = 64 * 1024;

/** Head buffers kept for the next uploads (2 MiB: fresh ones per small file cost GC time). */
const spareHeads: Uint8Array<ArrayBuffer>[] = [];
const SPARE_HEADS_KEPT = 32;

/** Bytes gathered into one part buffer (or an upload's head buffer). */
export class PartBuffer {
  #length = 0;

  private constructor(
    readonly buffer: Uint8Array<ArrayBuffer>,
    /** Whether the buffer belongs to the pool (else it is a head buffer). */
    readonly pooled: boolean,
  ) {}

  /** A part buffer of `size` bytes from `pool` (waits while the budget cannot cover it). */
  static async fromPool(pool: PartBufferPool, size: number): Promise<PartBuffer> {
    return new PartBuffer(await pool.take(size), true);
  }

  /** A head buffer of {@link HEAD_BYTES}. */
  static head(): PartBuffer {
    return new PartBuffer(spareHeads.pop() ?? new Uint8Array(HEAD_BYTES), false);
  }

  /** Gives the buffer back where it came from; the bytes must no longer be used. */
  giveBack(pool: PartBufferPool): void {
    if (this.pooled) pool.give(this.buffer);
    else if (spareHeads.length < SPARE_HEADS_KEPT) spareHeads.push(this.buffer);
  }

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Free bytes left. */
  get room(): number {
    return this.buffer.length - this.#length;
  }

  /** Copies what fits of `bytes`; returns how much. */
  append(bytes: Uint8Array): number {
    const n = Math.min(bytes.length, this.room);
    this.buffer.set(bytes.subarray(0, n), this.#length);
    this.#length += n;
    return n;
  }

  /** The bytes held (a view, no copy). */
  bytes(): Uint8Array<ArrayBuffer> {
    return this.buffer.subarray(0, this.#length);
  }
}
