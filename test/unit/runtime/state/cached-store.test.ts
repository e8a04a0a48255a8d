import { StringSerde, jsonSerde } from '../../../../src/runtime/serde/serde';
import { CachedKeyValueStore } from '../../../../src/runtime/state/cached-store';
import { MemoryBytesStore } from '../../../../src/runtime/state/memory/memory-store';

async function store(maxEntries: number) {
  const backend = new MemoryBytesStore('s');
  await backend.open();
  const getSpy = jest.spyOn(backend, 'get');
  const getManySpy = jest.spyOn(backend, 'getMany');
  return { s: new CachedKeyValueStore('s', backend, StringSerde, jsonSerde<number>(), maxEntries), backend, getSpy, getManySpy };
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

  it('hands every get a value of its own: a change in place is stored only by a put, and only as it was at the put', async () => {
    const backend = new MemoryBytesStore('o');
    await backend.open();
    const s = new CachedKeyValueStore('o', backend, StringSerde, jsonSerde<{ ids: string[] }>(), 10);
    s.put('u', { ids: ['a'] });
    const got = (await s.get('u'))!;
    got.ids.push('unput');
    expect(await s.get('u')).toEqual({ ids: ['a'] });
    got.ids.push('b');
    s.put('u', got);
    got.ids.push('after the put');
    expect(await s.get('u')).toEqual({ ids: ['a', 'unput', 'b'] });
    expect(await s.get('u')).not.toBe(await s.get('u'));
    // A failed record's change in place is undone with its put, whether the entry was dirty or committed.
    for (const committed of [false, true]) {
      if (committed) await s.markFlushed(s.dirtyOps());
      s.begin();
      const v = (await s.get('u'))!;
      v.ids.push('failed');
      s.put('u', v);
      s.rollbackRecord();
      expect(await s.get('u')).toEqual({ ids: ['a', 'unput', 'b'] });
    }
    expect(s.dirtySize).toBe(0);
    expect(JSON.parse((await backend.get(StringSerde.serialize('u')))!.toString())).toEqual({ ids: ['a', 'unput', 'b'] });
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

  describe('prefetch (read-ahead of a batch’s keys)', () => {
    const keys = (...ks: string[]) => ks.map((k) => StringSerde.serialize(k));

    it('reads the keys it does not cache in one getMany; each get then uses its value, absent keys included, without a get of its own', async () => {
      const { s, getSpy, getManySpy } = await store(10);
      s.put('a', 1);
      s.put('b', 2);
      await s.markFlushed(s.dirtyOps());
      s.put('c', 3); // cached (dirty): not read ahead
      await s.prefetch(keys('a', 'b', 'c', 'x', 'a'));
      // a and b are cached clean since markFlushed: only x is read.
      expect(getManySpy).toHaveBeenCalledTimes(1);
      expect(getManySpy.mock.calls[0]![0].map((k) => k.toString())).toEqual(['x']);
      expect(await s.get('x')).toBeUndefined();
      expect(await s.get('c')).toBe(3);
      expect(getSpy).not.toHaveBeenCalled();
    });

    it('serves values the cache had evicted from one getMany, each key its own, and a later write wins over a read-ahead value', async () => {
      const { s, getSpy, getManySpy } = await store(1);
      for (const [k, v] of [
        ['a', 1],
        ['b', 2],
        ['c', 3],
        ['d', 4],
      ] as const)
        s.put(k, v);
      await s.markFlushed(s.dirtyOps()); // only d stays cached
      await s.prefetch(keys('a', 'b', 'c'));
      expect(getManySpy).toHaveBeenCalledTimes(1);
      expect(getManySpy.mock.calls[0]![0].map((k) => k.toString())).toEqual(['a', 'b', 'c']);
      s.put('b', 20);
      expect([await s.get('a'), await s.get('b'), await s.get('c')]).toEqual([1, 20, 3]);
      expect(getSpy).not.toHaveBeenCalled();
    });

    it('never serves a read-ahead value older than the backend: a flush, a discard or an invalidation drops them', async () => {
      for (const change of ['markFlushed', 'discardDirty', 'invalidate', 'clearPrefetched'] as const) {
        const { s, backend, getSpy } = await store(1);
        s.put('a', 1);
        await s.markFlushed(s.dirtyOps());
        s.put('z', 0);
        await s.markFlushed(s.dirtyOps()); // a evicted: only z cached
        await s.prefetch(keys('a')); // reads a = 1
        // The backend moves on underneath (a commit of a newer value, a restore): the read-ahead 1 is stale.
        await backend.write([{ key: StringSerde.serialize('a'), value: Buffer.from('2') }]);
        if (change === 'markFlushed') await s.markFlushed([]);
        else if (change === 'discardDirty') s.discardDirty();
        else if (change === 'invalidate') s.invalidate();
        else s.clearPrefetched();
        expect({ change, a: await s.get('a') }).toEqual({ change, a: 2 });
        expect(getSpy).toHaveBeenCalledTimes(1);
      }
    });

    it('uses a read-ahead value once: a get after it was evicted again reads the backend', async () => {
      const { s, backend, getSpy } = await store(1);
      s.put('a', 1);
      await s.markFlushed(s.dirtyOps());
      s.put('z', 0);
      await s.markFlushed(s.dirtyOps());
      await s.prefetch(keys('a'));
      expect(await s.get('a')).toBe(1);
      expect(await s.get('z')).toBe(0); // a get of its own; evicts a
      await backend.write([{ key: StringSerde.serialize('a'), value: Buffer.from('5') }]);
      expect(await s.get('a')).toBe(5);
      expect(getSpy).toHaveBeenCalledTimes(2);
    });
  });
});
