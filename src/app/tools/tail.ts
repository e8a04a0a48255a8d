/**
 * `vectors tail`: the records of a topic as plain JSON-able objects, Avro
 * values decoded with their writer schema from the registry. Reads the
 * partitions directly (no consumer group, nothing committed), so tailing
 * never disturbs the topologies.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as avsc from 'avsc';
import { ConfigError } from '../../errors';
import type { IncomingRecord, KafkaClient } from '../../runtime/kafka/client';
import { float32ArrayTypeHook } from '../../runtime/serde/float32-array-type';
import type { SchemaRegistry } from '../../runtime/serde/schema-registry';
import { HEADER_SIZE, MAGIC_BYTE } from '../../runtime/serde/wire-format';
import { valueSubject } from '../../vectors/contracts';
import { unknownTopic } from './unknown-topic';

export interface TailOptions {
  kafka: KafkaClient;
  registry: SchemaRegistry;
  topic: string;
  /** Start at each partition's first record, or at its end (only what comes next). Default `end`. */
  from?: 'beginning' | 'end';
  /** Stop after this many records. */
  limit?: number;
  /** Stop after this long with nothing new (ms); default: wait for ever. */
  idleMs?: number;
  /** Stop when aborted (the iteration ends normally). */
  signal?: AbortSignal;
  /** Only these partitions; default all. */
  partitions?: number[];
  /** Called once the start offsets are taken: from then on nothing written is missed (e.g. to say "waiting for records"). */
  onStart?: (start: { partition: number; offset: string }[]) => void;
}

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * One record, JSON-safe: the key as UTF-8 text, the value decoded from Avro
 * (`array<float>` as numbers printed as their shortest float32 decimals,
 * `bytes` as base64, longs beyond 2⁵³ as decimal strings). A value that is not
 * Avro in the Confluent wire format (or whose schema cannot be had) is given
 * as base64 with `valueEncoding: "base64"` and the reason in `error`.
 */
export interface TailRecord {
  topic: string;
  partition: number;
  /** Decimal string: offsets may exceed 2⁵³. */
  offset: string;
  /** UTF-8 text; base64 when it is not valid UTF-8 (then `keyEncoding: "base64"`). */
  key: string | null;
  /** Record time, epoch ms. */
  timestamp: number;
  value: Json;
  /** The value's Avro schema id, when it was Avro. */
  schemaId?: number;
  headers?: Record<string, string>;
  keyEncoding?: 'base64';
  valueEncoding?: 'base64';
  /** Why the value is not decoded. */
  error?: string;
}

/** Longest wait of one empty fetch: bounds how late `idleMs` and a new record are noticed. */
const POLL_MS = 250;

/**
 * The records of `topic`, partition by partition as they are fetched (in
 * offset order within a partition), until `limit` records, `idleMs` with
 * nothing new, or `signal` — whichever comes first; without any of them, for
 * ever. Partitions added after the start are not followed.
 *
 * @throws UnknownTopicError when the topic does not exist, naming the closest ones.
 * @throws ConfigError when `limit`/`idleMs` are out of range.
 */
export async function* tailTopic(o: TailOptions): AsyncGenerator<TailRecord, void, undefined> {
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 0)) throw new ConfigError(`limit must be an integer ≥ 0, got ${o.limit}`);
  if (o.idleMs !== undefined && !(o.idleMs >= 0)) throw new ConfigError(`idle time must be a number of ms ≥ 0, got ${o.idleMs}`);
  if (o.limit === 0) return;
  const admin = await o.kafka.admin();
  let offsets;
  try {
    if (!(await admin.describeTopic(o.topic))) throw await unknownTopic(admin, o.topic);
    offsets = await admin.topicOffsets(o.topic);
  } finally {
    await admin.close();
  }
  const chosen = o.partitions ? offsets.filter((p) => o.partitions!.includes(p.partition)) : offsets;
  if (o.partitions) {
    const missing = o.partitions.filter((p) => !offsets.some((x) => x.partition === p));
    if (missing.length > 0) throw new ConfigError(`topic '${o.topic}' has partitions 0 to ${offsets.length - 1}; there is no partition ${missing.join(', ')}`);
  }
  const positions = new Map(chosen.map((p) => [p.partition, o.from === 'beginning' ? p.low : p.high]));
  const decoder = new ValueDecoder(o.registry, o.topic);
  const reader = await o.kafka.partitionReader({ readUncommitted: false });
  o.onStart?.([...positions].map(([partition, offset]) => ({ partition, offset })));
  let emitted = 0;
  let lastNews = Date.now();
  let waitMs = 0;
  let first = true;
  try {
    while (!o.signal?.aborted) {
      const roundStart = Date.now();
      const fetchOne = async ([partition, offset]: [number, string]) => {
        const res = await reader.fetch({ topic: o.topic, partition }, offset, waitMs);
        positions.set(partition, res.nextOffset);
        return res.records;
      };
      // The first round one by one: concurrent first fetches race to connect, and kafkajs leaks the losers' sockets.
      let fetched: IncomingRecord[][];
      if (first) {
        fetched = [];
        for (const entry of [...positions]) fetched.push(await fetchOne(entry));
        first = false;
      } else fetched = await Promise.all([...positions].map(fetchOne));
      const records = fetched.flat();
      if (records.length > 0) {
        lastNews = Date.now();
        waitMs = 0;
      } else {
        if (o.idleMs !== undefined && Date.now() - lastNews >= o.idleMs) return;
        const before = waitMs;
        waitMs = Math.min(POLL_MS, o.idleMs !== undefined ? Math.max(1, o.idleMs - (Date.now() - lastNews)) : POLL_MS);
        // An empty fetch that was asked to wait came back at once (no partitions, a leader moving): do not spin.
        if (before > 0 && Date.now() - roundStart < before / 2) await sleep(waitMs);
      }
      for (const r of records) {
        if (o.signal?.aborted) return;
        yield await decoder.record(r);
        if (o.limit !== undefined && ++emitted >= o.limit) return;
      }
    }
  } finally {
    await reader.close();
  }
}

