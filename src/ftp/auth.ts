/**
 * Checking logins. Passwords are compared in constant time over their
 * SHA-256 digests, so neither the length nor a common prefix leaks through
 * response timing.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";
import type { UserConfig } from "../config/types.ts";

/** The configured users, by name. */
export class UserDirectory {
  readonly #byName = new Map<string, UserConfig>();

  constructor(users: UserConfig[]) {
    for (const user of users) this.#byName.set(user.name, user);
  }

  /** The user when name and password match, else `null`. */
  check(name: string, password: string): UserConfig | null {
    const user = this.#byName.get(name);
    // Compare against a dummy when the name is unknown, so timing does not reveal which names exist.
    const equal = timingSafeEqual(digest(password), digest(user?.password ?? "\0unknown"));
    return user && equal ? user : null;
  }
}

function digest(text: string): Uint8Array {
  return createHash("sha256").update(text).digest();
}
