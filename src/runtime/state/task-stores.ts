import type { RuntimeMetrics } from '../metrics/runtime-metrics';
import type { Topology } from '../topology/topology';
import { CachedKeyValueStore } from './cached-store';
import type { BytesStore } from './store';

/** Builds the typed, cached store of `name` over a backend. */
export function typedStore(topology: Topology, name: string, backend: BytesStore): CachedKeyValueStore<unknown, unknown> {
  const def = topology.stores.get(name)!;
  return new CachedKeyValueStore(name, backend, def.key, def.value, def.cacheEntries);
}

/** Adds the cache counters of `stores` to the metrics, and resets them. */
export function reportCacheStats(metrics: RuntimeMetrics, topology: string, stores: Iterable<CachedKeyValueStore<unknown, unknown>>): void {
  for (const s of stores) {
    if (s.stats.hits) metrics.storeCacheHits.inc({ topology, store: s.name }, s.stats.hits);
    if (s.stats.misses) metrics.storeCacheMisses.inc({ topology, store: s.name }, s.stats.misses);
    s.stats.hits = 0;
    s.stats.misses = 0;
  }
}
