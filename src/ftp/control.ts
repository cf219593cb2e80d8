/**
 * The control connection: turns the byte stream into command lines and
 * serialises replies, over a transport that AUTH TLS can swap for TLS.
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

/** Something control bytes are read from and written to (a TCP or TLS connection). */
export interface ControlTransport {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
}

/**
 * Reads command lines one at a time. Between two calls to {@link next} no
 * read is pending, and bytes received but not parsed stay in the buffer, so
 * the transport can be swapped for TLS after AUTH TLS without losing or
 * misreading a byte ({@link takeBuffered} hands over what was read early).
 */
export class ControlReader {
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  // One spare byte so a maximal line still fits its CR.
  readonly #line = new Uint8Array(MAX_LINE_BYTES + 1);
  readonly #buffer = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  #length = 0;
  #overlong = false;
  #afterIac = 0;

  constructor(private transport: ControlTransport) {}

  /** Reads from `transport` from now on. */
  setTransport(transport: ControlTransport): void {
    this.transport = transport;
  }

  /** Bytes read but not parsed yet (they belong to whatever comes next on the wire). */
  takeBuffered(): Uint8Array {
    const bytes = this.#buffer.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    return bytes;
  }

  /** The next line (or line problem); `null` when the connection ended. */
  async next(): Promise<ControlInput | null> {
    while (true) {
      const input = this.#parse();
      if (input) return input;
      const read = await this.transport.read(this.#buffer);
      if (read === null) return null;
      this.#start = 0;
      this.#end = read;
    }
  }

  /** Consumes buffered bytes up to the end of a line; `null` when more bytes are needed. */
  #parse(): ControlInput | null {
    while (this.#start < this.#end) {
      const byte = this.#buffer[this.#start++];
      if (this.#afterIac > 0) {
        this.#afterIac = skipTelnetOption(this.#afterIac, byte);
      } else if (byte === IAC) {
        this.#afterIac = 1;
      } else if (byte === LF) {
        return this.#endLine();
      } else if (this.#length >= this.#line.length) {
        this.#overlong = true;
      } else {
        this.#line[this.#length++] = byte;
      }
    }
    return null;
  }

  #endLine(): ControlInput {
    const input: ControlInput = this.#overlong
      ? { kind: "overlong" }
      : decodeLine(this.#decoder, this.#line.subarray(0, this.#length));
    this.#length = 0;
    this.#overlong = false;
    return input;
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

  /**
   * A write that cannot finish within `timeoutMs` means the client stopped
   * reading: the writer fails and calls `onStuck` (which closes the
   * connection), instead of holding the session, and shutdown, forever.
   */
  constructor(
    private transport: ControlTransport,
    private readonly timeoutMs: number,
    private readonly onStuck: () => void,
  ) {}

  /** Writes to `transport` from now on (after a TLS upgrade). */
  setTransport(transport: ControlTransport): void {
    this.transport = transport;
  }

  /** Queues `reply`; resolves when it is on the wire (or the connection is gone). */
  send(reply: Reply): Promise<void> {
    const bytes = this.#encoder.encode(formatReply(reply));
    this.#queue = this.#queue.then(async () => {
      if (this.#failed) return;
      const written = await finishesWithin(this.#writeAll(bytes), this.timeoutMs);
      if (written) return;
      this.#failed = true;
      this.onStuck();
    });
    return this.#queue;
  }

  /** Whether a write has failed (the client is gone or not reading). */
  get failed(): boolean {
    return this.#failed;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let offset = 0; offset < bytes.length;) {
      offset += await this.transport.write(bytes.subarray(offset));
    }
  }
}

/** Whether `work` succeeds within `ms`; false on failure or timeout (later rejections are absorbed). */
function finishesWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  const done = work.then(() => true, () => false);
  return Promise.race([done, timeout]).finally(() => clearTimeout(timer));
}
