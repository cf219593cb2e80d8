/**
 * Verifies the COS XML API request signature (q-sign-algorithm=sha1), the way
 * the COS server does, as the SDK computes it in sdk/util.js getAuth:
 *
 *   SignKey      = hex(HMAC-SHA1(SecretKey, q-key-time))
 *   HttpString   = method\n/decoded-key\nparams\nheaders\n
 *   StringToSign = sha1\nq-sign-time\nhex(SHA1(HttpString))\n
 *   Signature    = hex(HMAC-SHA1(SignKey, StringToSign))
 *
 * params and headers are `k=v` joined with `&`, sorted by key, where k is the
 * URL-encoded lower-cased name and v the URL-encoded value; only the names
 * listed in q-url-param-list / q-header-list take part. The path is the
 * DECODED key (the SDK signs `'/' + Key`, not the encoded URL path).
 */

import { createHash, createHmac } from "node:crypto";
import { cosErrors } from "./errors.ts";
import type { EmuRequest } from "./types.ts";

/** The fields of an Authorization header. */
export interface AuthFields {
  algorithm: string;
  secretId: string;
  signTime: string;
  keyTime: string;
  headerList: string[];
  paramList: string[];
  signature: string;
}

/** Temporary (STS) keys: accepted only with their token, and only before they expire. */
export interface TemporaryKey {
  secretKey: string;
  /** The `x-cos-security-token` requests signed with the key must carry. */
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Looks up a temporary key by its SecretId (keys come and go while the emulator runs). */
export type TemporaryKeys = (secretId: string) => TemporaryKey | undefined;

/** How far (seconds) a signature's start may lie in the future. */
const START_SKEW_SECONDS = 60;

/** encodeURIComponent plus the characters the SDK additionally escapes. */
export function camSafeUrlEncode(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

/** Throws the COS 403 error a badly signed request gets; returns on success. */
export function verifySignature(
  request: EmuRequest,
  credentials: ReadonlyMap<string, string>,
  nowSeconds: number,
  temporary?: TemporaryKeys,
): void {
  const header = request.headers["authorization"];
  if (!header) throw cosErrors.accessDenied();
  const auth = parseAuthorization(header);
  const secretKey = credentials.get(auth.secretId) ??
    temporaryKey(request, temporary?.(auth.secretId));
  if (secretKey === undefined) throw cosErrors.invalidAccessKeyId();
  checkTimeWindow(auth.signTime, nowSeconds);
  if (expectedSignature(request, auth, secretKey) !== auth.signature) {
    throw cosErrors.signatureDoesNotMatch();
  }
}

/** Parses `q-a=b&q-c=d...`; throws AccessDenied when fields are missing. */
export function parseAuthorization(header: string): AuthFields {
  const fields = new Map<string, string>();
  for (const part of header.split("&")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const need = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined) throw cosErrors.accessDenied(`Authorization lacks ${name}.`);
    return value;
  };
  const list = (name: string) => need(name).split(";").filter((s) => s !== "");
  const auth: AuthFields = {
    algorithm: need("q-sign-algorithm"),
    secretId: need("q-ak"),
    signTime: need("q-sign-time"),
    keyTime: need("q-key-time"),
    headerList: list("q-header-list"),
    paramList: list("q-url-param-list"),
    signature: need("q-signature"),
  };
  if (auth.algorithm !== "sha1") throw cosErrors.accessDenied("Unsupported q-sign-algorithm.");
  return auth;
}

/** The temporary key's secret when the request carries its token before it expires. */
function temporaryKey(request: EmuRequest, key: TemporaryKey | undefined): string | undefined {
  if (key === undefined) return undefined;
  if (request.headers["x-cos-security-token"] !== key.token) {
    throw cosErrors.accessDenied("The security token is missing or does not match the key.");
  }
  if (Date.now() >= key.expiresAt) throw cosErrors.accessDenied("The temporary key has expired.");
  return key.secretKey;
}

function checkTimeWindow(signTime: string, now: number): void {
  const match = /^(\d+);(\d+)$/.exec(signTime);
  if (!match) throw cosErrors.accessDenied("Invalid q-sign-time.");
  const [start, end] = [Number(match[1]), Number(match[2])];
  // The SDK's clock-skew correction looks for exactly this message.
  if (now > end) throw cosErrors.accessDenied("Request has expired");
  if (start > now + START_SKEW_SECONDS) throw cosErrors.accessDenied("Request is not yet valid");
}

/** The signature the request should carry under `secretKey`. */
export function expectedSignature(
  request: EmuRequest,
  auth: AuthFields,
  secretKey: string,
): string {
  const signKey = hmacHex(secretKey, auth.keyTime);
  const sha1 = createHash("sha1").update(httpString(request, auth)).digest("hex");
  return hmacHex(signKey, `sha1\n${auth.signTime}\n${sha1}\n`);
}

function httpString(request: EmuRequest, auth: AuthFields): string {
  const params = signedPairs(auth.paramList, queryPairs(request.query));
  const headers = signedPairs(auth.headerList, Object.entries(request.headers));
  return `${request.method.toLowerCase()}\n/${request.key}\n${params}\n${headers}\n`;
}

function queryPairs(query: URLSearchParams): [string, string][] {
  return [...query.entries()];
}

/**
 * `k=v&...` over the listed names, sorted by encoded name. A listed name the
 * request does not carry cannot have been signed over what was sent, so it
 * makes the signature fail.
 */
function signedPairs(names: string[], pairs: [string, string][]): string {
  const byName = new Map<string, string>();
  for (const [name, value] of pairs) byName.set(camSafeUrlEncode(name).toLowerCase(), value);
  const out: string[] = [];
  for (const name of [...names].sort()) {
    const value = byName.get(name);
    if (value === undefined) throw cosErrors.signatureDoesNotMatch();
    out.push(`${name}=${camSafeUrlEncode(value)}`);
  }
  return out.join("&");
}

function hmacHex(key: string, data: string): string {
  return createHmac("sha1", key).update(data).digest("hex");
}
