/**
 * A CVM instance metadata service on loopback, as far as instance roles go:
 * `GET /latest/meta-data/cam/security-credentials/` lists the role and
 * `GET .../security-credentials/<role>` answers its temporary keys as the real
 * service does ({TmpSecretId, TmpSecretKey, Token, ExpiredTime, Expiration,
 * Code: "Success"}). Keys are replaced once less than half their life is left,
 * so a client that refreshes early gets new ones; `lookup` tells the COS
 * emulator which keys exist (its `temporaryKeys` option).
 *
 * Modes play a failing service: HTTP 500, no answer at all, a body that is not
 * JSON, and no role bound to the instance.
 */

import type { TemporaryKey } from "./cos_emulator.ts";

export const CREDENTIALS_PATH = "/latest/meta-data/cam/security-credentials/";

/** How the service behaves. */
export type MetadataMode = "ok" | "error-500" | "hang" | "bad-json" | "no-role";

export interface MetadataEmulatorOptions {
  /** The instance's role. Default "cos-ftp-role". */
  role?: string;
  /** Life of each key set, in whole seconds. Default 3600. */
  lifetimeSeconds?: number;
  mode?: MetadataMode;
  /** Renew by giving the current key a later ExpiredTime instead of issuing a new one. */
  extendSameKey?: boolean;
}

/** A key set the service handed out. */
export interface IssuedKey extends TemporaryKey {
  secretId: string;
}

export interface MetadataEmulator {
  /** `http://127.0.0.1:<port>`: the value of cvm_metadata_url. */
  readonly url: string;
  readonly role: string;
  mode: MetadataMode;
  /** Every key set handed out, oldest first. */
  readonly issued: IssuedKey[];
  /** Requests answered (or left hanging), by path. */
  readonly requests: string[];
  /** The COS emulator's temporaryKeys: a key this service issued. */
  lookup(secretId: string): TemporaryKey | undefined;
  close(): Promise<void>;
}

/** Starts the service on 127.0.0.1 with an ephemeral port. */
export function startMetadataEmulator(options: MetadataEmulatorOptions = {}): MetadataEmulator {
  const role = options.role ?? "cos-ftp-role";
  const lifetime = options.lifetimeSeconds ?? 3600;
  const issued: IssuedKey[] = [];
  const requests: string[] = [];
  const closing = new AbortController();
  let serial = 0;

  const current = (): IssuedKey => {
    const last = issued.at(-1);
    if (last && last.expiresAt - Date.now() >= (lifetime * 1000) / 2) return last;
    const expiresAt = (Math.floor(Date.now() / 1000) + lifetime) * 1000;
    if (last && options.extendSameKey) {
      // In place, so that `lookup` (the COS emulator) sees the new expiry too.
      last.expiresAt = expiresAt;
      return last;
    }
    serial++;
    const key = {
      secretId: `AKIDtmp${serial}x${crypto.randomUUID().replaceAll("-", "")}`,
      secretKey: `tmpkey${serial}${crypto.randomUUID()}`,
      token: `token${serial}${crypto.randomUUID()}${crypto.randomUUID()}`,
      expiresAt,
    };
    issued.push(key);
    return key;
  };

  const answer = (key: IssuedKey) =>
    JSON.stringify({
      TmpSecretId: key.secretId,
      TmpSecretKey: key.secretKey,
      ExpiredTime: key.expiresAt / 1000,
      Expiration: new Date(key.expiresAt).toISOString().replace(/\.\d+Z$/, "Z"),
      Token: key.token,
      Code: "Success",
    });

  const service: MetadataEmulator = {
    url: "",
    role,
    mode: options.mode ?? "ok",
    issued,
    requests,
    lookup: (secretId) => issued.find((key) => key.secretId === secretId),
    close: async () => {
      closing.abort();
      await server.shutdown();
    },
  };

  const handle = async (request: Request): Promise<Response> => {
    const path = new URL(request.url).pathname;
    requests.push(path);
    switch (service.mode) {
      case "error-500":
        return new Response("internal error", { status: 500 });
      case "hang":
        await new Promise((resolve) => closing.signal.addEventListener("abort", resolve));
        return new Response("closing", { status: 503 });
      case "bad-json":
        return new Response("<html>not json", { status: 200 });
    }
    if (path === CREDENTIALS_PATH) {
      return service.mode === "no-role"
        ? new Response("", { status: 404 })
        : new Response(role, { status: 200 });
    }
    if (path === `${CREDENTIALS_PATH}${role}` && service.mode === "ok") {
      return new Response(answer(current()), {
        headers: { "content-type": "application/json" },
      });
    }
    return new Response("Not Found", { status: 404 });
  };

  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    handle,
  );
  (service as { url: string }).url = `http://127.0.0.1:${server.addr.port}`;
  return service;
}
