/**
 * The server's metrics: what they are called, and how they are fed. Almost
 * everything comes from events the server logs anyway (login, command,
 * command-failed, transfer, storage-retry), heard through a Logger listener,
 * so the FTP code carries no instrumentation; COS requests come from the
 * storage's request observer, and the gauges are read when scraped.
 *
 * Bytes are counted when a transfer ends (its event carries the total): no
 * per-chunk work on the data path, at the price of a long transfer showing
 * up in the byte counters only when it is over.
 *
 * @module
 */

import { COMMANDS } from "../ftp/commands/index.ts";
import type { LogFields } from "../log.ts";
import type { CosRequestObserver } from "../storage/cos/observe.ts";
import { type Counter, type Histogram, Registry } from "./metrics.ts";

/** Label value of every command name the server does not know: clients cannot add series. */
export const UNKNOWN_COMMAND = "unknown";

/** Commands whose data flows from the client to us. */
const UPLOADS = new Set(["STOR", "APPE", "STOU"]);

/** Transfers last from milliseconds (a small file) to hours (a large one on a slow link). */
const TRANSFER_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

/** COS answers in milliseconds; a part upload may take many seconds. */
const COS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** What the gauges read at scrape time. */
export interface LiveState {
  sessions(): number;
  passivePortsInUse(): number;
  passivePortsTotal: number;
  bansActive(): number;
  uploadMemoryInUse(): number;
  uploadMemoryBudget: number;
  /** Per account section: 1 when its storage answered a probe recently enough. */
  storageReady(): [string, boolean][];
}

/** The metrics of one server, fed by its log events and COS requests. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly #logins: Counter;
  readonly #commands: Counter;
  readonly #bytes: Counter;
  readonly #transfers: Counter;
  readonly #transferSeconds: Histogram;
  readonly #cosRequests: Counter;
  readonly #cosSeconds: Histogram;
  readonly #retries: Counter;

  constructor(live: LiveState) {
    const r = this.registry;
    r.gauge("cosftp_sessions_open", "Open control connections.", [], (g) => {
      g.set([], live.sessions());
    });
    this.#logins = r.counter("cosftp_logins_total", "Login attempts by result.", ["result"]);
    for (const result of ["ok", "failed"]) this.#logins.declare([result]);
    this.#commands = r.counter(
      "cosftp_commands_total",
      `Commands by name (unknown names as "${UNKNOWN_COMMAND}") and class of their final reply.`,
      ["command", "class"],
    );
    this.#bytes = r.counter(
      "cosftp_transfer_bytes_total",
      "Bytes moved on data connections (in: uploads; out: downloads and listings), " +
        "counted when each transfer ends.",
      ["direction"],
    );
    this.#transfers = r.counter(
      "cosftp_transfers_total",
      "Data transfers by direction and result (ok, aborted, failed).",
      ["direction", "result"],
    );
    this.#transferSeconds = r.histogram(
      "cosftp_transfer_duration_seconds",
      "Duration of data transfers.",
      ["direction"],
      TRANSFER_BUCKETS,
    );
    for (const direction of ["in", "out"]) {
      this.#bytes.declare([direction]);
      for (const result of ["ok", "failed"]) this.#transfers.declare([direction, result]);
    }
    this.#cosRequests = r.counter(
      "cosftp_cos_requests_total",
      "COS requests by operation and outcome (2xx, 4xx, 5xx, error: no answer).",
      ["operation", "outcome"],
    );
    this.#cosSeconds = r.histogram(
      "cosftp_cos_request_duration_seconds",
      "Time from a COS request to its answer (for object bodies, to the response head).",
      ["operation"],
      COS_BUCKETS,
    );
    this.#retries = r.counter("cosftp_storage_retries_total", "Storage requests retried.");
    this.#retries.declare([]);
    this.#gauges(live);
  }

  #gauges(live: LiveState): void {
    const r = this.registry;
    r.gauge("cosftp_upload_memory_bytes", "Upload part buffers in use.", [], (g) => {
      g.set([], live.uploadMemoryInUse());
    });
    r.gauge("cosftp_upload_memory_budget_bytes", "upload_memory_budget.", [], (g) => {
      g.set([], live.uploadMemoryBudget);
    });
    r.gauge("cosftp_passive_ports_in_use", "Passive ports held.", [], (g) => {
      g.set([], live.passivePortsInUse());
    });
    r.gauge("cosftp_passive_ports", "Ports in passive_port's range.", [], (g) => {
      g.set([], live.passivePortsTotal);
    });
    r.gauge("cosftp_bans_active", "Client addresses banned now.", [], (g) => {
      g.set([], live.bansActive());
    });
    r.gauge("cosftp_storage_ready", "1 when the account's storage answers probes.", [
      "account",
    ], (g) => {
      g.clear(); // accounts a reload removed
      for (const [account, ready] of live.storageReady()) g.set([account], ready ? 1 : 0);
    });
  }

  /** The Logger listener. */
  readonly onLog = (event: string, fields: LogFields): void => {
    switch (event) {
      case "login":
        return this.#logins.inc([String(fields.result)]);
      case "command":
      case "command-failed":
        return this.#command(fields.command, fields.code);
      case "transfer":
        return this.#transfer(fields);
      case "storage-retry":
        return this.#retries.inc();
    }
  };

  /** The COS request observer. */
  readonly onCosRequest: CosRequestObserver = (operation, outcome, seconds) => {
    this.#cosRequests.inc([operation, outcome]);
    this.#cosSeconds.observe([operation], seconds);
  };

  #command(name: unknown, code: unknown): void {
    const command = typeof name === "string" && COMMANDS.has(name) ? name : UNKNOWN_COMMAND;
    this.#commands.inc([command, replyClass(Number(code))]);
  }

  /** A transfer's event: `result` is "ok" or "<code> <text>". */
  #transfer(fields: LogFields): void {
    const command = String(fields.command);
    const direction = UPLOADS.has(command) ? "in" : "out";
    const code = fields.result === "ok" ? 226 : parseInt(String(fields.result), 10);
    const result = code === 226 ? "ok" : code === 426 ? "aborted" : "failed";
    this.#command(command, code);
    this.#transfers.inc([direction, result]);
    this.#bytes.inc([direction], Number(fields.bytes) || 0);
    this.#transferSeconds.observe([direction], (Number(fields.ms) || 0) / 1000);
  }
}

/** `2xx`..`5xx`; anything else (never sent) as `other`. */
function replyClass(code: number): string {
  return code >= 100 && code < 600 ? `${Math.floor(code / 100)}xx` : "other";
}
