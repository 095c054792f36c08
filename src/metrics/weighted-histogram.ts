/**
 * A Prometheus histogram that takes one value observed many times at once
 * (`observe(value, times)`), for the sink's end-to-end latency: every row of a
 * source transaction written by one insert has the same latency, so a batch
 * of 50,000 rows is a handful of observations instead of 50,000 calls of
 * prom-client's observe (each of which builds a label hash and an object).
 *
 * prom-client's Histogram has no weighted observe; this class exports the
 * same text (cumulative `_bucket{le}`, `_sum`, `_count`) through the registry's
 * duck-typed metric interface (name, help, type, get, reset).
 */
import type { Registry } from 'prom-client';

interface SeriesValues {
  readonly labels: Readonly<Record<string, string>>;
  /** Non-cumulative counts per bucket; the last slot is above the highest bound (+Inf). */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** One label set of the histogram: keep it (e.g. per table) and observe into it without allocating. */
export class HistogramSeries {
  constructor(
    private readonly values: SeriesValues,
    private readonly bounds: readonly number[],
  ) {}

  /** Records `value` (seconds) `times` times. */
  observe(value: number, times = 1): void {
    if (!Number.isFinite(value) || times <= 0) return;
    let bucket = 0;
    while (bucket < this.bounds.length && value > this.bounds[bucket]!) bucket++;
    this.values.counts[bucket]! += times;
    this.values.sum += value * times;
    this.values.count += times;
  }
}

export interface WeightedHistogramOptions<Label extends string> {
  name: string;
  help: string;
  labelNames: readonly Label[];
  buckets: readonly number[];
  registers: Registry[];
}

export class WeightedHistogram<Label extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly Label[];
  private readonly bounds: readonly number[];
  private series = new Map<string, { values: SeriesValues; handle: HistogramSeries }>();

  constructor(options: WeightedHistogramOptions<Label>) {
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames;
    this.bounds = [...options.buckets].sort((a, b) => a - b);
    // The registry's interface is duck-typed; its declared type lists prom-client's own classes.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** The series of one label set, created (at zero) on first use. */
  labels(labels: Readonly<Record<Label, string>>): HistogramSeries {
    const key = this.key(labels);
    let entry = this.series.get(key);
    if (!entry) {
      const values: SeriesValues = { labels: { ...labels }, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      entry = { values, handle: new HistogramSeries(values, this.bounds) };
      this.series.set(key, entry);
    }
    return entry.handle;
  }

  remove(labels: Readonly<Record<Label, string>>): void {
    this.series.delete(this.key(labels));
  }

  reset(): void {
    this.series = new Map();
  }

  /** What prom-client's Registry renders (and getMetricsAsJSON returns). */
  get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: { value: number; labels: Record<string, string | number>; metricName: string }[] }> {
    const values: { value: number; labels: Record<string, string | number>; metricName: string }[] = [];
    for (const { values: series } of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += series.counts[index]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: bound, ...series.labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...series.labels }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...series.labels }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...series.labels }, value: series.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  private key(labels: Readonly<Record<Label, string>>): string {
    return this.labelNames.map((name) => labels[name]).join('\u0000');
  }
}
