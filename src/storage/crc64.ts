/**
 * CRC-64/XZ, the checksum COS sends as `x-cos-hash-crc64ecma` (ECMA-182
 * polynomial, reflected, init and xorout all ones), as a decimal string.
 *
 * The hot loop is WebAssembly (src/storage/crc64.wat, bytes in
 * crc64_wasm.ts): slicing-by-16 over 64-bit table entries, ~1.8 GB/s on the
 * bench VM where the same algorithm in TypeScript over 32-bit halves (V8 has
 * no fast 64-bit integers) ran ~0.9-1.2 GB/s; the npm package
 * crc64-ecma182.js (emscripten) ran ~0.6 GB/s with a heap copy per call, so
 * it is not used. BigInt appears only at the edges: the value, and
 * {@link crc64Combine}, which runs once per part.
 *
 * @module
 */

import { CRC64_WASM } from "./crc64_wasm.ts";

const POLY = 0xc96c5795d7870f42n;
const MASK64 = 0xffffffffffffffffn;

/** Feeds bytes into a register held as two 32-bit halves `[low, high]` (pre-inversion). */
export type CrcFeed = (register: Int32Array, bytes: Uint8Array) => void;

/**
 * Instantiates the WebAssembly CRC from its base64 bytes and returns its feed.
 * Self-contained on purpose (it names nothing outside its own body): the CRC
 * worker (crc_worker.ts) is started from this function's source text, since a
 * bundled or compiled server has no module file to point a worker at.
 */
export function crcFeed(wasmBase64: string): CrcFeed {
  // The module's memory layout (crc64.wat): tables, then the register, then the input window.
  const REGISTER = 32768;
  const INPUT = 65536;
  const WINDOW = 1024 * 1024;
  const code = Uint8Array.from(atob(wasmBase64), (c) => c.charCodeAt(0));
  const exports = new WebAssembly.Instance(new WebAssembly.Module(code)).exports as unknown as {
    memory: WebAssembly.Memory;
    init(): void;
    update(pointer: number, length: number): void;
  };
  exports.init();
  const heap = new Uint8Array(exports.memory.buffer);
  // WebAssembly memory is little-endian, as is every platform Deno runs on.
  const cell = new Int32Array(exports.memory.buffer, REGISTER, 2);
  return (register, bytes) => {
    cell.set(register);
    for (let at = 0; at < bytes.length; at += WINDOW) {
      const piece = bytes.subarray(at, at + WINDOW);
      heap.set(piece, INPUT);
      exports.update(INPUT, piece.length);
    }
    register.set(cell);
  };
}

/** This thread's instance. */
const feed = crcFeed(CRC64_WASM);

/** A fresh register (all ones). */
export function crcRegister(): Int32Array {
  return new Int32Array([-1, -1]);
}

/** The CRC a register stands for (its inversion, as one unsigned 64-bit value). */
export function crcOfRegister(register: ArrayLike<number>): bigint {
  return (BigInt(~register[1] >>> 0) << 32n) | BigInt(~register[0] >>> 0);
}

/** A running CRC-64/XZ over bytes handed over in any number of pieces. */
export class Crc64 {
  readonly #register = crcRegister();
  #length = 0;

  /** Bytes fed so far. */
  get length(): number {
    return this.#length;
  }

  /** Feeds `bytes`; returns `this` for chaining. */
  update(bytes: Uint8Array): this {
    feed(this.#register, bytes);
    this.#length += bytes.length;
    return this;
  }

  /** The CRC of everything fed so far (feeding may go on). */
  get value(): bigint {
    return crcOfRegister(this.#register);
  }
}

/** CRC-64/XZ of `bytes`. */
export function crc64(bytes: Uint8Array): bigint {
  return new Crc64().update(bytes).value;
}

/**
 * The CRC of `A || B` from `crc(A)`, `crc(B)` and B's length: `crc(A)`
 * times x^(8 * lengthB) modulo the polynomial, xor `crc(B)` (init and xorout
 * cancel out because they are equal). The power of x is built by squaring
 * (x^(2^k) mod P), so a combine costs O(log lengthB) carry-less products.
 */
export function crc64Combine(crcA: bigint, crcB: bigint, lengthB: number): bigint {
  if (lengthB === 0) return crcA;
  return multiplyModP(xPowerOfBytes(lengthB), crcA) ^ crcB;
}

/** x^0 in the reflected representation (the top bit). */
const ONE = 1n << 63n;

/** x^(2^k) mod P for k = 0..63 (x^1, x^2, x^4, ...): enough for any 2^53-byte length. */
const X_POWERS: bigint[] = [ONE >> 1n];
for (let k = 1; k < 64; k++) X_POWERS.push(multiplyModP(X_POWERS[k - 1], X_POWERS[k - 1]));

/** Parts share a handful of lengths, so their powers of x are kept. */
const powerCache = new Map<number, bigint>();

/** x^(8 * bytes) mod P. */
function xPowerOfBytes(bytes: number): bigint {
  const cached = powerCache.get(bytes);
  if (cached !== undefined) return cached;
  let power = ONE;
  let bits = BigInt(bytes) * 8n;
  for (let k = 0; bits > 0n; k++, bits >>= 1n) {
    if (bits & 1n) power = multiplyModP(X_POWERS[k], power);
  }
  if (powerCache.size < 64) powerCache.set(bytes, power);
  return power;
}

/** a * b mod P, both reflected (bit 63 is x^0). */
function multiplyModP(a: bigint, b: bigint): bigint {
  let product = 0n;
  for (let bit = ONE; bit > 0n; bit >>= 1n) {
    if (a & bit) product ^= b;
    b = b & 1n ? (b >> 1n) ^ POLY : b >> 1n;
  }
  return product & MASK64;
}

/** COS's header value (an unsigned decimal), or `null` when absent or not a number. */
export function parseCrc64(header: string | null | undefined): bigint | null {
  const text = header?.trim() ?? "";
  if (!/^\d{1,20}$/.test(text)) return null;
  const value = BigInt(text);
  return value <= MASK64 ? value : null;
}
