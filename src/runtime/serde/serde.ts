/**
 * Turns values into bytes and back. The runtime calls `serialize` for every
 * record it writes and `deserialize` for every record it reads; both must be
 * synchronous and side-effect free so they can run on the hot path.
 *
 * A serde that needs I/O before it can work (registering a schema, fetching a
 * writer schema by id) implements {@link PreparedSerde}: the runtime awaits
 * `prepare()` once before first use, and `prepareFor(bytes)` when
 * `deserialize` throws an error with `retriable: true` for bytes it has not
 * seen the like of yet.
 */
export interface Serde<T> {
  /** @throws VectorsError (e.g. SchemaValidationError) when the value cannot be written; nothing is written then. */
  serialize(value: T): Buffer;
  /** @throws VectorsError when the bytes cannot be read; the runtime sends such records to the dead-letter topic. */
  deserialize(data: Buffer): T;
}

/** A serde with asynchronous set-up; see {@link Serde}. */
export interface PreparedSerde<T> extends Serde<T> {
  prepare(): Promise<void>;
  /** Fetches whatever `deserialize(data)` lacks (e.g. the writer schema its id names). */
  prepareFor(data: Buffer): Promise<void>;
}

export function isPreparedSerde<T>(serde: Serde<T>): serde is PreparedSerde<T> {
  return typeof (serde as PreparedSerde<T>).prepare === 'function';
}

/** UTF-8 strings. */
export const StringSerde: Serde<string> = {
  serialize: (v) => Buffer.from(v, 'utf8'),
  deserialize: (b) => b.toString('utf8'),
};

/** JSON documents, UTF-8. */
export function jsonSerde<T>(): Serde<T> {
  return {
    serialize: (v) => Buffer.from(JSON.stringify(v), 'utf8'),
    deserialize: (b) => JSON.parse(b.toString('utf8')) as T,
  };
}

/** Signed 64-bit integers held as JS numbers (exact up to 2^53), big-endian like Kafka's LongSerializer. */
export const Int64Serde: Serde<number> = {
  serialize: (v) => {
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(Math.trunc(v)));
    return b;
  },
  deserialize: (b) => {
    if (b.length !== 8) throw new RangeError(`expected 8 bytes for an int64, got ${b.length}`);
    return Number(b.readBigInt64BE());
  },
};

/** Raw bytes, unchanged. */
export const BytesSerde: Serde<Buffer> = {
  serialize: (v) => v,
  deserialize: (b) => b,
};
