import { Histogram, Registry } from 'prom-client';
import { RecordHistogram } from '../../../src/runtime/metrics/record-histogram';

const BUCKETS = [0.001, 0.01, 0.1];
// Below the first bound, on each bound (le counts it there), between bounds and above the last.
const VALUES: [string, number][] = [
  ['a', 0.0005],
  ['a', 0.001],
  ['a', 0.005],
  ['a', 0.01],
  ['b', 0.1],
  ['b', 0.5],
  ['a', 7],
  ['b', 0.02],
];

function both(): { ours: RecordHistogram<'topology'>; theirs: Histogram<'topology'>; mine: Registry; reference: Registry } {
  const mine = new Registry();
  const reference = new Registry();
  const ours = new RecordHistogram('x_seconds', 'Some help.', ['topology'], BUCKETS, [mine]);
  const theirs = new Histogram({ name: 'x_seconds', help: 'Some help.', labelNames: ['topology'], buckets: BUCKETS, registers: [reference] });
  return { ours, theirs, mine, reference };
}

/** prom-client's JSON carries exemplar slots (unused here); the samples are what matters. */
const samples = (json: Awaited<ReturnType<Registry['getMetricsAsJSON']>>) =>
  json.map((m) => ({
    ...m,
    values: m.values.map(({ labels, value, metricName }: { labels: object; value: number; metricName?: string }) => ({ labels, value, metricName })),
  }));

describe('RecordHistogram', () => {
  it('exposes the same text and samples as prom-client’s Histogram fed the same observations', async () => {
    const { ours, theirs, mine, reference } = both();
    const series = { a: ours.labels({ topology: 'a' }), b: ours.labels({ topology: 'b' }) };
    for (const [topology, v] of VALUES) {
      series[topology as 'a' | 'b'].observe(v);
      theirs.labels({ topology }).observe(v);
    }
    expect(await mine.metrics()).toEqual(await reference.metrics());
    expect(await mine.metrics()).toContain('x_seconds_bucket{le="0.001",topology="a"} 2');
    expect(samples(await mine.getMetricsAsJSON())).toEqual(samples(await reference.getMetricsAsJSON()));
  });

  it('shows a label set only once observed, and none after a reset until observed again', async () => {
    const { ours, theirs, mine, reference } = both();
    const a = ours.labels({ topology: 'a' });
    ours.labels({ topology: 'never' });
    theirs.labels({ topology: 'never' });
    expect(await mine.metrics()).toEqual(await reference.metrics());
    a.observe(0.05);
    theirs.labels({ topology: 'a' }).observe(0.05);
    mine.resetMetrics();
    reference.resetMetrics();
    expect(await mine.metrics()).toEqual(await reference.metrics());
    a.observe(0.002);
    theirs.labels({ topology: 'a' }).observe(0.002);
    expect(await mine.metrics()).toEqual(await reference.metrics());
    expect(await mine.metrics()).toContain('x_seconds_count{topology="a"} 1');
  });

  it('refuses a value that is not a finite number, and buckets that do not increase', () => {
    const { ours } = both();
    const a = ours.labels({ topology: 'a' });
    expect(() => a.observe(Number.NaN)).toThrow(TypeError);
    expect(() => a.observe(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => new RecordHistogram('y', 'h', ['topology'], [0.1, 0.1], [])).toThrow(RangeError);
    expect(() => new RecordHistogram('y', 'h', ['topology'], [0.1, Number.NaN], [])).toThrow(RangeError);
  });
});
