/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format (version 0.0.4).
 *
 * Why not the npm package `prom-client` (15.1.3): it pulls in
 * `@opentelemetry/api` and `tdigest`, and its modules load Node's `cluster`,
 * `perf_hooks` and `v8` for the aggregator and default process metrics, which
 * we would carry (and Deno would emulate) without using. What the server needs
 * (three metric types, labels, escaping) is about 150 lines with no
 * dependency to pin, audit or ship in the offline tarball.
 *
 * Hot paths pay a Map lookup per update; rendering happens only on a scrape.
 *
 * @module
 */

/** Label values in the order of the metric's label names. */
type LabelValues = readonly string[];

/** One series: its label values and what it holds. */
interface Series<V> {
  labels: LabelValues;
  value: V;
}

/** What every metric type shares: name, help, label names and a series table. */
abstract class Metric<V> {
  readonly #series = new Map<string, Series<V>>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new Error(`bad metric name ${name}`);
  }

  abstract readonly type: string;

  /** A fresh value of a new series. */
  protected abstract initial(): V;

  /** Sample lines of one series. */
  protected abstract lines(series: Series<V>): string[];

  /** The series of `labels` (created on first use). */
  protected series(labels: LabelValues): Series<V> {
    if (labels.length !== this.labelNames.length) {
      throw new Error(`${this.name} takes ${this.labelNames.length} label values`);
    }
    const key = labels.join("\u0000");
    let found = this.#series.get(key);
    if (!found) this.#series.set(key, found = { labels: [...labels], value: this.initial() });
    return found;
  }

  /** Removes every series. */
  protected clearSeries(): void {
    this.#series.clear();
  }

  /** HELP and TYPE, then every series' samples. */
  render(): string {
    const head = `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
    let body = "";
    for (const series of this.#series.values()) body += this.lines(series).join("");
    return head + body;
  }

  /** `{a="x",b="y"}` for the metric's labels plus `extra` (or "" without any). */
  protected labelText(labels: LabelValues, extra: [string, string][] = []): string {
    const pairs = [...this.labelNames.map((name, i) => [name, labels[i]]), ...extra];
    if (pairs.length === 0) return "";
    return `{${pairs.map(([name, value]) => `${name}="${escapeLabel(value)}"`).join(",")}}`;
  }
}

/** A value that only goes up. */
export class Counter extends Metric<{ n: number }> {
  readonly type = "counter";

  protected initial() {
    return { n: 0 };
  }

  inc(labels: LabelValues = [], by = 1): void {
    if (by < 0) throw new Error(`${this.name}: a counter cannot go down`);
    this.series(labels).value.n += by;
  }

  /** Creates the series at 0, so rate() sees it before its first event. */
  declare(labels: LabelValues): void {
    this.series(labels);
  }

  protected lines(series: Series<{ n: number }>): string[] {
    return [`${this.name}${this.labelText(series.labels)} ${formatNumber(series.value.n)}\n`];
  }
}

/** A value read when scraped: set, or asked of a callback. */
export class Gauge extends Metric<{ n: number }> {
  readonly type = "gauge";

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    private readonly collect?: (gauge: Gauge) => void,
  ) {
    super(name, help, labelNames);
  }

  protected initial() {
    return { n: 0 };
  }

  set(labels: LabelValues, value: number): void {
    this.series(labels).value.n = value;
  }

  /** Forgets every series (a collect that sets all current ones drops those gone since). */
  clear(): void {
    this.clearSeries();
  }

  override render(): string {
    this.collect?.(this);
    return super.render();
  }

  protected lines(series: Series<{ n: number }>): string[] {
    return [`${this.name}${this.labelText(series.labels)} ${formatNumber(series.value.n)}\n`];
  }
}

interface HistogramValue {
  /** Per bucket (not cumulative); the last is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into buckets by upper bound. */
export class Histogram extends Metric<HistogramValue> {
  readonly type = "histogram";

  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
    if (labelNames.includes("le")) throw new Error(`${name}: "le" is reserved`);
    if (buckets.some((b, i) => i > 0 && b <= buckets[i - 1])) {
      throw new Error(`${name}: buckets must increase`);
    }
  }

  protected initial(): HistogramValue {
    return { counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  observe(labels: LabelValues, value: number): void {
    const series = this.series(labels).value;
    let i = 0;
    while (i < this.buckets.length && value > this.buckets[i]) i++;
    series.counts[i]++;
    series.sum += value;
    series.count++;
  }

  protected lines(series: Series<HistogramValue>): string[] {
    const { labels, value } = series;
    const out: string[] = [];
    let cumulative = 0;
    const bounds = [...this.buckets.map(formatNumber), "+Inf"];
    bounds.forEach((le, i) => {
      cumulative += value.counts[i];
      out.push(`${this.name}_bucket${this.labelText(labels, [["le", le]])} ${cumulative}\n`);
    });
    out.push(`${this.name}_sum${this.labelText(labels)} ${formatNumber(value.sum)}\n`);
    out.push(`${this.name}_count${this.labelText(labels)} ${value.count}\n`);
    return out;
  }
}

/** The metrics of one server, rendered together. */
export class Registry {
  readonly #metrics = new Map<string, { render(): string }>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }

  gauge(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    collect?: (gauge: Gauge) => void,
  ): Gauge {
    return this.#add(new Gauge(name, help, labelNames, collect));
  }

  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets: readonly number[],
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }

  /** The whole exposition. */
  render(): string {
    return [...this.#metrics.values()].map((metric) => metric.render()).join("");
  }

  #add<M extends { name: string; render(): string }>(metric: M): M {
    if (this.#metrics.has(metric.name)) throw new Error(`${metric.name} registered twice`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}

/** The content type of the text exposition format. */
export const EXPOSITION_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Label values escape backslash, double quote and line feed (the format's only escapes). */
export function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** Go-style float text: NaN, +Inf, -Inf, else the shortest round-trip decimal. */
export function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}
