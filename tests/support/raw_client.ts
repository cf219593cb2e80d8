/**
 * A raw FTP control connection for tests that must see exact replies: send a
 * line, read one complete (possibly multi-line) reply.
 */

import { assert, assertEquals } from "./assert.ts";

/** A parsed reply. */
export interface RawReply {
  code: number;
  /** Every line, with code prefixes, joined by "\n". */
  text: string;
  lines: string[];
}

const encoder = new TextEncoder();

/** A test's control connection. */
export class RawClient {
  #buffer = "";
  readonly #decoder = new TextDecoder();
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;

  private constructor(readonly conn: Deno.TcpConn) {
    this.#reader = conn.readable.getReader();
  }

  /** Connects and reads the greeting. */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<RawClient> {
    const client = new RawClient(await Deno.connect({ hostname, port }));
    const greeting = await client.read();
    assertEquals(greeting.code, 220, greeting.text);
    return client;
  }

  /** Connects, logs in, and switches to binary. */
  static async login(port: number, user = "demo", password = "demo"): Promise<RawClient> {
    const client = await RawClient.connect(port);
    await client.expect(`USER ${user}`, 331);
    await client.expect(`PASS ${password}`, 230);
    await client.expect("TYPE I", 200);
    return client;
  }

  /** Sends raw bytes (for malformed input). */
  async writeRaw(bytes: Uint8Array | string): Promise<void> {
    await this.conn.write(typeof bytes === "string" ? encoder.encode(bytes) : bytes);
  }

  /** Sends one command line. */
  async send(line: string): Promise<void> {
    await this.writeRaw(`${line}\r\n`);
  }

  /** Sends a command and returns its reply. */
  async command(line: string): Promise<RawReply> {
    await this.send(line);
    return await this.read();
  }

  /** Sends a command and asserts the reply code. */
  async expect(line: string, code: number): Promise<RawReply> {
    const reply = await this.command(line);
    assertEquals(
      reply.code,
      code,
      `${line.startsWith("PASS") ? "PASS ***" : line} -> ${reply.text}`,
    );
    return reply;
  }

  /** Reads one complete reply; throws when the server closes first. */
  async read(): Promise<RawReply> {
    const lines: string[] = [];
    while (true) {
      const line = await this.#readLine();
      lines.push(line);
      const first = lines[0];
      assert(/^\d{3}[ -]/.test(first), `malformed reply line: ${JSON.stringify(first)}`);
      const code = first.slice(0, 3);
      if (first[3] === " " || (lines.length > 1 && line.startsWith(`${code} `))) {
        return { code: Number(code), text: lines.join("\n"), lines };
      }
    }
  }

  /** Resolves true when the server has closed the connection (reads until EOF). */
  async closedByServer(): Promise<boolean> {
    try {
      while (true) {
        const { done } = await this.#reader.read();
        if (done) return true;
      }
    } catch {
      return true;
    }
  }

  /** Opens a passive data connection with PASV. */
  async pasv(): Promise<Deno.TcpConn> {
    const reply = await this.expect("PASV", 227);
    const m = /\((\d+),(\d+),(\d+),(\d+),(\d+),(\d+)\)/.exec(reply.text);
    assert(m, `bad PASV reply ${reply.text}`);
    const port = Number(m[5]) * 256 + Number(m[6]);
    return await Deno.connect({ hostname: `${m[1]}.${m[2]}.${m[3]}.${m[4]}`, port });
  }

  /** Opens a passive data connection with EPSV. */
  async epsv(): Promise<Deno.TcpConn> {
    const reply = await this.expect("EPSV", 229);
    const m = /\(\|\|\|(\d+)\|\)/.exec(reply.text);
    assert(m, `bad EPSV reply ${reply.text}`);
    return await Deno.connect({ hostname: "127.0.0.1", port: Number(m[1]) });
  }

  /** Downloads `path` and returns its bytes; asserts 150 then 226. */
  async retrieve(path: string): Promise<Uint8Array> {
    const data = await this.epsv();
    await this.expect(`RETR ${path}`, 150);
    const bytes = await readAll(data);
    const done = await this.read();
    assertEquals(done.code, 226, done.text);
    return bytes;
  }

  /** Uploads `bytes` to `path`; asserts 150 then 226. */
  async store(path: string, bytes: Uint8Array): Promise<RawReply> {
    const data = await this.epsv();
    await this.expect(`STOR ${path}`, 150);
    await writeAllAndClose(data, bytes);
    const done = await this.read();
    assertEquals(done.code, 226, done.text);
    return done;
  }

  /** Runs a listing command and returns its text. */
  async listing(command: string): Promise<string> {
    const data = await this.epsv();
    await this.expect(command, 150);
    const text = new TextDecoder().decode(await readAll(data));
    const done = await this.read();
    assertEquals(done.code, 226, done.text);
    return text;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  async #readLine(): Promise<string> {
    while (!this.#buffer.includes("\r\n")) {
      const { value, done } = await this.#reader.read();
      if (done) {
        throw new Error(`connection closed by server; pending: ${JSON.stringify(this.#buffer)}`);
      }
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
    const end = this.#buffer.indexOf("\r\n");
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 2);
    return line;
  }
}

/** Reads a data connection to EOF. */
export async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of conn.readable) {
    chunks.push(chunk);
    total += chunk.length;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

/** Writes everything and closes (a clean EOF). */
export async function writeAllAndClose(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  const writer = conn.writable.getWriter();
  await writer.write(bytes);
  await writer.close();
}
