/**
 * Builds a cos-nodejs-sdk-v5 (3.0.0) client aimed at a COS emulator.
 *
 * What the SDK offers for reaching an endpoint such as `http://10.0.0.5:9000`
 * with NO DNS lookup while keeping the virtual-hosted Host header (read in
 * sdk/base.js _submitRequest and getUrl):
 *
 * - `Ip: "10.0.0.5:9000"` + `Protocol: "http:"`: the SDK builds the normal
 *   URL `http://{Bucket}.cos.{Region}.myqcloud.com/{key}`, then replaces its
 *   host part with the Ip string verbatim (a port is fine) and sets
 *   `Host: {Bucket}.cos.{Region}.myqcloud.com` explicitly. The signature
 *   covers that Host (ForceSignHost, default true). This is what we use.
 * - `Domain` template (e.g. `{Bucket}.cos.{Region}.myqcloud.com`) only
 *   changes the host name; the connection still resolves it through DNS.
 * - `Proxy: "http://10.0.0.5:9000"` sends absolute-form requests to a
 *   proxy; the emulator is not a proxy.
 *
 * Other options set here:
 * - `AutoSwitchHost: false`: no retry against the backup domain
 *   (`*.tencentcos.cn`). With `Ip` the request URL no longer matches
 *   `*.cos.*.myqcloud.com`, so switching could not trigger anyway; off for
 *   clarity. It does NOT turn off retries: submitRequest always makes up to
 *   4 attempts (tryTimes < 4) on 5xx, ECONNRESET and other errors without a
 *   status, unless the body is a stream or the output is a stream.
 * - `KeepAlive: true` (the default) makes cos-request use an http.Agent with
 *   keepAlive. Note that under Deno (like Node >= 19) the global agent keeps
 *   connections alive too, so `KeepAlive: false` still reuses sockets.
 * - `Timeout` (ms) is per client, applied to every request: until the
 *   response headers on a new connection (ETIMEDOUT), as socket idle time on
 *   a reused one (ESOCKETTIMEDOUT). Such errors have no status and are
 *   retried like resets, so one call can take up to 4 x Timeout.
 */

import COS from "cos-nodejs-sdk-v5";

/** Creates a client that sends every request to `emulator.url`. */
export function sdkClient(
  emulator: { url: string },
  secretId: string,
  secretKey: string,
  overrides: COS.COSOptions = {},
): COS {
  const endpoint = new URL(emulator.url);
  return new COS({
    SecretId: secretId,
    SecretKey: secretKey,
    Ip: endpoint.host,
    Protocol: endpoint.protocol === "https:" ? "https:" : "http:",
    AutoSwitchHost: false,
    KeepAlive: true,
    Timeout: 30_000,
    ...overrides,
  });
}
