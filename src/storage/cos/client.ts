/**
 * Building the SDK client for one account: endpoint, protocol, timeouts.
 *
 * @module
 */

import COS from "cos-nodejs-sdk-v5";
import type { CosStorageConfig } from "../../config/types.ts";
import { type CosRequestObserver, observedSdk } from "./observe.ts";

/** Region put in the Host header when only an endpoint URL is given (COS-compatible servers ignore it). */
const PLACEHOLDER_REGION = "default";

/** What every request of one account needs: the client and the bucket coordinates. */
export interface CosClient {
  sdk: COS;
  bucket: string;
  region: string;
  /** The Host header of bucket requests (virtual-hosted). */
  bucketHost: string;
  /** Where requests connect: `http(s)://host[:port]` (the endpoint URL, or the bucket host). */
  origin: string;
  /** For downloads through Deno's own HTTP stack: lets us send `bucketHost` to `origin`. */
  http: Deno.HttpClient;
  /** Signs a request (COS q-sign-algorithm=sha1) for the Authorization header. */
  sign(method: "get" | "put", key: string, query?: Record<string, string>): string;
  /** Hears about every request (for the metrics); the SDK is wrapped to report its own. */
  observe?: CosRequestObserver;
}

/**
 * Creates the client. `cos_endpoint` may be:
 * - empty: public COS in `cos_region`;
 * - a host suffix (`cos.ap-guangzhou.myqcloud.com`): requests go to `{bucket}.{endpoint}`, as the
 *   original did; `{Bucket}`/`{Region}` templates are used as given;
 * - a URL (`http://10.0.0.5:9000`): every request connects to that address with no DNS lookup,
 *   the bucket still named in the virtual-hosted Host header (the SDK's `Ip` option).
 */
export function createCosClient(
  config: CosStorageConfig,
  timeoutMs: number,
  observe?: CosRequestObserver,
): CosClient {
  const region = config.region || PLACEHOLDER_REGION;
  const options: COS.COSOptions = {
    SecretId: config.secretId,
    SecretKey: config.secretKey,
    Protocol: `${config.protocol}:`,
    // The backup domain (*.tencentcos.cn) is a different host than the operator configured.
    AutoSwitchHost: false,
    KeepAlive: true,
    Timeout: timeoutMs,
  };
  let bucketHost = `${config.bucket}.cos.${region}.myqcloud.com`;
  let origin = "";
  const endpoint = config.endpoint.trim();
  if (/^https?:\/\//i.test(endpoint)) {
    const url = new URL(endpoint);
    options.Ip = url.host;
    options.Protocol = url.protocol === "https:" ? "https:" : "http:";
    origin = `${options.Protocol}//${url.host}`;
  } else if (endpoint !== "") {
    const domain = endpoint.includes("{Bucket}") ? endpoint : `{Bucket}.${endpoint}`;
    options.Domain = domain;
    bucketHost = domain.replaceAll("{Bucket}", config.bucket).replaceAll("{Region}", region);
  }
  origin ||= `${options.Protocol}//${bucketHost}`;
  const sign = (method: "get" | "put", key: string, query: Record<string, string> = {}) =>
    COS.getAuthorization({
      SecretId: config.secretId,
      SecretKey: config.secretKey,
      Method: method,
      Key: key,
      Query: query,
      Headers: { host: bucketHost },
    });
  const http = Deno.createHttpClient({ allowHost: true });
  const sdk = observe ? observedSdk(new COS(options), observe) : new COS(options);
  return { sdk, bucket: config.bucket, region, bucketHost, origin, http, sign, observe };
}
