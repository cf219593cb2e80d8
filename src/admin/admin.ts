/**
 * The admin HTTP listener (`[ADMIN] listen`): `/metrics` in the Prometheus
 * text format, `/healthz` (200 while the process serves) and `/readyz` (200
 * while every account's storage answers its background probe; 503 naming the
 * accounts that do not, and during shutdown so a balancer drains us).
 *
 * The server creates it before opening storages (so COS requests are
 * observed) and starts it once its own state exists; it is off, and costs
 * nothing, without `listen`.
 *
 * @module
 */

import { isLoopback, splitHostPort } from "../config/admin_listen.ts";
import type { ServerConfig } from "../config/types.ts";
import type { Logger } from "../log.ts";
import type { CosRequestObserver } from "../storage/cos/observe.ts";
import type { PartBufferPool } from "../storage/cos/buffers.ts";
import type { Storage } from "../storage/types.ts";
import { EXPOSITION_TYPE } from "./metrics.ts";
import { type Accounts, Readiness } from "./readiness.ts";
import { type LiveState, ServerMetrics } from "./server_metrics.ts";

/** What the listener reads of the FTP server. */
export interface ServerView {
  readonly sessionCount: number;
  readonly passivePortsInUse: number;
  readonly bansActive: number;
  readonly shuttingDown: boolean;
  /** The config and storages new sessions get (SIGHUP replaces them). */
  readonly generation: Accounts;
}

/** What the listener watches: the storages, the upload budget, and the server once it exists. */
export interface AdminSources {
  /** The storages opened at start-up, until the server exists. */
  storages: Storage[];
  pool: PartBufferPool;
  server(): ServerView | undefined;
}

/** The admin listener of one server. */
export class AdminListener {
  #metrics: ServerMetrics | null = null;
  #readiness: Readiness | null = null;
  #http: Deno.HttpServer<Deno.NetAddr> | null = null;
  #unlisten: () => void = () => {};
  /** COS requests seen before {@link start} (start-up probes) are counted once it starts. */
  #early: [string, string, number][] = [];

  private constructor(private readonly config: ServerConfig, private readonly log: Logger) {}

  /** The listener `config` asks for, or null when `[ADMIN] listen` is empty. */
  static create(config: ServerConfig, log: Logger): AdminListener | null {
    return config.adminListen === "" ? null : new AdminListener(config, log);
  }

  /** For the storages' context: every COS request. */
  readonly onCosRequest: CosRequestObserver = (operation, outcome, seconds) => {
    if (this.#metrics) this.#metrics.onCosRequest(operation, outcome, seconds);
    else this.#early.push([operation, outcome, seconds]);
  };

  /** Binds (throws when the address is taken) and starts probing and counting. */
  start(sources: AdminSources): void {
    const where = splitHostPort(this.config.adminListen);
    if (typeof where === "string") throw new Error(`[ADMIN] listen: ${where}`);
    const first = { config: this.config, storages: sources.storages };
    const readiness = new Readiness(
      () => sources.server()?.generation ?? first,
      this.config.adminProbeIntervalMs,
      this.config.adminReadyMaxAgeMs,
    );
    const metrics = new ServerMetrics(liveState(this.config, sources, readiness));
    this.#http = Deno.serve({
      hostname: where.hostname,
      port: where.port,
      onListen: () => {},
    }, (request) => this.#handle(request, metrics, readiness, sources));
    this.#metrics = metrics;
    this.#readiness = readiness;
    for (const early of this.#early.splice(0)) metrics.onCosRequest(...early);
    this.#unlisten = this.log.listen(metrics.onLog);
    readiness.start();
    const at = `${where.hostname}:${this.address?.port}`;
    this.log.info("admin-listening", { address: at });
    if (!isLoopback(where.hostname)) {
      this.log.warn("admin-not-loopback", {
        address: at,
        note: "metrics and health have no authentication; firewall this address",
      });
    }
  }

  /** The bound address (the port matters when listen's port is 0). */
  get address(): Deno.NetAddr | null {
    return this.#http?.addr ?? null;
  }

  /** Stops counting and serving; waits for a running probe (closing storages first ends it). */
  async close(): Promise<void> {
    this.#unlisten();
    await this.#http?.shutdown();
    await this.#readiness?.stop();
  }

  #handle(
    request: Request,
    metrics: ServerMetrics,
    readiness: Readiness,
    sources: AdminSources,
  ): Response {
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    switch (new URL(request.url).pathname) {
      case "/metrics":
        return new Response(metrics.registry.render(), {
          headers: { "content-type": EXPOSITION_TYPE },
        });
      case "/healthz":
        return text(200, "ok\n");
      case "/readyz":
        return ready(readiness, sources);
      default:
        return text(404, "Not found: try /metrics, /healthz or /readyz\n");
    }
  }
}

/** The gauges' readings (0 before the server exists). */
function liveState(config: ServerConfig, sources: AdminSources, readiness: Readiness): LiveState {
  const { pool, server } = sources;
  return {
    sessions: () => server()?.sessionCount ?? 0,
    passivePortsInUse: () => server()?.passivePortsInUse ?? 0,
    passivePortsTotal: config.passivePorts.max - config.passivePorts.min + 1,
    bansActive: () => server()?.bansActive ?? 0,
    uploadMemoryInUse: () => pool.inUse,
    uploadMemoryBudget: pool.capacity,
    storageReady: () => readiness.states(),
  };
}

/** 200 "ready", or 503 with one line per failing account section (and shutdown). */
function ready(readiness: Readiness, sources: AdminSources): Response {
  if (sources.server()?.shuttingDown) return text(503, "not ready: shutting down\n");
  const unready = readiness.unready();
  if (unready.length === 0) return text(200, "ready\n");
  const lines = unready.map(({ section, reason }) => `[${section}] ${reason}`);
  return text(503, `not ready:\n${lines.join("\n")}\n`);
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}
