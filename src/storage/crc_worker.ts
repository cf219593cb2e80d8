/**
 * One process-wide Worker that computes the CRC-64 of verified downloads,
 * so the event loop that moves the bytes only copies them: at loopback
 * speeds the CRC on the event loop made a verified RETR ~40% slower.
 *
 * A download copies its chunks into 1 MiB batches and transfers each batch
 * to the worker (no structured-clone copy, one message per MiB), tagged with
 * the download's id; the worker feeds it to its own WebAssembly CRC and
 * transfers the buffer back for reuse. At most {@link BATCHES_PER_DOWNLOAD}
 * batches per download exist, so a download waits for the worker rather than
 * queueing memory when the worker falls behind. A download that ends within
 * its first batch never reaches the worker: that CRC is computed in place.
 *
 * The worker starts from a Blob URL built from source text (crc64.ts's
 * self-contained `crcFeed` and {@link workerMain}), so it needs no module file:
 * `deno bundle` and `deno compile` outputs carry it inside the code. It runs
 * while a COS storage holds it ({@link CrcWorker.acquire}) or a download uses
 * it, and is terminated when neither does, so nothing keeps a process alive.
 *
 * Memory: the worker (~20 MiB RSS, measured) starts with the first COS
 * storage, so it is in the idle RSS; each verified download adds at most
 * {@link BATCHES_PER_DOWNLOAD} x {@link BATCH_BYTES} (README "Memory").
 *
 * @module
 */

import { Crc64, type CrcFeed, crcFeed, crcOfRegister } from "./crc64.ts";
import { CRC64_WASM } from "./crc64_wasm.ts";

/** Bytes per message to the worker. */
export const BATCH_BYTES = 1024 * 1024;
/** Batch buffers one download may own: one filling while one is at the worker. */
export const BATCHES_PER_DOWNLOAD = 2;

/** Main thread -> worker: a batch of a download, or the end of one (`batch` absent). */
interface Request {
  id: number;
  batch?: ArrayBuffer;
  length?: number;
  /** Without a batch: reply with the CRC (true) or just forget the download (false). */
  end?: boolean;
}

/** Worker -> main thread: a batch back, or a download's final register. */
interface Reply {
  id: number;
  batch?: ArrayBuffer;
  register?: [number, number];
}

/** The worker's side of the messages; started from its source text, so self-contained. */
function workerMain(feed: CrcFeed): void {
  const scope = globalThis as unknown as {
    onmessage: (event: { data: Request }) => void;
    postMessage(reply: Reply, transfer?: ArrayBuffer[]): void;
  };
  const registers = new Map<number, Int32Array>();
  scope.onmessage = ({ data: { id, batch, length, end } }) => {
    let register = registers.get(id);
    if (register === undefined) registers.set(id, register = new Int32Array([-1, -1]));
    if (batch !== undefined) {
      feed(register, new Uint8Array(batch, 0, length));
      return scope.postMessage({ id, batch }, [batch]);
    }
    registers.delete(id);
    if (end) scope.postMessage({ id, register: [register[0], register[1]] });
  };
}

/** What the main thread keeps per download the worker is computing. */
interface Pending {
  /** A batch came back. */
  returned(batch: ArrayBuffer): void;
  /** The CRC is known. */
  done(crc: bigint): void;
  /** The worker died. */
  failed(error: Error): void;
}

/** The process-wide worker: started on first use, terminated when no one holds or uses it. */
export class CrcWorker {
  #worker: Worker | undefined;
  #holders = 0;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  /**
   * Starts the worker, or keeps it, until {@link release} (a storage's
   * lifetime): downloads skip its start-up, and its memory is part of the
   * server's idle RSS.
   */
  acquire(): void {
    this.#holders++;
    this.#start();
  }

  /** Undoes one {@link acquire}. */
  release(): void {
    this.#holders = Math.max(0, this.#holders - 1);
    this.#stopWhenIdle();
  }

  /** A CRC for one download's bytes, fed in order. */
  job(): CrcJob {
    return new CrcJob(this);
  }

  /** Sends a request; registers `pending` for its replies first. */
  post(request: Request, pending?: Pending): void {
    if (pending) this.#pending.set(request.id, pending);
    const transfer = request.batch ? [request.batch] : [];
    this.#start().postMessage(request, transfer);
  }

