/**
 * How text from a config file (or from the system) may appear in a message:
 * escaped, so a file cannot put terminal escapes or line breaks into an
 * operator's output, and short, so a 2 MB value does not become 2 MB of output.
 *
 * @module
 */

/** Longest piece of foreign text quoted in a message, in characters. */
export const MAX_SHOWN = 80;

/** Key names that say the value is a credential. */
const SECRET_NAME = /secret|passw|pwd|token|login_users|credential/i;

/** True when a key's name says its value is secret (`cos_secretkey`, `*_password`, ...). */
export function isSecretName(key: string): boolean {
  return SECRET_NAME.test(key);
}

/**
 * True when a value may carry a secret from a neighbouring line: a lost newline
 * joins `key = value` pairs, so a value holding `=` or a secret key's name
 * (`RWftp_login_user_password = ...`) is not quoted.
 */
export function mayHoldSecret(raw: string): boolean {
  return raw.includes("=") || SECRET_NAME.test(raw);
}

/**
 * `text` with control and format characters as `\uXXXX`, cut to `max`
 * characters with an ellipsis.
 */
export function printable(text: string, max = MAX_SHOWN): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(
    /[\p{Cc}\p{Cf}\u2028\u2029]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** `"value"` for a message, or a note in its place when the value may carry a secret. */
export function quoted(raw: string): string {
  return mayHoldSecret(raw) ? "(value not shown: it may hold a secret)" : `"${printable(raw)}"`;
}
