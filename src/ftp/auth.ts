/**
 * Checking logins. A configured password is either a PBKDF2 hash (see
 * `src/password.ts`) or plaintext. Hashes are compared in constant time on the
 * derived bytes; plaintext in constant time over SHA-256 digests, so neither
 * the length nor a common prefix leaks through response timing. When any user
 * has a hash, an unknown name and a plaintext user also pay for one PBKDF2
 * derivation (against a dummy hash), so timing does not reveal which names exist.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { UserConfig } from "../config/types.ts";
import { dummyHash, isHashed, parseHash, type PasswordHash, verifyPassword } from "../password.ts";

/** How one user's password is checked. */
type Verifier = { kind: "hash"; hash: PasswordHash } | { kind: "plain"; digest: Uint8Array };

/** The configured users, by name. */
export class UserDirectory {
  readonly #byName = new Map<string, { user: UserConfig; verifier: Verifier }>();
  /** What unknown names (and plaintext users) are checked against; null when no user has a hash. */
  readonly #dummy: PasswordHash | null;

  /** Throws when a password looks like a hash but is malformed (the config loader rejects those). */
  constructor(users: UserConfig[]) {
    let iterations = 0;
    for (const user of users) {
      const verifier = verifierOf(user);
      if (verifier.kind === "hash") iterations = Math.max(iterations, verifier.hash.iterations);
      this.#byName.set(user.name, { user, verifier });
    }
    this.#dummy = iterations > 0 ? dummyHash(iterations) : null;
  }

  /** The user when name and password match, else `null`. */
  async check(name: string, password: string): Promise<UserConfig | null> {
    const entry = this.#byName.get(name);
    if (entry?.verifier.kind === "hash") {
      return await verifyPassword(password, entry.verifier.hash) ? entry.user : null;
    }
    // Unknown names and plaintext users cost what a hashed user costs.
    if (this.#dummy) await verifyPassword(password, this.#dummy);
    const expected = entry?.verifier.digest ?? digest("\0unknown");
    const equal = timingSafeEqual(digest(password), expected);
    return entry && equal ? entry.user : null;
  }
}

function verifierOf(user: UserConfig): Verifier {
  if (!isHashed(user.password)) return { kind: "plain", digest: digest(user.password) };
  const hash = parseHash(user.password);
  if (typeof hash === "string") throw new Error(`user "${user.name}": bad password hash: ${hash}`);
  return { kind: "hash", hash };
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}
