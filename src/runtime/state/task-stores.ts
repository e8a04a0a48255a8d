import type { RuntimeMetrics } from '../metrics/runtime-metrics';
import type { Topology } from '../topology/topology';
import { CachedKeyValueStore } from './cached-store';
import type { BytesStore, ReadOnlyKeyValueStore } from './store';

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

/**
 * One read-only view over the same store in several tasks (each key lives in
 * exactly one task): for queries and the test driver. `stores` is called on
 * every read, so tasks that come and go are followed.
 */
export function readOnlyView<K, V>(name: string, stores: () => CachedKeyValueStore<unknown, unknown>[]): ReadOnlyKeyValueStore<K, V> {
  return {
    name,
    get: async (key: K) => {
      for (const s of stores()) {
        const v = await s.get(key);
        if (v !== undefined) return v as V;
      }
      return undefined;
    },
    range: async function* (options) {
      for (const s of stores()) yield* s.range(options as never) as AsyncIterable<[K, V]>;
    },
    approximateCount: async () => {
      let n = 0;
      for (const s of stores()) n += await s.approximateCount();
      return n;
    },
  };
}
