import { collectDefaultMetrics, type Registry } from 'prom-client';

/**
 * Bounds of the garbage collector's pause histogram, seconds. Prom-client's
 * default (1 ms, 10 ms, 100 ms, ...) puts every pause this runtime sees in
 * two buckets: at 5,000 events/s a scavenge takes 2-20 ms and the final
 * pause of a mark-compact 10-30 ms (docs/BENCHMARKS.md, session 18).
 */
const GC_PAUSE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

const registered = new WeakSet<Registry>();

/**
 * Registers Node's own process metrics on `registry` under the names Node.js
 * dashboards know (prom-client's default metrics; the ones the docs cite are
 * `ProcessMetricNames` in ./names.ts): CPU, resident memory, heap spaces, garbage
 * collector pauses by kind and event-loop delay. Once per registry: a second
 * call for the same registry does nothing.
 *
 * For whoever owns the process (`vectors run` calls it for the registry it
 * serves), not for each runner: they describe the whole process, whichever
 * runners share it. They say what the runtime's own metrics cannot: a pause
 * of the collector or a long synchronous task holds every task's records at
 * once, and shows as a latency tail with no cause in the per-record figures.
 */
export function registerProcessMetrics(registry: Registry): void {
  if (registered.has(registry)) return;
  collectDefaultMetrics({ register: registry, gcDurationBuckets: GC_PAUSE_BUCKETS });
  registered.add(registry);
}
