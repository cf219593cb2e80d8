/**
 * Fault injection: rules that pick requests by op (and optionally bucket or
 * key) and count them from the moment they are injected, then fail, reset or
 * delay the Nth.. matching ones.
 */

import type { CosOp } from "./types.ts";

/** A fault to inject. */
export interface FaultSpec {
  /** Operation(s) to match; all operations when left out. */
  op?: CosOp | CosOp[];
  /**
   * `status`: answer with `status` and a COS error XML;
   * `reset`: close the connection without any response;
   * `delay`: wait `ms` before handling the request normally;
   * `corrupt`: flip one bit of the bytes on the wire: of an upload's body
   * before it is stored (PutObject, UploadPart), or of the body sent back
   * (GetObject), as an unnoticed transmission error would;
   * `bad-crc`: answer normally but with a wrong `x-cos-hash-crc64ecma`.
   */
  kind: "status" | "reset" | "delay" | "corrupt" | "bad-crc";
  /** The first matching request (1-based, counted from now) affected. Default 1. */
  nth?: number;
  /** How many consecutive matching requests are affected. Default 1. */
  times?: number;
  /** Affect every matching request from `nth` on (overrides `times`). */
  every?: boolean;
  /** For `status`: the HTTP status. Default 503. */
  status?: number;
  /** For `status`: the error code. Default InternalError / ServiceUnavailable by status. */
  code?: string;
  /** For `status`: the error message. */
  message?: string;
  /** For `delay`: milliseconds to wait. */
  ms?: number;
  /**
   * For `status` and `reset`: `before` (default) fails the request without
   * touching the store; `after` performs it first and then loses the answer,
   * like a response dropped on the way back.
   */
  phase?: "before" | "after";
  /** Only requests for this bucket. */
  bucket?: string;
  /** Only requests for this key. */
  key?: string;
}

/** A live fault rule. */
export interface FaultHandle {
  /** Matching requests seen since injection. */
  readonly seen: number;
  /** Requests this rule affected. */
  readonly hits: number;
  /** Stops the rule. */
  remove(): void;
}

/** How a request fails, when it does. */
export type Failure =
  | { kind: "status"; status: number; code?: string; message?: string; phase: "before" | "after" }
  | { kind: "reset"; phase: "before" | "after" };

/** A request or answer changed on its way, not failed. */
export type Tamper = "corrupt" | "bad-crc";

/** What the faults decide for one request. */
export interface FaultDecision {
  delayMs: number;
  failure?: Failure;
  tamper?: Tamper;
}

class FaultRule implements FaultHandle {
  seen = 0;
  hits = 0;
  constructor(readonly spec: FaultSpec, readonly book: FaultBook) {}

  remove(): void {
    this.book.remove(this);
  }

  matches(op: CosOp | "Unknown", bucket: string, key: string): boolean {
    const { spec } = this;
    const ops = spec.op === undefined ? undefined : [spec.op].flat();
    if (ops && !ops.includes(op as CosOp)) return false;
    if (spec.bucket !== undefined && spec.bucket !== bucket) return false;
    return spec.key === undefined || spec.key === key;
  }

  /** Counts one matching request; true when it falls in the rule's window. */
  fires(): boolean {
    const n = ++this.seen;
    const first = this.spec.nth ?? 1;
    const inWindow = n >= first && (this.spec.every || n < first + (this.spec.times ?? 1));
    if (inWindow) this.hits++;
    return inWindow;
  }
}

/** The set of active fault rules of one emulator. */
export class FaultBook {
  #rules: FaultRule[] = [];

  inject(spec: FaultSpec): FaultHandle {
    validate(spec);
    const rule = new FaultRule(spec, this);
    this.#rules.push(rule);
    return rule;
  }

  remove(rule: FaultHandle): void {
    this.#rules = this.#rules.filter((r) => r !== rule);
  }

  clear(): void {
    this.#rules = [];
  }

  /** Counts the request against every matching rule; delays add up, first failure wins. */
  decide(op: CosOp | "Unknown", bucket: string, key: string): FaultDecision {
    const decision: FaultDecision = { delayMs: 0 };
    for (const rule of this.#rules) {
      if (!rule.matches(op, bucket, key) || !rule.fires()) continue;
      const { spec } = rule;
      if (spec.kind === "delay") decision.delayMs += spec.ms ?? 0;
      else if (spec.kind === "corrupt" || spec.kind === "bad-crc") decision.tamper ??= spec.kind;
      else decision.failure ??= failureOf(spec);
    }
    return decision;
  }
}

function failureOf(spec: FaultSpec): Failure {
  const phase = spec.phase ?? "before";
  if (spec.kind === "reset") return { kind: "reset", phase };
  return {
    kind: "status",
    status: spec.status ?? 503,
    code: spec.code,
    message: spec.message,
    phase,
  };
}

function validate(spec: FaultSpec): void {
  if (spec.nth !== undefined && !(Number.isInteger(spec.nth) && spec.nth >= 1)) {
    throw new RangeError("fault nth must be an integer >= 1");
  }
  if (spec.times !== undefined && !(Number.isInteger(spec.times) && spec.times >= 1)) {
    throw new RangeError("fault times must be an integer >= 1");
  }
  if (spec.kind === "delay" && !(typeof spec.ms === "number" && spec.ms >= 0)) {
    throw new RangeError("a delay fault needs ms >= 0");
  }
}
