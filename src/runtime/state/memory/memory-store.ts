import { StoreClosedError } from '../../errors';
import { type BytesStore, type Entry, effectiveBounds, type RangeOptions, type WriteOp } from '../store';

/**
 * A byte store in process memory, for tests and the test driver. Keys are held
 * as latin1 strings (one char per byte) so JS string order is byte order.
 */
export class MemoryBytesStore implements BytesStore {
  private data = new Map<string, Buffer>();
  private sortedKeys: string[] | null = null;
  private state: 'new' | 'open' | 'closed' = 'new';
  readonly persistent = false;

  constructor(readonly name: string) {}

  async open(): Promise<void> {
    if (this.state === 'closed') throw new StoreClosedError(this.name, 'it was closed; create a new store');
    this.state = 'open';
  }

  private check(): void {
    if (this.state !== 'open') throw new StoreClosedError(this.name, this.state === 'new' ? 'not opened yet' : 'it was closed');
  }

  async get(key: Buffer): Promise<Buffer | undefined> {
    this.check();
    const v = this.data.get(key.toString('latin1'));
    return v === undefined ? undefined : Buffer.from(v);
  }

  async getMany(keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    this.check();
    return keys.map((k) => {
      const v = this.data.get(k.toString('latin1'));
      return v === undefined ? undefined : Buffer.from(v);
    });
  }

  async *range(options: RangeOptions = {}): AsyncIterable<Entry> {
    this.check();
    const { gte, lt } = effectiveBounds(options);
    const lo = gte?.toString('latin1');
    const hi = lt?.toString('latin1');
    if (!this.sortedKeys) this.sortedKeys = [...this.data.keys()].sort();
    const keys = this.sortedKeys;
    let n = 0;
    for (const k of keys) {
      if (lo !== undefined && k < lo) continue;
      if (hi !== undefined && k >= hi) break;
      const v = this.data.get(k);
      if (v === undefined) continue;
      yield { key: Buffer.from(k, 'latin1'), value: Buffer.from(v) };
      if (options.limit !== undefined && ++n >= options.limit) return;
    }
  }

  async write(ops: WriteOp[]): Promise<void> {
    this.check();
    for (const op of ops) {
      const k = op.key.toString('latin1');
      if (op.value === null) {
        if (this.data.delete(k)) this.sortedKeys = null;
      } else {
        if (!this.data.has(k)) this.sortedKeys = null;
        this.data.set(k, Buffer.from(op.value));
      }
    }
  }

  /** Nothing of a memory store survives a crash: there is nothing to make durable. */
  async sync(): Promise<void> {
    this.check();
  }

  async approximateCount(): Promise<number> {
    this.check();
    return this.data.size;
  }

  async clear(): Promise<void> {
    this.check();
    this.data = new Map();
    this.sortedKeys = null;
  }

  async close(): Promise<void> {
    this.state = 'closed';
  }
}
