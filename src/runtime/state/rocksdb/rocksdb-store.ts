import { mkdirSync, rmSync } from 'node:fs';
import RocksDB from 'rocksdb-native';
import { StoreClosedError, StoreTransactionError } from '../../../errors';
import { type BytesStore, type Entry, effectiveBounds, type RangeOptions, type WriteOp } from '../store';

/** Tuning of a {@link RocksDBBytesStore}. Defaults suit many small stores per process. */
export interface RocksDBStoreOptions {
  /** Memtable size; RocksDB's default (64 MiB) times two per store adds up with one store per task. */
  writeBufferSize?: number;
  maxWriteBufferNumber?: number;
}

/**
 * A byte store in RocksDB (via rocksdb-native, RocksDB 10). One database
 * directory per store instance. Writes go through one WriteBatch per
 * `write()`, which RocksDB applies atomically.
 */
export class RocksDBBytesStore implements BytesStore {
  private db: RocksDB | null = null;
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
    const db = new RocksDB(this.path, {
      writeBufferSize: this.options.writeBufferSize ?? 8 * 1024 * 1024,
      maxWriteBufferNumber: this.options.maxWriteBufferNumber ?? 2,
      maxBackgroundJobs: 2,
    });
    await db.ready();
    this.db = db;
  }

  private handle(): RocksDB {
    if (!this.db) throw new StoreClosedError(this.name, this.closed ? 'it was closed' : 'not opened yet');
    return this.db;
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    const v = await this.handle().get(key);
    return v === null ? undefined : v;
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    if (keys.length === 0) return [];
    const batch = this.handle().read({ capacity: keys.length });
    try {
      const promises = keys.map((k) => batch.get(k));
      batch.tryFlush();
      const values = await Promise.all(promises);
      return values.map((v) => (v === null ? undefined : v));
    } finally {
      batch.destroy();
    }
  }

  async *range(options: RangeOptions = {}): AsyncIterable<Entry> {
    const { gte, lt } = effectiveBounds(options);
    const it = this.handle().iterator({
      ...(gte ? { gte } : {}),
      ...(lt ? { lt } : {}),
      ...(options.limit !== undefined ? { limit: options.limit } : {}),
    });
    for await (const e of it as AsyncIterable<{ key: Buffer; value: Buffer }>) yield { key: e.key, value: e.value };
  }

  async write(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return;
    const batch = this.handle().write({ capacity: ops.length });
    try {
      for (const op of ops) {
        if (op.value === null) batch.tryDelete(op.key);
        else batch.tryPut(op.key, op.value);
      }
      await batch.flush();
    } catch (err) {
      throw new StoreTransactionError(this.name, err);
    } finally {
      // rocksdb-native: an undestroyed batch keeps a ref and close() waits on it forever.
      batch.destroy();
    }
  }

  async approximateCount(): Promise<number> {
    // rocksdb-native exposes no property API; count by iterating keys only.
    let n = 0;
    for await (const _ of this.handle().keys({})) n++;
    return n;
  }

  async clear(): Promise<void> {
    const db = this.handle();
    await db.close();
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
