/**
 * A TCP relay on 127.0.0.1 that counts the bytes a client sends through it,
 * so a test can tell how much the gateway uploaded to COS: a resumed upload
 * must not send the kept head again.
 */

/** A running relay. */
export interface ByteProxy {
  /** `http://127.0.0.1:<port>`, for an endpoint setting. */
  readonly url: string;
  /** Bytes received from clients (requests, headers included) so far. */
  readonly upstreamBytes: number;
  close(): Promise<void>;
}

/** Relays every connection to `127.0.0.1:targetPort`. Synchronous, so config hooks can call it. */
export function startByteProxy(targetPort: number): ByteProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const relays = new Set<Promise<void>>();
  const state = { up: 0 };
  const relay = async (client: Deno.TcpConn) => {
    const server = await Deno.connect({ hostname: "127.0.0.1", port: targetPort });
    open.add(client).add(server);
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        state.up += chunk.length;
        controller.enqueue(chunk);
      },
    });
    // Either side ending ends the other: errors are the ordinary end of a relay.
    await Promise.allSettled([
      client.readable.pipeThrough(counter).pipeTo(server.writable),
      server.readable.pipeTo(client.writable),
    ]);
    for (const conn of [client, server]) {
      open.delete(conn);
      closeConn(conn);
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const done = relay(client).catch(() => closeConn(client))
        .finally(() => relays.delete(done));
      relays.add(done);
    }
  })().catch(() => {});
  return {
    url: `http://127.0.0.1:${listener.addr.port}`,
    get upstreamBytes() {
      return state.up;
    },
    async close() {
      listener.close();
      for (const conn of open) closeConn(conn);
      await accepting;
      await Promise.allSettled([...relays]);
    },
  };
}

function closeConn(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}
