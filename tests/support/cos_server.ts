/**
 * The real server with COS accounts pointed at the in-process emulator, for
 * tests that go FTP client -> gateway -> COS API.
 */

import type { CosStorageConfig, ServerConfig } from "../../src/config/types.ts";
import { type CosEmulator, type CosEmulatorOptions, startCosEmulator } from "./cos_emulator.ts";
import { startServer, type TestServer } from "./server.ts";

export { eventually } from "./server.ts";

export const SECRET_ID = "AKIDtestsecretid0000000000000000";
export const SECRET_KEY = "test-secret-key-never-logged-0001";
export const BUCKET = "ftp-1250000000";
export const OTHER_BUCKET = "other-1250000000";

/** The emulator and a server whose account 0 is `BUCKET` on it. */
export interface CosTestServer extends TestServer {
  emulator: CosEmulator;
}

/** A COS storage config for `bucket` on `emulator`. */
export function cosStorage(emulator: CosEmulator, bucket = BUCKET, prefix = ""): CosStorageConfig {
  return {
    kind: "cos",
    secretId: SECRET_ID,
    secretKey: SECRET_KEY,
    bucket,
    region: emulator.region,
    endpoint: emulator.url,
    protocol: "http",
    prefix,
  };
}

/** Starts the emulator (buckets BUCKET and OTHER_BUCKET) and a server on it, 1 MiB parts. */
export async function startCosServer(
  adjust: (config: ServerConfig, emulator: CosEmulator) => void = () => {},
  emulatorOptions: Partial<CosEmulatorOptions> = {},
): Promise<CosTestServer> {
  const emulator = await startCosEmulator({
    credentials: { [SECRET_ID]: SECRET_KEY },
    buckets: [BUCKET, OTHER_BUCKET],
    ...emulatorOptions,
  });
  try {
    const server = await startServer((config) => {
      config.accounts[0].storage = cosStorage(emulator);
      config.minPartSize = 1024 * 1024;
      config.uploadThreadNum = 3;
      config.cosTimeoutMs = 5000;
      adjust(config, emulator);
    });
    return {
      ...server,
      emulator,
      async stop() {
        await server.stop();
        await emulator.close();
      },
    };
  } catch (error) {
    await emulator.close();
    throw error;
  }
}
