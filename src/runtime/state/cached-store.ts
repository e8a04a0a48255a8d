import type { Serde } from '../serde/serde';
import type { BytesStore, Entry, KeyValueStore, RangeOptions, WriteOp } from './store';
import { effectiveBounds } from './store';

interface CacheEntry {
  keyBytes: Buffer;
  /** The value's serialized bytes; null: the key is absent (deleted, or known missing from the backend). */
  bytes: Buffer | null;
  dirty: boolean;
}

/** Read counters a metrics layer can sample. */
export interface CacheStats {
  hits: number;
  misses: number;
}

/**
 * The store a task's bolts use: typed (serdes), with a bounded write-behind
 * cache over a {@link BytesStore}.
 *
 * The cache holds serialized bytes, as Kafka Streams' record cache does: `put`
 * serializes the value at once, and every `get` decodes a value of its own.
 * So a bolt that changes the object it got, in place, changes nothing in the
 * store until it puts it, and a savepoint's undo is exact. Cached objects
 * would let a record that changed its state in place and then failed leave
 * its changes to later records, and, living until evicted, they were a third
 * of what the collector's mark-compacts freed (docs/BENCHMARKS.md, session 18).
 *
 * Writes stay in the cache until the task commits: then {@link dirtyOps}
 * hands each dirty key's latest bytes to the runtime, which writes them to the
 * changelog and, once they are durable, to the backend ({@link markFlushed}).
 * Uncommitted writes are never in the backend, so the backend always equals a
 * prefix of the changelog.
 *
 * A savepoint per input record ({@link begin} / {@link rollbackRecord}) undoes
 * that record's writes when its processing throws.
 */
export class CachedKeyValueStore<K, V> implements KeyValueStore<K, V> {
  private readonly cache = new Map<string, CacheEntry>();
  /**
   * Keys of the clean entries, least recently used first: the only ones that
   * may be evicted. Kept apart so that eviction never scans past dirty
   * entries (a batch can leave thousands of them until the next commit).
   */
  private readonly clean = new Set<string>();
  private dirtyCount = 0;
  /**
   * Backend bytes read ahead by {@link prefetch} for keys not cached then
   * (undefined: absent), each used by at most one get. Dropped whenever the
   * backend changes underneath (markFlushed, discardDirty, invalidate), so a
   * read-ahead value is never older than the backend.
   */
  private readonly prefetched = new Map<string, Buffer | undefined>();
  private undo: Map<string, CacheEntry | null> | null = null;
  readonly stats: CacheStats = { hits: 0, misses: 0 };

  constructor(
    readonly name: string,
    private readonly backend: BytesStore,
    private readonly keySerde: Serde<K>,
    private readonly valueSerde: Serde<V>,
    private readonly maxEntries: number,
  ) {}

  /** True when dirty entries alone fill the cache: the task should commit. */
  get full(): boolean {
    return this.dirtyCount >= this.maxEntries;
  }

  get dirtySize(): number {
    return this.dirtyCount;
  }

  async get(key: K): Promise<V | undefined> {
    const keyBytes = this.keySerde.serialize(key);
    const k = keyBytes.toString('latin1');
    const hit = this.cache.get(k);
    if (hit) {
      this.stats.hits++;
      if (!hit.dirty) {
        this.clean.delete(k);
        this.clean.add(k);
      }
      return this.decode(hit.bytes);
    }
    this.stats.misses++;
    let raw: Buffer | undefined;
    if (this.prefetched.has(k)) {
      raw = this.prefetched.get(k);
      this.prefetched.delete(k);
    } else raw = await this.backend.get(keyBytes);
    // A put may have happened while we awaited the backend.
    const raced = this.cache.get(k);
    if (raced) return this.decode(raced.bytes);
    const value = this.decode(raw ?? null);
    this.cache.set(k, { keyBytes, bytes: raw ?? null, dirty: false });
    this.clean.add(k);
    this.evict();
    return value;
  }

  private decode(bytes: Buffer | null): V | undefined {
    return bytes === null ? undefined : this.valueSerde.deserialize(bytes);
  }

  put(key: K, value: V): void {
    this.write(key, value);
  }

  delete(key: K): void {
    this.write(key, undefined);
  }

  private write(key: K, value: V | undefined): void {
    const keyBytes = this.keySerde.serialize(key);
    const k = keyBytes.toString('latin1');
    // Serialized now, not at the commit: later changes to the object are not the store's.
    const bytes = value === undefined ? null : this.valueSerde.serialize(value);
    const prev = this.cache.get(k);
    if (this.undo && !this.undo.has(k)) this.undo.set(k, prev ? { ...prev } : null);
    if (!prev?.dirty) this.dirtyCount++;
    this.cache.set(k, { keyBytes, bytes, dirty: true });
    this.clean.delete(k);
    this.evict();
  }

  /** Drops least recently used clean entries while over maxEntries. (A clean entry is never in a savepoint's undo log: only written, hence dirty, keys are.) */
  private evict(): void {
    for (const k of this.clean) {
      if (this.cache.size <= this.maxEntries) return;
      this.clean.delete(k);
      this.cache.delete(k);
    }
  }

