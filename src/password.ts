/**
 * Password hashes: PBKDF2-HMAC-SHA256 through WebCrypto, stored as one string
 *
 * ```
 * $pbkdf2-sha256$<iterations>$<salt>$<hash>
 * ```
 *
 * where salt and hash are unpadded base64url (RFC 4648 section 5). `--hash-password`
 * makes them with {@link DEFAULT_ITERATIONS} iterations, a 16-byte random salt and a
 * 32-byte hash. Nothing here ever puts a password or a hash into a message.
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";

/** How every stored hash starts; any other value is a plaintext password. */
export const HASH_PREFIX = "$pbkdf2-sha256$";

/** Iterations of new hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256). */
export const DEFAULT_ITERATIONS = 310_000;

const SALT_BYTES = 16;
const HASH_BYTES = 32;

/**
 * What a stored hash may hold: fewer iterations or bytes are too weak to accept;
 * more iterations would make one login cost seconds of CPU.
 */
const BOUNDS = {
  iterations: { min: 1000, max: 10_000_000 },
  saltBytes: { min: 8 },
  hashBytes: { min: 16, max: 64 },
};

/** A parsed stored hash. */
export interface PasswordHash {
  iterations: number;
  salt: Uint8Array<ArrayBuffer>;
  hash: Uint8Array<ArrayBuffer>;
}

/** Whether a configured password is a hash (else it is plaintext). */
export function isHashed(value: string): boolean {
  return value.startsWith(HASH_PREFIX);
}

/** The hash, or a description of what is wrong with it (never quoting the value). */
export function parseHash(value: string): PasswordHash | string {
  const fields = value.slice(HASH_PREFIX.length).split("$");
  if (!isHashed(value) || fields.length !== 3) {
    return `expected ${HASH_PREFIX}<iterations>$<salt>$<hash>`;
  }
  const [count, saltText, hashText] = fields;
  const iterations = /^\d{1,9}$/.test(count) ? Number(count) : NaN;
  if (!(iterations >= BOUNDS.iterations.min && iterations <= BOUNDS.iterations.max)) {
    return `iterations must be a whole number from ${BOUNDS.iterations.min} to ${BOUNDS.iterations.max}`;
  }
  const salt = fromBase64Url(saltText);
  if (salt === null || salt.length < BOUNDS.saltBytes.min) {
    return `the salt must be base64url of at least ${BOUNDS.saltBytes.min} bytes`;
  }
  const hash = fromBase64Url(hashText);
  if (hash === null || hash.length < BOUNDS.hashBytes.min || hash.length > BOUNDS.hashBytes.max) {
    return `the hash must be base64url of ${BOUNDS.hashBytes.min} to ${BOUNDS.hashBytes.max} bytes`;
  }
  return { iterations, salt, hash };
}

/** A new stored hash of `password` with a random salt. */
export async function hashPassword(
  password: string,
  iterations = DEFAULT_ITERATIONS,
): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await derive(password, salt, iterations, HASH_BYTES);
  return `${HASH_PREFIX}${iterations}$${toBase64Url(salt)}$${toBase64Url(hash)}`;
}

/** Whether `password` matches `stored`; the comparison takes the same time wherever they differ. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const derived = await derive(password, stored.salt, stored.iterations, stored.hash.length);
  return timingSafeEqual(derived, stored.hash);
}

/** A hash no password matches (random bytes), for checks that must cost the same as a real one. */
export function dummyHash(iterations = DEFAULT_ITERATIONS): PasswordHash {
  return {
    iterations,
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
    hash: crypto.getRandomValues(new Uint8Array(HASH_BYTES)),
  };
}

/** PBKDF2-HMAC-SHA256 of `password` (UTF-8), `bytes` long. */
async function derive(
  password: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
  bytes: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const secret = new TextEncoder().encode(password);
  const key = await crypto.subtle.importKey("raw", secret, "PBKDF2", false, ["deriveBits"]);
  const params = { name: "PBKDF2", hash: "SHA-256", salt, iterations };
  return new Uint8Array(await crypto.subtle.deriveBits(params, key, bytes * 8));
}

/** Unpadded base64url. */
export function toBase64Url(bytes: Uint8Array): string {
  const base64 = btoa(String.fromCharCode(...bytes));
  return base64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes unpadded base64url strictly; `null` when the text is not that. */
export function fromBase64Url(text: string): Uint8Array<ArrayBuffer> | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text) || text.length % 4 === 1) return null;
  const base64 = text.replaceAll("-", "+").replaceAll("_", "/");
  const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}
