import type { Metric, Registry } from 'prom-client';

/** One label set's counts. */
interface Series {
  labels: Record<string, string>;
  /** Observations per bucket (not cumulative); the last slot counts those above every bound (+Inf). */
  counts: Float64Array;
  sum: number;
  count: number;
}

/** What a label set of a {@link RecordHistogram} takes: one observation at a time. */
export interface HistogramSeries {
  observe(value: number): void;
}

/**
 * A Prometheus histogram for an observation per input record, exposed on a
 * prom-client registry exactly as prom-client's `Histogram` exposes one
 * (`_bucket` cumulative with `le`, then `_sum` and `_count`, per label set).
 *
 * Why not prom-client's own: its `observe` rebuilds, validates and hashes the
 * label set on every call, even through `labels()`, about 2% of a user-vector
 * update's CPU (docs/BENCHMARKS.md, session 17). Here {@link labels} finds the
 * series once, and observing is a search over the bounds and three additions.
 *
 * Contract: `buckets` are finite and strictly increasing; a value is counted
 * in the first bucket whose bound is ≥ it (as Prometheus's `le`); a value that
 * is not a finite number throws a TypeError, as prom-client's does.
 */
export class RecordHistogram<T extends string> {
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  private readonly series = new Map<string, Series>();

  /** @throws RangeError when `buckets` are not finite and strictly increasing. */
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly T[],
    private readonly buckets: readonly number[],
    registers: Registry[],
  ) {
    for (let i = 0; i < buckets.length; i++) {
      if (!Number.isFinite(buckets[i]) || (i > 0 && buckets[i]! <= buckets[i - 1]!)) {
        throw new RangeError(`histogram ${name}: buckets must be finite and strictly increasing, got [${buckets.join(', ')}]`);
      }
    }
    // prom-client registers any object with its name, get() and reset(); its type names only its own classes.
    for (const r of registers) r.registerMetric(this as unknown as Metric<T>);
  }

  /** The series of one label set (every label name given), to observe into. */
  labels(labels: Record<T, string>): HistogramSeries {
    const key = this.labelNames.map((n) => labels[n]).join('\u0000');
    let s = this.series.get(key);
    if (!s) {
      s = { labels: { ...labels }, counts: new Float64Array(this.buckets.length + 1), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const series = s;
    const bounds = this.buckets;
    return {
      observe: (value: number) => {
        if (!Number.isFinite(value)) throw new TypeError(`histogram ${this.name}: value is not a finite number: ${value}`);
        let i = 0;
        while (i < bounds.length && value > bounds[i]!) i++;
        series.counts[i]!++;
        series.sum += value;
        series.count++;
      },
    };
  }

  /** The samples, as prom-client's registry reads them from its own metrics. */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: { labels: Record<string, string | number>; value: number; metricName: string }[];
  }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const s of this.series.values()) {
      if (s.count === 0) continue; // as prom-client: a label set appears once observed (again, after a reset)
      let cumulative = 0;
      for (let i = 0; i <= this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        values.push({ labels: { le: i < this.buckets.length ? this.buckets[i]! : '+Inf', ...s.labels }, value: cumulative, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { ...s.labels }, value: s.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...s.labels }, value: s.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Zeroes every series (prom-client's `Registry.resetMetrics`): none is exposed until observed again; handed-out series keep counting into them. */
  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }
}
