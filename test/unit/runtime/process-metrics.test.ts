import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { ProcessMetricNames } from '../../../src/runtime/metrics/names';
import { registerProcessMetrics } from '../../../src/runtime/metrics/process-metrics';
import { RuntimeMetrics } from '../../../src/runtime/metrics/runtime-metrics';
import { exposeGc } from '../../support/gc';

/** The value of one sample line `name{labels} value` of a Prometheus page, or undefined. */
function sample(page: string, name: string, labels: string): number | undefined {
  const line = page.split('\n').find((l) => l.startsWith(`${name}{${labels}}`) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('registerProcessMetrics', () => {
  it('exposes the collector’s pauses by kind in the runtime’s buckets, the event-loop delay, heap, memory and CPU', async () => {
    const metrics = new RuntimeMetrics();
    registerProcessMetrics(metrics.registry);
    exposeGc()();
    // The collector's entries reach the observer after the pause, not during it.
    let page = '';
    for (let i = 0; i < 50 && !(sample(page, `${ProcessMetricNames.gcDuration}_count`, 'kind="major"')! >= 1); i++) {
      await sleep(20);
      page = await metrics.registry.metrics();
    }
    expect(sample(page, `${ProcessMetricNames.gcDuration}_count`, 'kind="major"')).toBeGreaterThanOrEqual(1);
    // A bound between prom-client's 10 ms and 100 ms: pauses of 10-30 ms are told apart.
    expect(sample(page, `${ProcessMetricNames.gcDuration}_bucket`, 'le="0.025",kind="major"')).toBeDefined();
    expect(sample(page, ProcessMetricNames.eventLoopLagP99, '')).toBeGreaterThanOrEqual(0);
    expect(sample(page, ProcessMetricNames.heapUsed, '')).toBeGreaterThan(0);
    expect(sample(page, ProcessMetricNames.residentMemory, '')).toBeGreaterThan(0);
    expect(sample(page, ProcessMetricNames.cpu, '')).toBeGreaterThan(0);
    // Beside the runtime's own, on the same page.
    expect(page).toContain('# TYPE vectors_runtime_process_latency_seconds histogram');
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
