/**
 * The control connection: turns the byte stream into command lines and
 * serialises replies.
 *
 * Lines end in LF (CR before it is dropped). Telnet IAC sequences, which
 * clients send around ABOR, are removed. A line longer than
 * {@link MAX_LINE_BYTES} is discarded up to its end and reported as
 * `overlong` so the session can answer 500 and go on.
 *
 * @module
 */

import { formatReply, type Reply } from "./reply.ts";

/** Longest command line accepted, in bytes, without its line end. */
export const MAX_LINE_BYTES = 8192;

/** One unit read from the control connection. */
export type ControlInput =
  | { kind: "line"; text: string }
  | { kind: "overlong" }
  | { kind: "invalid-utf8" };

const IAC = 0xff;
const LF = 0x0a;
const CR = 0x0d;

/** Reads command lines from `readable` until it ends or fails. */
export async function* readControlLines(
  readable: ReadableStream<Uint8Array>,
): AsyncGenerator<ControlInput> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  // One spare byte so a maximal line still fits its CR.
  const line = new Uint8Array(MAX_LINE_BYTES + 1);
  let length = 0;
  let overlong = false;
  let afterIac = 0;
  for await (const chunk of readable) {
    for (const byte of chunk) {
      if (afterIac > 0) {
        afterIac = skipTelnetOption(afterIac, byte);
        continue;
      }
      if (byte === IAC) {
        afterIac = 1;
        continue;
      }
      if (byte === LF) {
        if (overlong) yield { kind: "overlong" };
        else yield decodeLine(decoder, line.subarray(0, length));
        length = 0;
        overlong = false;
        continue;
      }
      if (length >= line.length) {
        overlong = true;
        continue;
      }
      line[length++] = byte;
    }
  }
}

/**
 * Telnet: IAC is followed by one command byte, or by WILL/WONT/DO/DONT and an
 * option byte. Returns how many bytes of the sequence remain to skip.
 */
function skipTelnetOption(state: number, byte: number): number {
  if (state === 1 && byte >= 0xfb && byte <= 0xfe) return 2;
  return 0;
}

function decodeLine(decoder: TextDecoder, bytes: Uint8Array): ControlInput {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
  try {
    return { kind: "line", text: decoder.decode(bytes.subarray(0, end)) };
  } catch {
    return { kind: "invalid-utf8" };
  }
}

/** Writes replies in order, never interleaving two of them. */
export class ReplyWriter {
  readonly #encoder = new TextEncoder();
  #queue: Promise<void> = Promise.resolve();
  #failed = false;

  constructor(private readonly writer: WritableStreamDefaultWriter<Uint8Array>) {}

  /** Queues `reply`; resolves when it is on the wire (or the connection is gone). */
  send(reply: Reply): Promise<void> {
    const bytes = this.#encoder.encode(formatReply(reply));
    this.#queue = this.#queue.then(async () => {
      if (this.#failed) return;
      try {
        await this.writer.write(bytes);
      } catch {
        this.#failed = true;
      }
    });
    return this.#queue;
  }

  /** Whether a write has failed (the client is gone). */
  get failed(): boolean {
    return this.#failed;
  }
}
