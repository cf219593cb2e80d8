/**
 * What the bench scripts share: COS endpoints started as child processes
 * that print where they listen, and the table of result rows.
 */

import { type Load, memoryBoundBytes } from "./memory.ts";

/** A COS endpoint process (the emulator or the sink). */
export interface EndpointProcess {
  url: string;
  region: string;
  stop(): Promise<void>;
}

/**
 * Runs `deno run <args>` and reads the `{"port","region"}` line the
 * process prints once it listens; it runs until {@link EndpointProcess.stop}.
 */
export async function spawnEndpoint(args: string[]): Promise<EndpointProcess> {
  const child = new Deno.Command(Deno.execPath(), { args: ["run", ...args], stdout: "piped" })
    .spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  const { port, region } = JSON.parse(new TextDecoder().decode(value)) as {
    port: number;
    region: string;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    region,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel();
    },
  };
}

/** One line of a bench table. */
export interface Row {
  what: string;
  value: string;
  check: string;
  ok: boolean;
}

/** Prints `rows` as aligned PASS/FAIL lines. */
export function printRows(rows: Row[]): void {
  const width = Math.max(...rows.map((r) => r.what.length));
  const valueWidth = Math.max(...rows.map((r) => r.value.length));
  for (const row of rows) {
    console.log(
      `${row.ok ? "PASS" : "FAIL"}  ${row.what.padEnd(width)}  ${
        row.value.padEnd(valueWidth)
      }  ${row.check}`,
    );
  }
}

/** The row checking a measured peak RSS against the documented bound for `load`. */
export function memoryRow(what: string, idleRss: number, peak: number, load: Load): Row {
  const bound = memoryBoundBytes(idleRss, load);
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
  return {
    what,
    value: `${mib(peak)} (idle ${mib(idleRss)})`,
    check: `<= ${mib(bound)}`,
    ok: peak <= bound,
  };
}
