/**
 * Building the SDK client for one account: endpoint, protocol, timeouts.
 *
 * @module
 */

import COS from "cos-nodejs-sdk-v5";
import type { CosStorageConfig } from "../../config/types.ts";
import { type KeySource, keySource } from "./credentials.ts";
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
  /**
   * Headers that authorize a request (COS q-sign-algorithm=sha1): `authorization`, and
   * `x-cos-security-token` with temporary keys. A StorageError when there are no keys.
   */
  sign(
    method: "get" | "put",
    key: string,
    query?: Record<string, string>,
  ): Promise<Record<string, string>>;
  /** Hears about every request (for the metrics); the SDK is wrapped to report its own. */
  observe?: CosRequestObserver;
  /** How long a request may wait for its answer's head (the account's timeout). */
  timeoutMs: number;
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
  const keys = keySource(config);
  const options: COS.COSOptions = {
    ...sdkCredentials(keys),
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
  const sign = async (method: "get" | "put", key: string, query: Record<string, string> = {}) => {
    const current = await keys.current();
    const authorization = COS.getAuthorization({
      SecretId: current.secretId,
      SecretKey: current.secretKey,
      Method: method,
      Key: key,
      Query: query,
      Headers: { host: bucketHost },
    });
    const headers: Record<string, string> = { authorization };
    if (current.securityToken) headers["x-cos-security-token"] = current.securityToken;
    return headers;
  };
  const http = releasingKeys(Deno.createHttpClient({ allowHost: true }), keys);
  const own = keysFirst(new COS(options), keys);
  const sdk = observe ? observedSdk(own, observe) : own;
  return { sdk, bucket: config.bucket, region, bucketHost, origin, http, sign, observe, timeoutMs };
}

/**
 * Fixed keys go to the SDK as they are; changing ones through its
 * getAuthorization callback, answered with a finished signature so that the
 * SDK's own cache (which keeps keys until 60 s before they expire) never
 * decides which keys sign.
 */
function sdkCredentials(keys: KeySource): Partial<COS.COSOptions> {
  if (keys.fixed) {
    const { secretId, secretKey, securityToken } = keys.fixed;
    return { SecretId: secretId, SecretKey: secretKey, SecurityToken: securityToken || undefined };
  }
  return {
    getAuthorization: (params, callback) => {
      keys.current().then((current) => {
        const authorization = COS.getAuthorization({
          SecretId: current.secretId,
          SecretKey: current.secretKey,
          Method: params.Method,
          Pathname: params.Pathname,
          Query: params.Query,
          Headers: params.Headers,
        });
        // The typings know only a bare signature; the SDK also reads SecurityToken beside it.
        const answer = { Authorization: authorization, SecurityToken: current.securityToken };
        callback(answer as unknown as COS.GetAuthorizationCallbackParams);
      }, () => {
        // The SDK takes no error here: without keys it fails the request itself (a
        // storage failure); the probe reports the metadata service's own words.
        callback({} as COS.GetAuthorizationCallbackParams);
      });
    },
  };
}

/**
 * With changing keys, every SDK request first makes sure there are keys, so
 * that a failing metadata service fails the request with its own words (the
 * SDK's callback cannot carry them). The SDK's methods run on the unwrapped
 * client, so its internal calls are not wrapped again.
 */
function keysFirst(sdk: COS, keys: KeySource): COS {
  if (keys.fixed) return sdk;
  return new Proxy(sdk, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const last = args.at(-1);
        const ready = keys.current();
        if (typeof last !== "function") return ready.then(() => value.apply(target, args));
        ready.then(() => value.apply(target, args), (error) => last(error));
      };
    },
  });
}

/** The client's holders close `http` when done: that also lets go of the keys. */
function releasingKeys(http: Deno.HttpClient, keys: KeySource): Deno.HttpClient {
  const close = http.close.bind(http);
  http.close = () => {
    keys.release();
    close();
  };
  return http;
}
