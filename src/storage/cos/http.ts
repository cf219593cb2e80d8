/**
 * Signed COS requests through Deno's own HTTP client, for the requests that
 * move file bytes (GET Object, PUT Object, UploadPart) and for listings
 * (GET Bucket, see listing.ts). The SDK's node:http
 * emulation parses every body byte in a WebAssembly HTTP parser, which on 2
 * cores held downloads to 0.73 of the SDK's own speed (this path: 1.1-1.2x),
 * and hung a streamed request body ~90 s on a pooled connection COS had
 * closed. The SDK still signs, and still makes every other request.
 *
 * @module
 */

import { STORAGE_UNAVAILABLE, StorageError } from "../errors.ts";
import type { CosClient } from "./client.ts";
import { fromCosError } from "./errors.ts";
import { outcomeOf } from "./observe.ts";

/** One request to send. */
export interface SignedRequest {
  method: "get" | "put";
  /** The full object key ("" for a bucket request). */
  key: string;
  /** The COS API name, for the metrics (default: from method and query). */
  operation?: string;
  /** What errors name (default: the key). */
  what?: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: ReadableStream<Uint8Array<ArrayBuffer>>;
  /** Gives up when the response head has not arrived by then. */
  timeoutMs: number;
  /** Ends the request and its body early (a caller's own deadline for reading the body). */
  signal?: AbortSignal;
}

/** Sends `request`; the response when it is 2xx, else the COS error as a StorageError. */
export async function signedFetch(client: CosClient, request: SignedRequest): Promise<Response> {
  const query = request.query ?? {};
  // Not URLSearchParams: its "+" for a space would reach COS as a literal plus in a listing prefix.
  const search = Object.entries(query).map(([name, value]) =>
    `${encodeSegment(name)}=${encodeSegment(value)}`
  ).join("&");
  const url = `${client.origin}/${encodeObjectPath(request.key)}${search ? `?${search}` : ""}`;
  const headers = {
    ...request.headers,
    host: client.bucketHost,
    ...await client.sign(request.method, request.key, query),
  };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), request.timeoutMs);
  const started = performance.now();
  let response: Response | undefined;
  try {
    response = await fetch(url, {
      method: request.method.toUpperCase(),
      client: client.http,
      headers,
      body: request.body,
      signal: request.signal
        ? AbortSignal.any([controller.signal, request.signal])
        : controller.signal,
    });
  } catch (error) {
    const reason = controller.signal.aborted ? "timed out" : (error as Error).message;
    // The client hears only that storage is unavailable; the network's words go to the log.
    const what = request.what ?? (request.key || "/");
    throw new StorageError(
      "transient",
      `${what}: ${STORAGE_UNAVAILABLE}`,
      "",
      `COS request failed: ${reason}`,
    );
  } finally {
    clearTimeout(timer);
    // Time to the response head: a download's body is the transfer's time, not COS's latency.
    client.observe?.(operationOf(request), outcomeOf(response?.status), secondsSince(started));
  }
  if (response.ok) return response;
  throw await errorFrom(response, request.what ?? request.key);
}

/** The COS API name of a signed request, like the SDK methods the other requests are named by. */
function operationOf(request: SignedRequest): string {
  if (request.operation) return request.operation;
  if (request.method === "get") return "getObject";
  return request.query?.partNumber === undefined ? "putObject" : "uploadPart";
}

function secondsSince(started: number): number {
  return (performance.now() - started) / 1000;
}

/** The COS error XML of a failed response, through the one COS error mapping. */
async function errorFrom(response: Response, key: string): Promise<StorageError> {
  const text = await response.text().catch(() => "");
  const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(text)?.[1];
  return fromCosError({
    statusCode: response.status,
    code: String(response.status),
    message: response.statusText,
    error: { Code: field("Code"), Message: field("Message"), RequestId: field("RequestId") },
    headers: { "x-cos-request-id": response.headers.get("x-cos-request-id") ?? "" },
  }, key);
}

/** The object path as COS (and the SDK) encode it: every segment URI-encoded, `!'()*` too. */
export function encodeObjectPath(key: string): string {
  return key.split("/").map(encodeSegment).join("/");
}

/** One path segment or query value, URI-encoded as COS signs it: `!'()*` too. */
function encodeSegment(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}
