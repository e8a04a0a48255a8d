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
  /** A chained batch (abstract-level), attached to the database until closed. */
  batch(): RocksChainedBatch;
  iterator(options: object): AsyncIterable<[Buffer, Buffer]>;
  getProperty(name: string): string;
  clear(): Promise<void>;
}

/** The binding's chained batch: one native WriteBatch; the underscored methods skip abstract-level's per-op bookkeeping. */
interface RocksChainedBatch {
  _put(key: Buffer, value: Buffer): void;
  _del(key: Buffer): void;
  _writeSync(options?: { sync?: boolean }): void;
  /** Empties the batch; the native buffer keeps its capacity. */
  _clear(): void;
  close(): Promise<void>;
}

/**
 * A write of more key and value bytes than this does not keep its batch for
 * the next write: the batch's native buffer keeps the capacity of the largest
 * write it held, so after a rare large write (every user of a task recomputed
 * for a new snapshot) the next writes start from a small one again.
 */
export const ROCKSDB_BATCH_REUSE_BYTES = 4 * 1024 * 1024;

/**
 * A store is read one key at a time (a bolt's state per event) and written
 * in one batch per commit, on the processing thread: the binding's defaults
 * cost that thread for what this use does not need. By default its
 * write-ahead log is compressed with ZSTD (every commit's batch, on the
 * thread), and `compression` trains ZSTD dictionaries for the tables
 * (compaction CPU, on a machine whose cores the process and the broker
 * share). Without it, levels 0 and 1 stay uncompressed and levels 2 and up
 * plain ZSTD, as the binding sets them for level compaction. `point-lookup`
 * adds a hash index to each data block, a ribbon filter and a memtable
 * filter, for gets. On their own the differences are within the noise of
 * this machine (`npm run bench:rocksdb` compares both on a task's share of
 * the benchmark); end to end, at 5,000 events/s offered, the user-vector
 * path's median latency fell from 53 to 38 ms and its p99 from 181 to 124 ms
 * (medians of five alternating runs, throughput unchanged;
 * docs/BENCHMARKS.md, "Latest"). Files written with the earlier options stay
 * readable: these settle how new files and log records are written.
 */
export const POINT_LOOKUP_OPTIONS = { walCompression: false, compression: false, optimize: 'point-lookup' } as const;

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
  /** Reused by every write (see write()). */
  private pending: RocksChainedBatch | null = null;
  private closed = false;
  readonly persistent = true;

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
      ...POINT_LOOKUP_OPTIONS,
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
    // Not db.batch(array): in @nxtedition/rocksdb 12.2 that path never closes the
    // chained batch it builds, so the database keeps every native WriteBatch, and
    // with it every byte ever written, until it is closed (measured: RSS grew by
    // the bytes written, docs/BENCHMARKS.md "Memory"). One batch per store, emptied
    // after each write, frees its contents without waiting for a garbage collection.
    const batch = (this.pending ??= db.batch());
    let bytes = 0;
    try {
      for (const op of ops) {
        bytes += op.key.length;
        if (op.value === null) batch._del(op.key);
        else {
          batch._put(op.key, op.value);
          bytes += op.value.length;
        }
      }
      batch._writeSync();
    } catch (err) {
      throw new StoreTransactionError(this.name, err);
    } finally {
      batch._clear();
      if (bytes > ROCKSDB_BATCH_REUSE_BYTES) {
        this.pending = null;
        await batch.close();
      }
    }
  }

  /**
   * An empty batch written with `sync`: RocksDB fsyncs its write-ahead log,
   * which makes every earlier write durable too (one fdatasync, seen with
   * strace). Writes are not synced one by one: that would cost an fsync per
   * commit of every task.
   */
  async sync(): Promise<void> {
    const db = this.handle();
    const batch = (this.pending ??= db.batch());
    try {
      batch._clear();
      batch._writeSync({ sync: true });
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
    this.pending = null;
    rmSync(this.path, { recursive: true, force: true });
    await this.open();
  }

  async close(): Promise<void> {
    this.closed = true;
    const db = this.db;
    this.db = null;
    // The database closes the batch with its other resources.
    this.pending = null;
    if (db) await db.close();
  }
}