  async *range(options: { from?: K; to?: K; prefix?: K; limit?: number } = {}): AsyncIterable<[K, V]> {
    const bytesRange: RangeOptions = {
      ...(options.from !== undefined ? { gte: this.keySerde.serialize(options.from) } : {}),
      ...(options.to !== undefined ? { lt: this.keySerde.serialize(options.to) } : {}),
      ...(options.prefix !== undefined ? { prefix: this.keySerde.serialize(options.prefix) } : {}),
    };
    const { gte, lt } = effectiveBounds(bytesRange);
    const inRange = (kb: Buffer) => (!gte || Buffer.compare(kb, gte) >= 0) && (!lt || Buffer.compare(kb, lt) < 0);
    // Dirty entries shadow the backend; merge them in key order.
    const overlay = [...this.cache.values()].filter((e) => e.dirty && inRange(e.keyBytes)).sort((a, b) => Buffer.compare(a.keyBytes, b.keyBytes));
    const shadowed = new Set(overlay.map((e) => e.keyBytes.toString('latin1')));
    let i = 0;
    let n = 0;
    const limit = options.limit ?? Infinity;
    const emitOverlayUpTo = function* (this: CachedKeyValueStore<K, V>, bound: Buffer | undefined): Generator<[K, V]> {
      while (i < overlay.length && (!bound || Buffer.compare(overlay[i]!.keyBytes, bound) < 0)) {
        const e = overlay[i++]!;
        if (e.bytes !== null) yield [this.keySerde.deserialize(e.keyBytes), this.valueSerde.deserialize(e.bytes)];
      }
    }.bind(this);
    for await (const entry of this.backend.range(bytesRange) as AsyncIterable<Entry>) {
      for (const kv of emitOverlayUpTo(entry.key)) {
        yield kv;
        if (++n >= limit) return;
      }
      if (shadowed.has(entry.key.toString('latin1'))) continue;
      yield [this.keySerde.deserialize(entry.key), this.valueSerde.deserialize(entry.value)];
      if (++n >= limit) return;
    }
    for (const kv of emitOverlayUpTo(undefined)) {
      yield kv;
      if (++n >= limit) return;
    }
  }

  async approximateCount(): Promise<number> {
    return this.backend.approximateCount();
  }

  // --- used by the runtime, not by bolts -----------------------------------

  /**
   * Reads the backend bytes of those of `keys` (serialized) that are not
   * cached, in one getMany, for the gets that follow; until
   * {@link clearPrefetched} or the backend changes. The cache is not filled:
   * what is never read costs no eviction.
   */
  async prefetch(keys: readonly Buffer[]): Promise<void> {
    const wanted = new Map<string, Buffer>(); // a repeated key is read once
    for (const keyBytes of keys) {
      const k = keyBytes.toString('latin1');
      if (!this.cache.has(k) && !this.prefetched.has(k)) wanted.set(k, keyBytes);
    }
    if (wanted.size === 0) return;
    const values = await this.backend.getMany([...wanted.values()]);
    let i = 0;
    // Not for a key written or read into the cache meanwhile: the cache wins.
    for (const k of wanted.keys()) {
      const value = values[i++];
      if (!this.cache.has(k)) this.prefetched.set(k, value);
    }
  }

  /** Drops what {@link prefetch} read and no get used (the end of a batch). */
  clearPrefetched(): void {
    this.prefetched.clear();
  }

  /** Starts a record savepoint. */
  begin(): void {
    this.undo = new Map();
  }

  /** Keeps the writes since {@link begin}. */
  commitRecord(): void {
    this.undo = null;
  }

  /** Undoes the writes since {@link begin}. */
  rollbackRecord(): void {
    const undo = this.undo;
    this.undo = null;
    if (!undo) return;
    for (const [k, prev] of undo) {
      const cur = this.cache.get(k);
      if (cur?.dirty) this.dirtyCount--;
      this.clean.delete(k);
      if (prev === null) this.cache.delete(k);
      else {
        this.cache.set(k, prev);
        if (prev.dirty) this.dirtyCount++;
        else this.clean.add(k);
      }
    }
  }

  /** The dirty entries as byte ops, each key once with its latest value. */
  dirtyOps(): WriteOp[] {
    const ops: WriteOp[] = [];
    for (const e of this.cache.values()) if (e.dirty) ops.push({ key: e.keyBytes, value: e.bytes });
    return ops;
  }

  /** Writes `ops` (from {@link dirtyOps}, now durable in the changelog) to the backend and marks the cache clean. */
  async markFlushed(ops: WriteOp[]): Promise<void> {
    this.prefetched.clear();
    await this.backend.write(ops);
    // Again: a read-ahead while the write was pending may have read the bytes it replaced.
    this.prefetched.clear();
    for (const op of ops) {
      const k = op.key.toString('latin1');
      const e = this.cache.get(k);
      if (e?.dirty) {
        e.dirty = false;
        this.dirtyCount--;
        this.clean.add(k);
      }
    }
    this.evict();
  }

  /** Forgets every uncommitted write: later reads see the backend again. */
  discardDirty(): void {
    this.prefetched.clear();
    for (const [k, e] of this.cache) if (e.dirty) this.cache.delete(k);
    this.dirtyCount = 0;
    this.undo = null;
  }

  /** Drops clean cache entries, e.g. after the backend was restored underneath. */
  invalidate(): void {
    this.prefetched.clear();
    for (const k of this.clean) this.cache.delete(k);
    this.clean.clear();
  }
}
