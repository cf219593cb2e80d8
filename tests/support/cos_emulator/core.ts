/**
 * The request pipeline, independent of the transport: route, count, apply
 * faults, verify the signature, find the bucket, dispatch to the handler,
 * and turn COS errors into error replies. Every reply gets x-cos-request-id.
 */

import { putObjectCopy, uploadPartCopy } from "./copy.ts";
import { codeForStatus, CosApiError, cosErrors, errorXml } from "./errors.ts";
import { type Failure, FaultBook, type Tamper } from "./faults.ts";
import { headBucket, listObjects } from "./listing.ts";
import {
  abortMultipartUpload,
  completeMultipartUpload,
  initiateMultipartUpload,
  listMultipartUploads,
  listParts,
  uploadPart,
} from "./multipart.ts";
import {
  deleteMultipleObjects,
  deleteObject,
  getObject,
  headObject,
  putObject,
} from "./objects.ts";
import { bucketHost, type Handler, type HandlerContext } from "./reply.ts";
import { classifyOp, parseTarget } from "./routing.ts";
import { type TemporaryKeys, verifySignature } from "./signature.ts";
import { Store } from "./store.ts";
import type { CosOp, EmuReply, EmuRequest } from "./types.ts";

/** A request as the transport hands it over. */
export interface RawRequest {
  method: string;
  /** Raw request target: path and query, still encoded. */
  url: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** What the transport must do: send a reply, or drop the connection. */
export type Outcome = { kind: "reply"; reply: EmuReply } | { kind: "reset" };

/** One handled request, for tests to inspect. */
export interface RequestRecord {
  op: CosOp | "Unknown";
  method: string;
  bucket: string;
  key: string;
  /** HTTP status sent, or "reset" when the connection was dropped. */
  status: number | "reset";
  /** The SDK marks its own retries with `x-cos-sdk-retry: true`. */
  sdkRetry: boolean;
  requestId: string;
  /** The SecretId (`q-ak`) the request was signed with; "" when unsigned. */
  secretId: string;
}

const HANDLERS: Record<CosOp, Handler> = {
  PutObject: putObject,
  GetObject: getObject,
  HeadObject: headObject,
  DeleteObject: deleteObject,
  ListObjects: listObjects,
  InitiateMultipartUpload: initiateMultipartUpload,
  UploadPart: uploadPart,
  CompleteMultipartUpload: completeMultipartUpload,
  AbortMultipartUpload: abortMultipartUpload,
  UploadPartCopy: uploadPartCopy,
  PutObjectCopy: putObjectCopy,
  DeleteMultipleObjects: deleteMultipleObjects,
  HeadBucket: headBucket,
  ListParts: listParts,
  ListMultipartUploads: listMultipartUploads,
};

/** Most request records kept; older ones are dropped in batches. */
const LOG_LIMIT = 20_000;

/** The emulator's state and request pipeline. */
export class EmulatorCore {
  readonly store = new Store();
  readonly faults = new FaultBook();
  readonly counts = new Map<string, number>();
  readonly log: RequestRecord[] = [];
  readonly ctx: HandlerContext;
  readonly #closing = new AbortController();

  constructor(
    settings: Omit<HandlerContext, "store">,
    readonly credentials: ReadonlyMap<string, string>,
    readonly temporary?: TemporaryKeys,
  ) {
    this.ctx = { ...settings, store: this.store };
  }

  /** Ends pending fault delays (so that close() does not wait for them). */
  abortDelays(): void {
    this.#closing.abort();
  }

  /** Handles one request end to end. */
  async handle(raw: RawRequest): Promise<Outcome> {
    const req = this.#toRequest(raw);
    if (req instanceof CosApiError) return this.#reply(this.#errorReply(req, undefined));
    const op = classifyOp(req.method, req, req.headers) ?? "Unknown";
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
    const decision = this.faults.decide(op, req.bucket, req.key);
    if (decision.delayMs > 0) await sleep(decision.delayMs, this.#closing.signal);
    const failure = decision.failure;
    let outcome: Outcome;
    if (failure?.phase === "before") {
      outcome = this.#fail(failure, req);
    } else {
      // With phase "after" the store changes and only the answer is lost.
      const reply = this.#execute(tamperRequest(req, decision.tamper), op);
      outcome = failure
        ? this.#fail(failure, req)
        : this.#reply(tamperReply(reply, decision.tamper));
    }
    this.#record(req, op, outcome);
    return outcome;
  }

  #toRequest(raw: RawRequest): EmuRequest | CosApiError {
    try {
      const target = parseTarget(raw.url, raw.headers["host"] ?? "");
      return {
        ...target,
        method: raw.method,
        headers: raw.headers,
        body: raw.body,
        requestId: newRequestId(),
      };
    } catch (error) {
      if (error instanceof CosApiError) return error;
      throw error;
    }
  }

