import { StringSerde, jsonSerde } from '../../../../src/runtime/serde/serde';
import { CachedKeyValueStore } from '../../../../src/runtime/state/cached-store';
import { MemoryBytesStore } from '../../../../src/runtime/state/memory/memory-store';

async function store(maxEntries: number) {
  const backend = new MemoryBytesStore('s');
  await backend.open();
  const getSpy = jest.spyOn(backend, 'get');
  return { s: new CachedKeyValueStore('s', backend, StringSerde, jsonSerde<number>(), maxEntries), backend, getSpy };
}

describe('CachedKeyValueStore (write-behind cache)', () => {
  it('keeps dirty entries beyond maxEntries until they are flushed, then evicts least recently used clean ones', async () => {
    const { s, backend, getSpy } = await store(3);
    for (let i = 0; i < 10; i++) s.put(`k${i}`, i);
    expect(s.dirtySize).toBe(10);
    expect(s.full).toBe(true);
    // Nothing reached the backend yet; every key still reads from the cache.
    expect(await backend.approximateCount()).toBe(0);
    for (let i = 0; i < 10; i++) expect(await s.get(`k${i}`)).toBe(i);
    expect(getSpy).not.toHaveBeenCalled();

    await s.markFlushed(s.dirtyOps());
    expect(s.dirtySize).toBe(0);
    expect(await backend.approximateCount()).toBe(10);
    // Over maxEntries, the least recently used clean entries went: only k7..k9 are cached.
    for (const k of ['k7', 'k8', 'k9']) expect(await s.get(k)).toBe(Number(k.slice(1)));
    expect(getSpy).not.toHaveBeenCalled();
    expect(await s.get('k0')).toBe(0);
    expect(getSpy).toHaveBeenCalledTimes(1);
  });

  it('evicts by recency of use: a read keeps an entry, a newer read pushes the oldest out', async () => {
    const { s, getSpy } = await store(2);
    s.put('a', 1);
    s.put('b', 2);
    await s.markFlushed(s.dirtyOps());
    expect(await s.get('a')).toBe(1); // a is now more recent than b
    s.put('c', 3); // over maxEntries: b (clean, least recent) goes; c is dirty and stays
    await s.get('a');
    expect(getSpy).not.toHaveBeenCalled();
    expect(await s.get('b')).toBe(2);
    expect(getSpy).toHaveBeenCalledTimes(1);
  });

  it('restores a rolled-back record’s entries, clean ones evictable again', async () => {
    const { s } = await store(1);
    s.put('a', 1);
    await s.markFlushed(s.dirtyOps());
    s.begin();
    s.put('a', 2);
    s.put('b', 3);
    s.rollbackRecord();
    expect(s.dirtySize).toBe(0);
    expect(await s.get('a')).toBe(1);
    expect(await s.get('b')).toBeUndefined();
  });
});