/** Decodes values with the writer schema their id names, caching one avsc type per id. */
class ValueDecoder {
  private readonly types = new Map<number, avsc.Type | string>();

  constructor(
    private readonly registry: SchemaRegistry,
    private readonly topic: string,
  ) {}

  async record(r: IncomingRecord): Promise<TailRecord> {
    const out: TailRecord = { topic: r.topic, partition: r.partition, offset: r.offset, key: null, timestamp: r.timestamp, value: null };
    if (r.key) {
      const text = utf8(r.key);
      if (text === undefined) {
        out.key = r.key.toString('base64');
        out.keyEncoding = 'base64';
      } else out.key = text;
    }
    const headers = Object.entries(r.headers).filter(([, v]) => v !== undefined);
    if (headers.length > 0) out.headers = Object.fromEntries(headers.map(([k, v]) => [k, utf8(v!) ?? v!.toString('base64')]));
    if (r.value === null) return out;
    const raw = () => {
      out.value = r.value!.toString('base64');
      out.valueEncoding = 'base64';
    };
    if (r.value.length < HEADER_SIZE || r.value[0] !== MAGIC_BYTE) {
      raw();
      out.error = 'not Avro in the Confluent wire format (no magic byte 0)';
      return out;
    }
    const id = r.value.readUInt32BE(1);
    out.schemaId = id;
    const type = await this.typeOf(id);
    if (typeof type === 'string') {
      raw();
      out.error = type;
      return out;
    }
    try {
      out.value = jsonSafe(type.fromBuffer(r.value.subarray(HEADER_SIZE)));
    } catch (err) {
      raw();
      out.error = `cannot decode with schema id ${id}: ${(err as Error).message}`;
    }
    return out;
  }

  private async typeOf(id: number): Promise<avsc.Type | string> {
    let t = this.types.get(id);
    if (t === undefined) {
      try {
        const text = await this.registry.getSchema(valueSubject(this.topic), id);
        t = avsc.Type.forSchema(JSON.parse(text), { typeHook: float32ArrayTypeHook as never });
      } catch (err) {
        // A registry that cannot be reached is not a property of the id: fail the tail rather than mark every record.
        if ((err as { retriable?: boolean }).retriable === true && (err as { code?: string }).code !== 'VEC_ERR_UNKNOWN_SCHEMA_ID') throw err;
        t = `schema id ${id}: ${(err as Error).message}`;
      }
      this.types.set(id, t);
    }
    return t;
  }
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function utf8(b: Buffer): string | undefined {
  try {
    return strictUtf8.decode(b);
  } catch {
    return undefined;
  }
}

/** The shortest decimal that reads back as the same float32. */
export function float32Decimal(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p < 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return Number(x.toPrecision(9));
}

/** A decoded Avro value as JSON: typed arrays and buffers, bigints, non-finite numbers made representable. */
export function jsonSafe(v: unknown): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (v instanceof Float32Array) return Array.from(v, (x) => (Number.isFinite(x) ? float32Decimal(x) : String(x)));
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>, (x) => jsonSafe(x));
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), jsonSafe(x)]));
  if (typeof v === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, x] of Object.entries(v)) out[k] = jsonSafe(x);
    return out;
  }
  return String(v);
}
