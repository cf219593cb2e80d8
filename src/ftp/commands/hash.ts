/**
 * File checksums computed by the server: HASH (draft-bryan-ftpext-hash,
 * algorithm chosen with OPTS HASH) and the older XCRC, XMD5, XSHA1 and
 * XSHA256 that WinSCP, SmartFTP, CuteFTP and others send.
 *
 * The file is streamed from storage (bounded memory, local or COS; on COS a
 * whole-file read is itself CRC-64 checked) and refused above
 * `hash_max_size`. The session runs it as an abortable job (see
 * {@link Session.runAbortable}): ABOR stops the read and is answered at once.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import type { Storage } from "../../storage/types.ts";
import type { Session } from "../context.ts";
import { FtpError } from "../errors.ts";
import { fileKey } from "../paths.ts";
import { type Command, loggedIn, resolve } from "./command.ts";

/** A running digest over bytes handed over in pieces. */
interface Digest {
  update(bytes: Uint8Array): void;
  /** Lower-case hex. */
  hex(): string;
}

/** The draft's algorithm names, in FEAT order. */
export const HASH_ALGORITHMS = ["SHA-256", "SHA-1", "MD5", "CRC32"] as const;

/** One of {@link HASH_ALGORITHMS}. */
export type HashAlgorithm = typeof HASH_ALGORITHMS[number];

/** What HASH uses until OPTS HASH picks another (the draft's recommendation). */
export const DEFAULT_HASH: HashAlgorithm = "SHA-256";

function digestOf(algorithm: HashAlgorithm): Digest {
  if (algorithm === "CRC32") {
    let value = 0;
    return {
      update: (bytes) => void (value = crc32(bytes, value)),
      hex: () => value.toString(16).padStart(8, "0"),
    };
  }
  const name = { "SHA-256": "sha256", "SHA-1": "sha1", "MD5": "md5" }[algorithm];
  const hash = createHash(name);
  return { update: (bytes) => void hash.update(bytes), hex: () => hash.digest("hex") };
}

/** Bytes `start` (inclusive) to `end` (exclusive; absent = to the end of the file). */
export interface ByteRange {
  start: number;
  end?: number;
}

/**
 * Digests `range` of the file at `key`, reading it as a stream. A range to
 * the end is read to the stream's end, where storage reports a failed
 * integrity check (COS CRC-64). An abort of `signal` cancels the read and
 * rejects with the signal's reason.
 */
