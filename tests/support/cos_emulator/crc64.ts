/**
 * The emulator's own CRC-64/XZ (COS's `x-cos-hash-crc64ecma`): a plain
 * byte-at-a-time table over two 32-bit halves, written apart from the
 * server's sliced version so that the two check each other.
 */

/** Reflected ECMA-182 polynomial 0xC96C5795D7870F42. */
const POLY_HI = 0xc96c5795;
const POLY_LO = 0xd7870f42;

const LO = new Uint32Array(256);
const HI = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let lo = n;
  let hi = 0;
  for (let bit = 0; bit < 8; bit++) {
    const odd = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi >>>= 1;
    if (odd) {
      lo = (lo ^ POLY_LO) >>> 0;
      hi = (hi ^ POLY_HI) >>> 0;
    }
  }
  LO[n] = lo;
  HI[n] = hi;
}

/** The CRC as COS sends it: an unsigned decimal string. */
export function crc64Decimal(bytes: Uint8Array): string {
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    const t = (lo ^ bytes[i]) & 0xff;
    lo = (((lo >>> 8) | ((hi & 0xff) << 24)) ^ LO[t]) >>> 0;
    hi = ((hi >>> 8) ^ HI[t]) >>> 0;
  }
  return ((BigInt((~hi) >>> 0) << 32n) | BigInt((~lo) >>> 0)).toString();
}