  /** A fresh download id. */
  nextId(): number {
    return this.#nextId++;
  }

  /** Forgets a download (ended or abandoned); stops the worker when it was the last. */
  forget(id: number): void {
    this.#pending.delete(id);
    this.#stopWhenIdle();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const source = `(${workerMain})((${crcFeed})(${JSON.stringify(CRC64_WASM)}));`;
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    const worker = new Worker(url, { type: "module" });
    URL.revokeObjectURL(url);
    worker.onmessage = ({ data }: MessageEvent<Reply>) => this.#reply(data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(new Error(`CRC worker failed: ${event.message}`));
    };
    return this.#worker = worker;
  }

  #reply({ id, batch, register }: Reply): void {
    const pending = this.#pending.get(id);
    if (batch) return pending?.returned(batch);
    if (register) pending?.done(crcOfRegister(register));
  }

  #fail(error: Error): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    const all = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of all) pending.failed(error);
  }

  #stopWhenIdle(): void {
    if (this.#holders > 0 || this.#pending.size > 0) return;
    this.#worker?.terminate();
    this.#worker = undefined;
  }
}

/**
 * One download's CRC: {@link update} with each chunk in order, then
 * {@link digest} once, or {@link cancel} when the download is abandoned.
 */
export class CrcJob implements Pending {
  readonly #worker: CrcWorker;
  /** Assigned when the first batch goes to the worker. */
  #id = 0;
  #batch: Uint8Array | null = null;
  #filled = 0;
  /** Batch buffers this job has allocated (at most {@link BATCHES_PER_DOWNLOAD}). */
  #owned = 0;
  readonly #spare: ArrayBuffer[] = [];
  #waiting: (() => void) | null = null;
  #result: PromiseWithResolvers<bigint> | null = null;
  #error: Error | null = null;

  constructor(worker: CrcWorker) {
    this.#worker = worker;
  }

  /** Copies `bytes` into batches; waits only when both batches are at the worker. */
  async update(bytes: Uint8Array): Promise<void> {
    while (bytes.length > 0) {
      if (this.#error) throw this.#error;
      this.#batch ??= new Uint8Array(await this.#buffer());
      const take = Math.min(bytes.length, BATCH_BYTES - this.#filled);
      this.#batch.set(bytes.subarray(0, take), this.#filled);
      this.#filled += take;
      bytes = bytes.subarray(take);
      if (this.#filled === BATCH_BYTES) this.#send();
    }
  }

  /** The CRC of everything fed. */
  digest(): Promise<bigint> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#id === 0) {
      // Never reached the worker: a small object, computed here in well under a millisecond.
      return Promise.resolve(
        new Crc64().update(this.#batch?.subarray(0, this.#filled) ?? new Uint8Array()).value,
      );
    }
    if (this.#filled > 0) this.#send();
    this.#result = Promise.withResolvers<bigint>();
    this.#worker.post({ id: this.#id, end: true });
    return this.#result.promise;
  }

  /** Drops the job's state here and in the worker. */
  cancel(): void {
    if (this.#id === 0 || this.#error) return;
    this.#worker.post({ id: this.#id, end: false });
    this.#worker.forget(this.#id);
  }

  returned(batch: ArrayBuffer): void {
    this.#spare.push(batch);
    this.#waiting?.();
  }

  done(crc: bigint): void {
    this.#worker.forget(this.#id);
    this.#result?.resolve(crc);
  }

  failed(error: Error): void {
    this.#error = error;
    this.#waiting?.();
    this.#result?.reject(error);
  }

  #send(): void {
    if (this.#id === 0) this.#id = this.#worker.nextId();
    const batch = this.#batch!.buffer as ArrayBuffer;
    this.#worker.post({ id: this.#id, batch, length: this.#filled }, this);
    this.#batch = null;
    this.#filled = 0;
  }

  async #buffer(): Promise<ArrayBuffer> {
    while (this.#spare.length === 0 && this.#owned >= BATCHES_PER_DOWNLOAD) {
      await new Promise<void>((resolve) => this.#waiting = resolve);
      this.#waiting = null;
      if (this.#error) throw this.#error;
    }
    if (this.#spare.length > 0) return this.#spare.pop()!;
    this.#owned++;
    return new ArrayBuffer(BATCH_BYTES);
  }
}

/** The process's CRC worker. */
export const crcWorker: CrcWorker = new CrcWorker();
