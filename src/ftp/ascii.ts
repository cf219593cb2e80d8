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

/** Network -> file: CRLF becomes LF; a lone CR is kept. */
export function crlfToLf(): TransformStream<Uint8Array, Uint8Array> {
  let pendingCr = false;
  return new TransformStream({
    transform(chunk, controller) {
      const out = new Uint8Array(chunk.length + 1);
      let n = 0;
      for (const byte of chunk) {
        if (pendingCr && byte !== LF) out[n++] = CR;
        pendingCr = byte === CR;
        if (!pendingCr) out[n++] = byte;
      }
      controller.enqueue(out.subarray(0, n));
    },
    flush(controller) {
      if (pendingCr) controller.enqueue(new Uint8Array([CR]));
    },
  });
}