  #execute(req: EmuRequest, op: CosOp | "Unknown"): EmuReply {
    try {
      verifySignature(req, this.credentials, Math.floor(Date.now() / 1000), this.temporary);
      if (op === "Unknown") throw cosErrors.notImplemented();
      const bucket = this.store.get(req.bucket);
      if (!bucket) throw cosErrors.noSuchBucket();
      return withRequestId(HANDLERS[op](this.ctx, req, bucket), req.requestId);
    } catch (error) {
      return this.#errorReply(asCosError(error), req);
    }
  }

  #fail(failure: Failure, req: EmuRequest): Outcome {
    if (failure.kind === "reset") return { kind: "reset" };
    const code = failure.code ?? codeForStatus(failure.status);
    const error = new CosApiError(failure.status, code, failure.message ?? "Injected fault.");
    return this.#reply(this.#errorReply(error, req));
  }

  #errorReply(error: CosApiError, req: EmuRequest | undefined): EmuReply {
    const requestId = req?.requestId ?? newRequestId();
    const resource = req ? `${bucketHost(req.bucket, this.ctx.region)}/${req.key}` : "";
    return {
      status: error.status,
      headers: {
        ...error.headers,
        "content-type": "application/xml",
        "x-cos-request-id": requestId,
      },
      body: errorXml(error, resource, requestId),
    };
  }

  #reply(reply: EmuReply): Outcome {
    return { kind: "reply", reply };
  }

  #record(req: EmuRequest, op: CosOp | "Unknown", outcome: Outcome): void {
    if (this.log.length >= LOG_LIMIT) this.log.splice(0, LOG_LIMIT / 2);
    this.log.push({
      op,
      method: req.method,
      bucket: req.bucket,
      key: req.key,
      status: outcome.kind === "reset" ? "reset" : outcome.reply.status,
      sdkRetry: req.headers["x-cos-sdk-retry"] === "true",
      requestId: req.requestId,
      secretId: /(?:^|&)q-ak=([^&]*)/.exec(req.headers["authorization"] ?? "")?.[1] ?? "",
    });
  }
}

/** A `corrupt` fault on an upload: the body arrives with one bit flipped. */
function tamperRequest(req: EmuRequest, tamper: Tamper | undefined): EmuRequest {
  if (tamper !== "corrupt" || req.body.length === 0) return req;
  return { ...req, body: flipBit(req.body) };
}

/** A `corrupt` fault on a download flips a bit of the body; `bad-crc` changes the CRC header. */
function tamperReply(reply: EmuReply, tamper: Tamper | undefined): EmuReply {
  const crc = reply.headers["x-cos-hash-crc64ecma"];
  if (tamper === "bad-crc" && crc !== undefined) {
    return {
      ...reply,
      headers: { ...reply.headers, "x-cos-hash-crc64ecma": String(BigInt(crc) ^ 1n) },
    };
  }
  if (tamper === "corrupt" && reply.body instanceof Uint8Array && reply.body.length > 0) {
    return { ...reply, body: flipBit(reply.body) };
  }
  return reply;
}

/** A copy of `bytes` with the lowest bit of the middle byte flipped. */
function flipBit(bytes: Uint8Array): Uint8Array {
  const copy = bytes.slice();
  copy[copy.length >> 1] ^= 1;
  return copy;
}

/** Bugs in a handler still answer, as a 500 that names the bug. */
function asCosError(error: unknown): CosApiError {
  if (error instanceof CosApiError) return error;
  return new CosApiError(500, "InternalError", `emulator bug: ${String(error)}`);
}

function withRequestId(reply: EmuReply, requestId: string): EmuReply {
  return { ...reply, headers: { ...reply.headers, "x-cos-request-id": requestId } };
}

/** Opaque, unique, base64 like COS's request ids. */
function newRequestId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
