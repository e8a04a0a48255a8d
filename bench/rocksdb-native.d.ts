// Minimal typings for the parts of rocksdb-native the binding benchmark uses.
declare module 'rocksdb-native' {
  interface ReadBatch {
    get(key: Buffer): Promise<Buffer | null>;
    tryFlush(): void;
    flush(): Promise<void>;
    destroy(): void;
  }
  interface WriteBatch {
    tryPut(key: Buffer, value: Buffer): void;
    tryDelete(key: Buffer): void;
    flush(): Promise<void>;
    destroy(): void;
  }
  interface IteratorRange {
    gt?: Buffer;
    gte?: Buffer;
    lt?: Buffer;
    lte?: Buffer;
    reverse?: boolean;
    limit?: number;
  }
  class RocksDB {
    constructor(path: string, options?: Record<string, unknown>);
    ready(): Promise<void>;
    close(options?: { force?: boolean }): Promise<void>;
    get(key: Buffer): Promise<Buffer | null>;
    read(options?: { capacity?: number }): ReadBatch;
    write(options?: { capacity?: number }): WriteBatch;
    iterator(range?: IteratorRange): AsyncIterable<{ key: Buffer; value: Buffer }>;
    keys(range?: IteratorRange): AsyncIterable<Buffer>;
  }
  export = RocksDB;
}
