import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { ProcessMetricNames } from '../../../src/runtime/metrics/names';
import { registerProcessMetrics } from '../../../src/runtime/metrics/process-metrics';
import { RuntimeMetrics } from '../../../src/runtime/metrics/runtime-metrics';
import { exposeGc } from '../../support/gc';

/**
 * The value of `metric`'s sample named `sample` (default: the metric's own name) whose labels include `labels`,
 * from the whole registry: prom-client updates some default metrics in another metric's collect.
 */
async function valueOf(registry: Registry, metric: string, sample = metric, labels: Record<string, string | number> = {}): Promise<number | undefined> {
  const values = (await registry.getMetricsAsJSON()).find((m) => m.name === metric)?.values ?? [];
  const hit = values.find(
    (v) => ((v as { metricName?: string }).metricName ?? metric) === sample && Object.entries(labels).every(([k, want]) => v.labels[k] === want),
  );
  return hit?.value;
}

describe('registerProcessMetrics', () => {
  it('exposes the collector’s pauses by kind in the runtime’s buckets, the event-loop delay, heap, memory and CPU', async () => {
    const { registry } = new RuntimeMetrics();
    registerProcessMetrics(registry);
    exposeGc()();
    const gc = ProcessMetricNames.gcDuration;
    const majors = () => valueOf(registry, gc, `${gc}_count`, { kind: 'major' });
    // The collector's entries reach the observer after the pause, not during it.
    for (let i = 0; i < 50 && !((await majors())! >= 1); i++) await sleep(20);
    expect(await majors()).toBeGreaterThanOrEqual(1);
    // A bound between prom-client's 10 ms and 100 ms: pauses of 10-30 ms are told apart.
    expect(await valueOf(registry, gc, `${gc}_bucket`, { le: 0.025, kind: 'major' })).toBeDefined();
    expect(await valueOf(registry, ProcessMetricNames.eventLoopLagP99)).toBeGreaterThanOrEqual(0);
    expect(await valueOf(registry, ProcessMetricNames.heapUsed)).toBeGreaterThan(0);
    expect(await valueOf(registry, ProcessMetricNames.residentMemory)).toBeGreaterThan(0);
    expect(await valueOf(registry, ProcessMetricNames.cpu)).toBeGreaterThan(0);
    // Beside the runtime's own, on the same page.
    expect(await registry.metrics()).toContain('# TYPE vectors_runtime_process_latency_seconds histogram');
  });

  it('registers once per registry: a second call adds nothing and does not throw; another registry gets its own', async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const names = registry.getMetricsAsArray().map((m) => m.name);
    expect(() => registerProcessMetrics(registry)).not.toThrow();
    expect(registry.getMetricsAsArray().map((m) => m.name)).toEqual(names);
    const other = new Registry();
    registerProcessMetrics(other);
    expect(other.getMetricsAsArray().map((m) => m.name)).toEqual(names);
    expect(names).toEqual(expect.arrayContaining(Object.values(ProcessMetricNames)));
  });
});
