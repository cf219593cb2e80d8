/**
 * The COS emulator in a process of its own for the benchmark, so neither the
 * gateway nor the SDK baseline shares an event loop with it. Prints
 * `{"port": N}` once listening; runs until SIGTERM.
 * Usage: emulator_process.ts <secretId> <secretKey> <bucket>
 */

import { startCosEmulator } from "../../tests/support/cos_emulator.ts";

const [secretId, secretKey, bucket] = Deno.args;
const emulator = await startCosEmulator({
  credentials: { [secretId]: secretKey },
  buckets: [bucket],
});
console.log(JSON.stringify({ port: emulator.port, region: emulator.region }));
await new Promise<void>((resolve) => Deno.addSignalListener("SIGTERM", resolve));
await emulator.close();
