/**
 * The process-wide upload memory budget, as a pool of fixed-size slabs.
 *
 * A part buffer is a list of slabs, so parts of any size (they grow during
 * an upload) come from one pool. Slabs are allocated once and reused; when
 * the budget is spent, {@link SlabPool.take} waits, and the upload waiting on
 * it stops reading its data socket: TCP backpressure instead of more memory.
 *
 * @module
 */

/** Bytes per slab. */
export const SLAB_BYTES = 1024 * 1024;

/**
 * A bounded, reusable pool of {@link SLAB_BYTES} buffers.
 *
 * A part takes all its slabs at once, never a few at a time: uploads that
 * each held half a part while waiting for the rest could wait for each
 * other forever. Waiters are served in order, so a large part is not
 * starved by a stream of small ones.
 */
export class SlabPool {
  readonly #free: Uint8Array[] = [];
  readonly #waiters: Array<{ count: number; resolve: (slabs: Uint8Array[]) => void }> = [];
  #allocated = 0;

  /** `budgetBytes` is rounded down to whole slabs, at least one. */
  constructor(budgetBytes: number) {
    this.capacity = Math.max(1, Math.floor(budgetBytes / SLAB_BYTES));
  }

  /** Most slabs that may exist at once. */
  readonly capacity: number;

  /** Slabs handed out and not yet returned. */
  get inUse(): number {
    return this.#allocated - this.#free.length;
  }

  /** `count` slabs, all at once; waits while the budget cannot cover them. */
  take(count: number): Promise<Uint8Array[]> {
    if (count > this.capacity) {
      throw new RangeError(`a part of ${count} slabs exceeds the whole budget of ${this.capacity}`);
    }
    if (this.#waiters.length === 0 && this.#available() >= count) {
      return Promise.resolve(this.#grab(count));
    }
    return new Promise((resolve) => this.#waiters.push({ count, resolve }));
  }

  /** Returns slabs and serves waiting parts in order. */
  give(slabs: Uint8Array[]): void {
    this.#free.push(...slabs);
    while (this.#waiters.length > 0 && this.#available() >= this.#waiters[0].count) {
      const waiter = this.#waiters.shift()!;
      waiter.resolve(this.#grab(waiter.count));
    }
  }

  #available(): number {
    return this.#free.length + (this.capacity - this.#allocated);
  }

  #grab(count: number): Uint8Array[] {
    const slabs = this.#free.splice(Math.max(0, this.#free.length - count));
    while (slabs.length < count) {
      this.#allocated++;
      slabs.push(new Uint8Array(SLAB_BYTES));
    }
    return slabs;
  }
}

/** Bytes gathered into slabs: the body of one part. */
export class SlabBuffer {
  #length = 0;

  constructor(readonly slabs: Uint8Array[]) {}

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Free bytes in the last slab. */
  get room(): number {
    return this.slabs.length * SLAB_BYTES - this.#length;
  }

  /** Copies what fits of `bytes` into the current slab; returns how much (call again for more). */
  append(bytes: Uint8Array): number {
    const slabIndex = Math.floor(this.#length / SLAB_BYTES);
    const offset = this.#length % SLAB_BYTES;
    const n = Math.min(bytes.length, this.room, SLAB_BYTES - offset);
    if (n === 0) return 0;
    this.slabs[slabIndex].set(bytes.subarray(0, n), offset);
    this.#length += n;
    return n;
  }

  /** The bytes as views over the slabs (no copy), in order. */
  views(): Uint8Array[] {
    const views: Uint8Array[] = [];
    for (let i = 0, left = this.#length; left > 0; i++, left -= SLAB_BYTES) {
      views.push(this.slabs[i].subarray(0, Math.min(SLAB_BYTES, left)));
    }
    return views;
  }
}
