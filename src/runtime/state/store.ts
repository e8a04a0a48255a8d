/**
 * State stores. Backends are byte stores ({@link BytesStore}); serdes,
 * caching, changelogging and metrics are layered on top by the runtime, and
 * processors see a typed {@link KeyValueStore}.
 */

/** One write of a batch: a put, or a delete when `value` is null. */
export interface WriteOp {
  key: Buffer;
  value: Buffer | null;
}

/** Bounds of a range scan, compared as unsigned bytes. */
export interface RangeOptions {
  /** Inclusive lower bound. */
  gte?: Buffer;
  /** Exclusive upper bound. */
  lt?: Buffer;
  /** Only keys starting with these bytes (combined with the bounds). */
  prefix?: Buffer;
  limit?: number;
}

export interface Entry {
  key: Buffer;
  value: Buffer;
}

/**
 * A byte-level key-value backend. Contract (run by the same suite against
 * every backend, see test/unit/runtime/state/store-contract.test.ts):
 * - `open()` before anything else; after `close()` every call throws StoreClosedError.
 * - `write(ops)` applies all ops atomically, in order (a later op on the same
 *   key wins). When it resolves, the write survives a crash of the process
 *   (not of the machine) for a persistent backend, and lives as long as the
 *   process for memory.
 * - `sync()` resolves once every write before it survives a crash of the
 *   machine too (RocksDB: its write-ahead log is fsynced). What a local
 *   checkpoint claims must have been synced first. Memory: resolves at once.
 * - `persistent` says whether the data outlives the process (a memory store
 *   opens empty every time, whatever a checkpoint says).
 * - `get` of an absent key resolves `undefined`; values are returned as copies.
 * - `range` yields entries in ascending unsigned-byte key order.
 * - `clear()` removes everything (used before restoring from scratch).
 */
export interface BytesStore {
  readonly name: string;
  readonly persistent: boolean;
  open(): Promise<void>;
  get(key: Buffer): Promise<Buffer | undefined>;
  getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]>;
  range(options?: RangeOptions): AsyncIterable<Entry>;
  write(ops: WriteOp[]): Promise<void>;
  sync(): Promise<void>;
  /** Exact for memory, estimated for RocksDB. */
  approximateCount(): Promise<number>;
  clear(): Promise<void>;
  close(): Promise<void>;
}

/** Typed reads. What the query API receives: it cannot write. */
export interface ReadOnlyKeyValueStore<K, V> {
  readonly name: string;
  get(key: K): Promise<V | undefined>;
  /** Entries in ascending order of the serialized key. */
  range(options?: { from?: K; to?: K; prefix?: K; limit?: number }): AsyncIterable<[K, V]>;
  approximateCount(): Promise<number>;
}

/**
 * Typed reads and writes, for processors. Writes are buffered by the runtime
 * (write-behind) and become durable at the next commit, together with their
 * changelog records and the input offsets: processor code never commits or
 * closes a store.
 *
 * Each `get` returns a value of its own, decoded from the bytes the store
 * holds: changing it changes nothing until it is `put`, which serializes it
 * at once (changes made to the object after the `put` are not stored). When
 * a record's processing throws, its writes are undone.
 */
export interface KeyValueStore<K, V> extends ReadOnlyKeyValueStore<K, V> {
  put(key: K, value: V): void;
  delete(key: K): void;
}

/** Exclusive upper bound of all keys starting with `prefix`, or undefined when there is none (all 0xff). */
export function prefixEnd(prefix: Buffer): Buffer | undefined {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}

/** Folds `prefix` into `gte`/`lt` bounds. */
export function effectiveBounds(options: RangeOptions = {}): { gte?: Buffer; lt?: Buffer } {
  let { gte, lt } = options;
  if (options.prefix) {
    const p = options.prefix;
    const pEnd = prefixEnd(p);
    if (!gte || Buffer.compare(p, gte) > 0) gte = p;
    if (pEnd && (!lt || Buffer.compare(pEnd, lt) < 0)) lt = pEnd;
  }
  return { ...(gte ? { gte } : {}), ...(lt ? { lt } : {}) };
}
