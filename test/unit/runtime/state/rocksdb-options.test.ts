/**
 * The RocksDB store's options (point lookups, no compression of the
 * write-ahead log and tables) settle how new files and log records are
 * written. A state directory written with the binding's defaults, as every
 * store was before them, must open and read back whole: from its tables and
 * from its compressed write-ahead log (written, not flushed, before a crash).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RocksDBBytesStore } from '../../../../src/runtime/state/rocksdb/rocksdb-store';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RocksLevel } = require('@nxtedition/rocksdb') as {
  RocksLevel: new (
    path: string,
    options: object,
  ) => {
    open(options: object): Promise<void>;
    close(): Promise<void>;
    batch(): { _put(k: Buffer, v: Buffer): void; _writeSync(): void; close(): Promise<void> };
  };
};

const value = (i: number) => Buffer.from(`${'state of user '.repeat(40)}${i}`);

describe('RocksDBBytesStore on a directory written with the binding’s default options', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'rocksdb-options-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads every entry, from the tables and from the log, and writes on', async () => {
    const old = new RocksLevel(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    // The options the store used before: ZSTD on the log by default, ZSTD with dictionaries from level 2.
    await old.open({ createIfMissing: true, compaction: 'level', memtableMemoryBudget: 1024 * 1024, cacheSize: 1024 * 1024 });
    const batch = old.batch();
    // Several memtables' worth: flushed to tables and compacted; the last ones stay in the log.
    for (let i = 0; i < 20_000; i++) {
      batch._put(Buffer.from(`u${i}`), value(i));
      if (i % 500 === 499) batch._writeSync();
    }
    batch._writeSync();
    await batch.close();
    await old.close();

    const store = new RocksDBBytesStore('users', dir);
    await store.open();
    const keys = Array.from({ length: 20_000 }, (_, i) => Buffer.from(`u${i}`));
    const got = await store.getMany(keys);
    expect(got.filter((v, i) => !v?.equals(value(i))).length).toBe(0);
    await store.write([{ key: Buffer.from('u0'), value: Buffer.from('new') }]);
    expect((await store.get(Buffer.from('u0')))?.toString()).toBe('new');
    expect((await store.get(Buffer.from('u19999')))?.equals(value(19_999))).toBe(true);
    await store.close();
  });
});
