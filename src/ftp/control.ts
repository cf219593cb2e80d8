/**
 * The control connection: turns the byte stream into command lines and
 * serialises replies, over a transport that AUTH TLS can swap for TLS.
 *
 * Lines end in LF (CR before it is dropped). A line longer than
 * {@link MAX_LINE_BYTES} is discarded up to its end and reported as
 * `overlong` so the session can answer 500 and go on.
 *
 * Telnet sequences are removed, including the damaged ones real clients
 * produce around ABOR (RFC 959 4.1.3: "Telnet IP" then "Synch", whose DM byte
 * is sent as TCP urgent data). Without SO_OOBINLINE the kernel keeps the
 * urgent byte out of the stream, so we see what is left of it:
 * - lftp sends IAC IP, IAC DM with DM urgent: we get `IAC IP IAC ABOR`;
 *   an IAC followed by a byte that is no Telnet command is a Synch whose DM
 *   was lost, and that byte is data.
 * - tnftp sends IAC IP, IAC with that IAC urgent, then `DM ABOR`: a bare DM
 *   right after IAC IP is dropped.
 * - Python's ftplib sends `ABOR\r\n` with its last byte urgent: `ABOR\r`
 *   ends the line at the CR (an LF that does come is then skipped).
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
/** Telnet Interrupt Process. */
const IP = 0xf4;
/** Telnet Data Mark, the end of a Synch. */
const DM = 0xf2;
/** Telnet WILL, WONT, DO and DONT take an option byte. */
const FIRST_OPTION_VERB = 0xfb;
const LAST_OPTION_VERB = 0xfe;
/** Telnet command bytes are 240 (SE) to 255 (IAC). */
const FIRST_TELNET_COMMAND = 0xf0;
const LF = 0x0a;
const CR = 0x0d;

/** ABOR, the one line that may end at its CR (ftplib's LF arrives as urgent data, out of band). */
const ABOR = [0x41, 0x42, 0x4f, 0x52];

/** Where the parser stands in a Telnet sequence. */
type TelnetState = "data" | "after-iac" | "option" | "after-ip" | "after-abor-cr";

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
  #telnet: TelnetState = "data";
  #byteAtATime = false;

  constructor(private transport: ControlTransport) {}

  /** Reads from `transport` from now on. */
  setTransport(transport: ControlTransport): void {
    this.transport = transport;
  }

  /**
   * Reads one byte at a time (while a transfer runs, when ABOR may come with
   * urgent data). The kernel ends a read at the urgent mark, and Deno's
   * runtime (tokio, on edge-triggered epoll) takes any read shorter than its
   * buffer to mean the socket is drained: the bytes after the mark (`ABOR`)
   * then wait for the client's next packet, which a client waiting for the
   * ABOR reply never sends. A one-byte read is never short.
   */
  readByteAtATime(on: boolean): void {
    this.#byteAtATime = on;
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
      const read = await this.transport.read(
        this.#byteAtATime ? this.#buffer.subarray(0, 1) : this.#buffer,
      );
      if (read === null) return null;
      this.#start = 0;
      this.#end = read;
    }
  }

  /** Consumes buffered bytes up to the end of a line; `null` when more bytes are needed. */
  #parse(): ControlInput | null {
    while (this.#start < this.#end) {
      const byte = this.#buffer[this.#start++];
      const state = this.#telnet;
      this.#telnet = "data";
      if (state === "after-iac") {
        if (this.#telnetCommand(byte)) continue;
      } else if (state === "option" || (state === "after-ip" && byte === DM)) {
        continue;
      } else if (state === "after-abor-cr" && byte === LF) {
        continue;
      }
      if (byte === IAC) {
        this.#telnet = "after-iac";
      } else if (byte === LF) {
        return this.#endLine();
      } else if (byte === CR && this.#isAbor()) {
        this.#telnet = "after-abor-cr";
        return this.#endLine();
      } else {
        this.#append(byte);
      }
    }
    return null;
  }

  /**
   * The byte after an IAC. Returns false when it is data: no Telnet command
   * starts below 240, so the IAC began a Synch whose DM was lost.
   */
  #telnetCommand(byte: number): boolean {
    if (byte === IAC) this.#append(IAC);
    else if (byte === IP) this.#telnet = "after-ip";
    else if (byte >= FIRST_OPTION_VERB && byte <= LAST_OPTION_VERB) this.#telnet = "option";
    else if (byte < FIRST_TELNET_COMMAND) return false;
    return true;
  }

  #append(byte: number): void {
    if (this.#length >= this.#line.length) this.#overlong = true;
    else this.#line[this.#length++] = byte;
  }

  /** Whether the line so far is ABOR, in any letter case. */
  #isAbor(): boolean {
    if (this.#overlong || this.#length !== ABOR.length) return false;
    // 0x20 folds ASCII letters to upper case.
    return ABOR.every((letter, i) => (this.#line[i] & ~0x20) === letter);
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
