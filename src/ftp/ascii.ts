/**
 * TYPE A (ASCII) conversion: the network form ends lines in CRLF, files here
 * end them in LF. Both directions keep one byte of state so a CR or LF split
 * across two chunks is still converted right.
 *
 * @module
 */

const CR = 0x0d;
const LF = 0x0a;

/** File -> network: every LF not already preceded by CR becomes CRLF. */
export function lfToCrlf(): TransformStream<Uint8Array, Uint8Array> {
  let previous = 0;
  return new TransformStream({
    transform(chunk, controller) {
      const out = new Uint8Array(chunk.length * 2);
      let n = 0;
      for (const byte of chunk) {
        if (byte === LF && previous !== CR) out[n++] = CR;
        out[n++] = byte;
        previous = byte;
      }
      controller.enqueue(out.subarray(0, n));
    },
  });
}

/**
 * Network -> file: CRLF becomes LF; a lone CR is kept. Stateful, for one
 * upload: a CR at the end of a chunk waits to see the next byte.
 */
export class CrlfToLf {
  #pendingCr = false;

  /** Converts one chunk (the result is a new array; `chunk` may be reused after). */
  convert(chunk: Uint8Array): Uint8Array {
    const out = new Uint8Array(chunk.length + 1);
    let n = 0;
    for (const byte of chunk) {
      if (this.#pendingCr && byte !== LF) out[n++] = CR;
      this.#pendingCr = byte === CR;
      if (!this.#pendingCr) out[n++] = byte;
    }
    return out.subarray(0, n);
  }

  /** What is still held back at the end of the upload. */
  flush(): Uint8Array {
    return this.#pendingCr ? new Uint8Array([CR]) : new Uint8Array(0);
  }
}