export async function digestFile(
  storage: Storage,
  key: string,
  algorithm: HashAlgorithm,
  range: ByteRange,
  signal?: AbortSignal,
): Promise<string> {
  const digest = digestOf(algorithm);
  signal?.throwIfAborted();
  const stream = await storage.read(key, { offset: range.start, signal });
  const reader = stream.getReader();
  const cancel = () => reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  try {
    let left = range.end === undefined ? Infinity : range.end - range.start;
    while (left > 0) {
      const next = await reader.read();
      signal?.throwIfAborted();
      if (next.done) return digest.hex();
      const piece = next.value.length > left ? next.value.subarray(0, left) : next.value;
      digest.update(piece);
      left -= piece.length;
    }
    // The range ended before the file: the rest is not wanted.
    await reader.cancel().catch(() => {});
    return digest.hex();
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

/** The algorithm this session's HASH uses. */
export function selectedHash(session: Session): HashAlgorithm {
  const chosen = HASH_ALGORITHMS.find((a) => a === session.state.hashAlgorithm);
  return chosen ?? DEFAULT_HASH;
}

/** The FEAT line: every algorithm, the selected one marked with `*`. */
export function hashFeature(session: Session): string {
  const selected = selectedHash(session);
  return `HASH ${HASH_ALGORITHMS.map((a) => (a === selected ? `${a}*` : a)).join(";")}`;
}

/** OPTS HASH [algorithm]: reports, or selects, the algorithm HASH uses. */
export async function optsHash(session: Session, value: string): Promise<void> {
  if (value.trim() === "") return void await session.send(200, selectedHash(session));
  const wanted = HASH_ALGORITHMS.find((a) => a === value.trim().toUpperCase());
  if (!wanted) {
    throw new FtpError(501, `Unknown algorithm; use one of ${HASH_ALGORITHMS.join(", ")}`);
  }
  session.state.hashAlgorithm = wanted;
  await session.send(200, wanted);
}

/** The file a checksum command names, checked for reading and against `hash_max_size`. */
async function hashTarget(session: Session, path: string): Promise<{ key: string; size: number }> {
  const { storage } = loggedIn(session);
  const absolute = resolve(session, path);
  const key = fileKey(absolute);
  const entry = absolute === "/" ? null : await storage.stat(key);
  if (!entry) throw new FtpError(550, `${absolute}: No such file`);
  const limit = session.config.hashMaxSize;
  if (limit > 0 && entry.size > limit) {
    throw new FtpError(
      552,
      `${absolute}: ${entry.size} bytes is more than hash_max_size (${limit} bytes); not checksummed`,
    );
  }
  return { key, size: entry.size };
}

/** ABOR ends a checksum with 426 (ABOR itself then answers 226); other failures go on up. */
async function answerAbort(session: Session, error: unknown, signal: AbortSignal): Promise<void> {
  if (!signal.aborted) throw error;
  await session.send(426, "Checksum aborted by ABOR");
}

const hash: Command = {
  access: "read",
  needsArg: true,
  syntax: "HASH <path>",
  async run(session, arg) {
    const path = arg.trim();
    const { key, size } = await hashTarget(session, path);
    const algorithm = selectedHash(session);
    const { storage } = loggedIn(session);
    session.runAbortable(async (signal) => {
      try {
        const hex = await digestFile(storage, key, algorithm, { start: 0 }, signal);
        const end = Math.max(size - 1, 0);
        await session.send(213, `${algorithm} 0-${end} ${hex} ${path}`);
      } catch (error) {
        await answerAbort(session, error, signal);
      }
    });
  },
};

/**
 * `path`, `"path"`, `path start end`, `path, end` or `path, start, end` (the
 * forms CuteFTP, Serv-U and ProFTPD document). Unquoted, trailing numbers
 * are a range only when the whole argument is not itself a file name.
 */
async function parseRangeArg(
  session: Session,
  arg: string,
): Promise<{ path: string; start?: number; end?: number }> {
  const text = arg.trim();
  const quoted = /^"([^"]*)"(.*)$/.exec(text);
  const [path, rest] = quoted ? [quoted[1], quoted[2]] : splitTrailingNumbers(text);
  const numbers = rest.split(/[\s,]+/).filter((n) => n !== "");
  if (numbers.length === 0) return { path };
  if (!quoted) {
    const whole = await loggedIn(session).storage.stat(fileKey(resolve(session, text)));
    if (whole) return { path: text };
  }
  if (numbers.length > 2 || !numbers.every((n) => /^\d{1,15}$/.test(n))) {
    throw new FtpError(501, "Syntax: X<alg> <path> [start [end]]");
  }
  const [a, b] = numbers.map(Number);
  return numbers.length === 1 ? { path, end: a } : { path, start: a, end: b };
}

/** `name 10 20` -> [`name`, ` 10 20`]; without trailing numbers, [text, ""]. */
function splitTrailingNumbers(text: string): [string, string] {
  const match = /^(.*?),?((?:[\s,]+\d+){1,2})$/.exec(text);
  return match && match[1] !== "" ? [match[1], match[2]] : [text, ""];
}

/** XCRC, XMD5, XSHA1, XSHA256: `250 <hex>`, the reply their clients parse. */
function legacy(name: string, algorithm: HashAlgorithm): Command {
  return {
    access: "read",
    needsArg: true,
    syntax: `${name} <path> [start [end]]`,
    async run(session, arg) {
      const parsed = await parseRangeArg(session, arg);
      const { key, size } = await hashTarget(session, parsed.path);
      const start = parsed.start ?? 0;
      const end = Math.min(parsed.end ?? size, size);
      if (start > end) throw new FtpError(550, `Range ${start}-${end} is outside the file`);
      const range = { start, end: end < size ? end : undefined };
      const { storage } = loggedIn(session);
      session.runAbortable(async (signal) => {
        try {
          const hex = await digestFile(storage, key, algorithm, range, signal);
          await session.send(250, hex);
        } catch (error) {
          await answerAbort(session, error, signal);
        }
      });
    },
  };
}

/** HASH, XCRC, XMD5, XSHA1, XSHA256. */
export const HASH_COMMANDS: Record<string, Command> = {
  HASH: hash,
  XCRC: legacy("XCRC", "CRC32"),
  XMD5: legacy("XMD5", "MD5"),
  XSHA1: legacy("XSHA1", "SHA-1"),
  XSHA256: legacy("XSHA256", "SHA-256"),
};
