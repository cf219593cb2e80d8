/**
 * Running real FTP clients (curl, lftp, tnftp, ncftp, python3 ftplib) as
 * subprocesses, with a time limit on each.
 */

/** What a finished client printed. */
export interface ClientRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Whether CI is running us: there, a missing client is a failure, not a skip. */
export const IN_CI = Deno.env.get("CI") === "true";

const found = new Map<string, boolean>();

/** Whether `command` is on PATH. */
export function hasTool(command: string): boolean {
  if (!found.has(command)) {
    const which = new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null" });
    found.set(command, which.outputSync().success);
  }
  return found.get(command)!;
}

/**
 * `Deno.test` options for a test needing `commands`: ignored (with a printed
 * reason) when one is missing outside CI; in CI the test runs and fails.
 */
export function needs(...commands: string[]): { ignore: boolean } {
  const missing = commands.filter((c) => !hasTool(c));
  if (missing.length === 0 || IN_CI) return { ignore: false };
  console.error(
    `skipping: ${missing.join(", ")} not installed (apt-get install ${missing.join(" ")})`,
  );
  return { ignore: true };
}

/** Runs a command with a time limit, feeding `stdin`. */
export async function run(
  command: string,
  args: string[],
  options: { stdin?: string; cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ClientRun> {
  const child = new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Runs a Python 3 script (ftplib is in its standard library). */
export function python(
  script: string,
  args: string[] = [],
  timeoutMs = 60_000,
): Promise<ClientRun> {
  return run("python3", ["-c", script, ...args], { timeoutMs });
}
