/**
 * Parsers of the account keys that say where COS credentials come from:
 * `cos_credentials` (configured keys, or a CVM instance role) and
 * `cvm_metadata_url` (the instance metadata service, settable for tests and
 * private endpoints).
 *
 * @module
 */

import { fail, ok, type Parser } from "./values.ts";

/** The metadata service every CVM instance reaches. */
export const DEFAULT_METADATA_URL = "http://metadata.tencentyun.com";

/** CAM role names: letters, digits and `+=,.@_-`, at most 128. */
export const ROLE_NAME = /^[\w+=,.@-]{1,128}$/;

/**
 * `keys` -> undefined (cos_secretid/cos_secretkey or the environment),
 * `cvm_role` -> "" (the instance's one role), anything else -> that role's name.
 */
export const parseCredentialSource: Parser<string | undefined> = (raw) => {
  const lower = raw.toLowerCase();
  if (lower === "keys") return ok(undefined);
  if (lower === "cvm_role") return ok("");
  return ROLE_NAME.test(raw)
    ? ok(raw)
    : fail("must be keys, cvm_role or a CAM role name (letters, digits, +=,.@_-)");
};

/** An http(s) URL without query or fragment; the trailing `/` is dropped. */
export const parseMetadataUrl: Parser<string> = (raw) => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail("must be an http:// or https:// URL");
  }
  if (!/^https?:$/.test(url.protocol) || url.search !== "" || url.hash !== "") {
    return fail("must be an http:// or https:// URL without ? or #");
  }
  if (url.username !== "" || url.password !== "") return fail("must not carry a user or password");
  return ok(url.href.replace(/\/+$/, ""));
};
