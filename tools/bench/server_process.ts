/**
 * The server under benchmark, as its own process (so its RSS is its own),
 * with a sampler of /proc/<pid>/status.
 */

/** A running server process whose memory is being watched. */
export interface Measured {
  port: number;
  /** The server process (for its CPU time in /proc). */
  pid: number;
  /** RSS after start-up, before any transfer. */
  idleRss: number;
  /** Highest RSS seen since the last reset. */
  peakRss(): number;
  resetPeak(): void;
  stop(): Promise<void>;
}

const ROOT = new URL("../../", import.meta.url).pathname;

/**
 * Starts main.ts with user bench/bench and the given account section
 * (`[COS_ACCOUNT_0]` lines) and `[OPTIONAL]` lines.
 */
export async function startServerProcess(
  work: string,
  account: string[],
  optional: string[] = [],
): Promise<Measured> {
  const port = freePort();
  const config = `${work}/bench-${port}.conf`;
  await Deno.writeTextFile(
    config,
    [
      "[COS_ACCOUNT_0]",
      ...account,
      "ftp_login_user_name = bench",
      "ftp_login_user_password = bench",
      "authority = RW",
      "[NETWORK]",
      "listen_address = 127.0.0.1",
      `listen_port = ${port}`,
      "passive_port = 43000,43999",
      "[OPTIONAL]",
      "log_dir = none",
      "log_level = WARNING",
      "max_connection_num = 0",
      "max_connections_per_ip = 0",
      ...optional,
    ].join("\n"),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}main.ts`, "--config", config],
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitForPort(port);
  await new Promise((r) => setTimeout(r, 500));
  const idleRss = readRss(child.pid);
  let peak = idleRss;
  const sampler = setInterval(() => peak = Math.max(peak, readRss(child.pid)), 10);
  return {
    port,
    pid: child.pid,
    idleRss,
    peakRss: () => Math.max(peak, readRss(child.pid)),
    resetPeak: () => peak = readRss(child.pid),
    async stop() {
      clearInterval(sampler);
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

/** Resident memory of a process, in bytes (0 once it is gone). */
export function readRss(pid: number): number {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port }).catch(() => null);
    if (conn) return conn.close();
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the server did not start");
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  return port;
}

/** A file of `size` random bytes (incompressible, so no layer can shortcut it). */
export async function makeRandomFile(path: string, size: number): Promise<void> {
  const MIB = 1024 * 1024;
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(MIB);
  for (let done = 0; done < size; done += MIB) {
    for (let i = 0; i < MIB; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
    await file.write(chunk.subarray(0, Math.min(MIB, size - done)));
  }
  file.close();
}
