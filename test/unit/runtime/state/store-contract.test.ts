import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes } from '../../../../src/errors';
import { MemoryBytesStore } from '../../../../src/runtime/state/memory/memory-store';
import { RocksDBBytesStore } from '../../../../src/runtime/state/rocksdb/rocksdb-store';
import type { BytesStore, Entry } from '../../../../src/runtime/state/store';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function rocksPath(): string {
  const d = mkdtempSync(join(tmpdir(), 'vectors-store-'));
  dirs.push(d);
  return join(d, 'db');
}

const backends: [string, () => BytesStore][] = [
  ['memory', () => new MemoryBytesStore('s')],
  ['rocksdb', () => new RocksDBBytesStore('s', rocksPath())],
];

const b = (s: string) => Buffer.from(s);
const text = (e: Entry[]) => e.map((x) => `${x.key.toString()}=${x.value.toString()}`);

async function collect(it: AsyncIterable<Entry>): Promise<Entry[]> {
  const out: Entry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe.each(backends)('BytesStore contract: %s', (_name, make) => {
  let store: BytesStore;
  beforeEach(async () => {
    store = make();
    await store.open();
  });
  afterEach(async () => {
    await store.close();
  });

  it('returns undefined for an absent key and the value for a present one', async () => {
    expect(await store.get(b('nope'))).toBeUndefined();
    await store.write([{ key: b('k'), value: b('v') }]);
    expect((await store.get(b('k')))?.toString()).toBe('v');
  });

  it('applies a batch in order: the last op on a key wins, deletes remove', async () => {
    await store.write([
      { key: b('a'), value: b('1') },
      { key: b('a'), value: b('2') },
      { key: b('b'), value: b('x') },
      { key: b('b'), value: null },
      { key: b('c'), value: b('3') },
    ]);
    expect(text(await collect(store.range()))).toEqual(['a=2', 'c=3']);
  });

  it('gets many keys at once, with undefined for the absent ones', async () => {
    await store.write([
      { key: b('a'), value: b('1') },
      { key: b('c'), value: b('3') },
    ]);
    const got = await store.getMany([b('a'), b('b'), b('c')]);
    expect(got.map((v) => v?.toString())).toEqual(['1', undefined, '3']);
  });

  it('scans in unsigned byte order, with bounds, prefix and limit', async () => {
    const keys = [
      Buffer.from([0x01]),
      Buffer.from([0x7f]),
      Buffer.from([0x80]),
      Buffer.from([0xff, 0x00]),
      Buffer.from('user:1'),
      Buffer.from('user:2'),
      Buffer.from('users'),
    ];
    await store.write(keys.map((key) => ({ key, value: b('v') })));
    const all = await collect(store.range());
    expect(all.map((e) => e.key.toString('hex'))).toEqual([...keys].sort(Buffer.compare).map((k) => k.toString('hex')));
    const bounded = await collect(store.range({ gte: Buffer.from([0x7f]), lt: Buffer.from([0xff]) }));
    expect(bounded.map((e) => e.key.toString('hex'))).toEqual(['7f', '80']);
    const prefixed = await collect(store.range({ prefix: b('user:') }));
    expect(prefixed.map((e) => e.key.toString())).toEqual(['user:1', 'user:2']);
    expect((await collect(store.range({ limit: 2 }))).length).toBe(2);
  });

  it('returns copies: changing a returned value does not change the store', async () => {
    await store.write([{ key: b('k'), value: b('abc') }]);
    const v = (await store.get(b('k')))!;
    v[0] = 0x7a;
    expect((await store.get(b('k')))?.toString()).toBe('abc');
  });

  it('counts entries and clears them all', async () => {
    await store.write([1, 2, 3].map((i) => ({ key: b(`k${i}`), value: b('v') })));
    expect(await store.approximateCount()).toBe(3);
    await store.clear();
    expect(await store.approximateCount()).toBe(0);
    expect(await store.get(b('k1'))).toBeUndefined();
    await store.write([{ key: b('again'), value: b('ok') }]);
    expect((await store.get(b('again')))?.toString()).toBe('ok');
  });

  it('stores empty and large values', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024, 7);
    await store.write([
      { key: b('empty'), value: Buffer.alloc(0) },
      { key: b('big'), value: big },
    ]);
    expect((await store.get(b('empty')))?.length).toBe(0);
    expect((await store.get(b('big')))?.equals(big)).toBe(true);
  });

  it('syncs between writes without changing what is stored, and says whether it outlives the process', async () => {
    await store.write([{ key: b('a'), value: b('1') }]);
    await store.sync();
    await store.sync();
    await store.write([
      { key: b('b'), value: b('2') },
      { key: b('a'), value: null },
    ]);
    await store.sync();
    expect(text(await collect(store.range()))).toEqual(['b=2']);
    expect(store.persistent).toBe(_name === 'rocksdb');
  });

  it('refuses every call after close with a store-closed error', async () => {
    await store.close();
    await expect(store.get(b('k'))).rejects.toMatchObject({ code: ErrorCodes.STORE_CLOSED });
    await expect(store.sync()).rejects.toMatchObject({ code: ErrorCodes.STORE_CLOSED });
    await expect(store.write([{ key: b('k'), value: b('v') }])).rejects.toMatchObject({ code: ErrorCodes.STORE_CLOSED });
    await expect(store.open()).rejects.toMatchObject({ code: ErrorCodes.STORE_CLOSED });
  });
});

describe('RocksDBBytesStore only', () => {
  it('keeps data across close and reopen of the same directory', async () => {
    const path = rocksPath();
    const first = new RocksDBBytesStore('s', path);
    await first.open();
    await first.write([{ key: b('persist'), value: b('yes') }]);
    await first.close();
    const second = new RocksDBBytesStore('s', path);
    await second.open();
    expect((await second.get(b('persist')))?.toString()).toBe('yes');
    await second.close();
  });
});
