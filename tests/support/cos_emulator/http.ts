/**
 * The HTTP transport: a node:http server on 127.0.0.1, in-process.
 *
 * Why node:http and not Deno.serve: a `reset` fault must drop the connection
 * BEFORE any response byte, so that the client sees "socket hang up"
 * (ECONNRESET, no status code) as with a real network failure. Deno.serve
 * cannot: a throwing handler still yields a 500, and an erroring body stream
 * is only noticed after the status line and headers went out (the SDK then
 * reports ECONNRESET with statusCode 200, and a HEAD even succeeds). Deno's
 * node:http server can destroy the socket at any point, and it lets us count
 * TCP connections, which shows whether clients keep connections alive.
 */

import http from "node:http";
import type { Socket } from "node:net";
import type { Outcome, RawRequest } from "./core.ts";

/** A listening transport. */
export interface HttpFront {
  port: number;
  /** TCP connections accepted so far. */
  connections(): number;
  /** Stops listening and destroys every open connection. */
  close(): Promise<void>;
}

type Handle = (raw: RawRequest) => Promise<Outcome>;

const EMPTY = new Uint8Array(0);

/** Starts the server on 127.0.0.1 with an ephemeral port. */
export async function listen(handle: Handle): Promise<HttpFront> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = http.createServer((req, res) => void serveOne(handle, req, res));
  // Long keep-alive, like a real endpoint: no idle-close races with pooled clients.
  server.keepAliveTimeout = 120_000;
  server.requestTimeout = 0;
  server.on("connection", (socket: Socket) => {
    accepted++;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return {
    port: address.port,
    connections: () => accepted,
    close: () => closeServer(server, sockets),
  };
}

function closeServer(server: http.Server, sockets: Set<Socket>): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    for (const socket of sockets) socket.destroy();
  });
}

async function serveOne(
  handle: Handle,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  try {
    const body = await readBody(req);
    const outcome = await handle({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      headers: flatHeaders(req.headers),
      body,
    });
    if (outcome.kind === "reset") req.socket.destroy();
    else send(req, res, outcome.reply);
  } catch {
    // The client went away mid-request, or the pipeline broke: drop the connection.
    req.socket.destroy();
  }
}

function send(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  reply: Extract<Outcome, { kind: "reply" }>["reply"],
): void {
  const payload = typeof reply.body === "string"
    ? new TextEncoder().encode(reply.body)
    : reply.body ?? EMPTY;
  const headers: Record<string, string> = { server: "tencent-cos", ...reply.headers };
  // HEAD keeps the handler's Content-Length (the object's size) and sends no body.
  headers["content-length"] ??= String(payload.length);
  res.writeHead(reply.status, headers);
  if (req.method === "HEAD") res.end();
  else res.end(payload);
}

/**
 * Reads the whole body. With a Content-Length the buffer is allocated once
 * and chunks are copied straight in, so a 1 GiB upload costs 1 GiB; without
 * one (chunked), chunks are collected and concatenated once at the end.
 */
export function readBody(req: http.IncomingMessage): Promise<Uint8Array> {
  const declared = Number(req.headers["content-length"] ?? NaN);
  const sink = Number.isSafeInteger(declared) && declared >= 0
    ? new PreSizedSink(declared)
    : new ChunkSink();
  return new Promise((resolve, reject) => {
    req.on("data", (chunk: Uint8Array) => sink.add(chunk));
    req.on("end", () => resolve(sink.finish()));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("request aborted")));
  });
}

class PreSizedSink {
  readonly #buffer: Uint8Array;
  #offset = 0;
  constructor(size: number) {
    this.#buffer = new Uint8Array(size);
  }
  add(chunk: Uint8Array): void {
    // The HTTP parser enforces Content-Length; guard anyway against overflow.
    const room = this.#buffer.length - this.#offset;
    this.#buffer.set(chunk.length > room ? chunk.subarray(0, room) : chunk, this.#offset);
    this.#offset += Math.min(chunk.length, room);
  }
  finish(): Uint8Array {
    return this.#offset === this.#buffer.length
      ? this.#buffer
      : this.#buffer.subarray(0, this.#offset);
  }
}

class ChunkSink {
  readonly #chunks: Uint8Array[] = [];
  #size = 0;
  add(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
  }
  finish(): Uint8Array {
    if (this.#size === 0) return EMPTY;
    const out = new Uint8Array(this.#size);
    let offset = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }
}

function flatHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return flat;
}
