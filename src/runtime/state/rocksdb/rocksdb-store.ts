import { mkdirSync, rmSync } from 'node:fs';
import { StoreClosedError, StoreTransactionError } from '../../errors';
import { type BytesStore, type Entry, effectiveBounds, type RangeOptions, type WriteOp } from '../store';

// @nxtedition/rocksdb (RocksDB 9.7, prebuilt). Chosen over rocksdb-native for
// its synchronous in-thread multi-get: a bolt reads its state once per event,
// and an awaited read costs ~5x a synchronous one (docs/BENCHMARKS.md).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RocksLevel } = require('@nxtedition/rocksdb') as { RocksLevel: new (path: string, options: object) => RocksLevelDb };

interface RocksLevelDb {
  open(options?: object): Promise<void>;
  close(): Promise<void>;
  /** Not in abstract-level's public API; the binding's synchronous multi-get. */
  _getManySync(keys: Buffer[]): (Buffer | undefined)[];
  batch(ops: { type: 'put' | 'del'; key: Buffer; value?: Buffer }[]): Promise<void>;
  iterator(options: object): AsyncIterable<[Buffer, Buffer]>;
  getProperty(name: string): string;
  clear(): Promise<void>;
}

/**
 * Tuning of a {@link RocksDBBytesStore}. Defaults suit many small stores per
 * process (one per store per task: 12 tasks hold 12 of each), whose hot
 * entries the typed store's cache keeps in the JS heap anyway.
 */
export interface RocksDBStoreOptions {
  /** Memtable memory per store (RocksDB's default budget is 256 MiB). Default 8 MiB. */
  memtableBytes?: number;
  /** Block cache per store. Default 4 MiB. */
  cacheBytes?: number;
}

/**
 * A byte store in RocksDB, one database directory per store instance. Each
 * `write()` is one RocksDB WriteBatch, applied atomically.
 */
export class RocksDBBytesStore implements BytesStore {
  private db: RocksLevelDb | null = null;
  private closed = false;

  constructor(
    readonly name: string,
    readonly path: string,
    private readonly options: RocksDBStoreOptions = {},
  ) {}

  async open(): Promise<void> {
    if (this.closed) throw new StoreClosedError(this.name, 'it was closed; create a new store');
    if (this.db) return;
    mkdirSync(this.path, { recursive: true });
    const db = new RocksLevel(this.path, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open({
      createIfMissing: true,
      compaction: 'level',
      memtableMemoryBudget: this.options.memtableBytes ?? 8 * 1024 * 1024,
      cacheSize: this.options.cacheBytes ?? 4 * 1024 * 1024,
    });
    this.db = db;
  }

  private handle(): RocksLevelDb {
    if (!this.db) throw new StoreClosedError(this.name, this.closed ? 'it was closed' : 'not opened yet');
    return this.db;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    return this.handle()._getManySync([key])[0] ?? undefined;
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    if (keys.length === 0) return [];
    return this.handle()
      ._getManySync(keys)
      .map((v) => v ?? undefined);
  }

  async *range(options: RangeOptions = {}): AsyncIterable<Entry> {
    const { gte, lt } = effectiveBounds(options);
    const it = this.handle().iterator({
      ...(gte ? { gte } : {}),
      ...(lt ? { lt } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    });
    for await (const [key, value] of it) yield { key, value };
  }

  async write(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    const db = this.handle();
    try {
      await db.batch(ops.map((op) => (op.value === null ? { type: 'del' as const, key: op.key } : { type: 'put' as const, key: op.key, value: op.value })));
    } catch (err) {
      throw new StoreTransactionError(this.name, err);
    }
  }

  async approximateCount(): Promise<number> {
    return Number(this.handle().getProperty('rocksdb.estimate-num-keys'));
  }

  async clear(): Promise<void> {
    // Drop the directory rather than delete key by key: restoring starts from
    // a truly empty database, without tombstones to compact away.
    await this.handle().close();
    this.db = null;
    rmSync(this.path, { recursive: true, force: true });
    await this.open();
  }

  async close(): Promise<void> {
    this.closed = true;
    const db = this.db;
    this.db = null;
    if (db) await db.close();
  }
}
