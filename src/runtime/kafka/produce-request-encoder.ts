/**
 * A one-pass encoder for Kafka produce requests (versions 3–7, record batch
 * magic 2, uncompressed), byte for byte what kafkajs 2.2.4 writes.
 *
 * kafkajs builds a produce request as nested Encoders: one per record, per
 * batch, per partition, per topic and per request, each copied into the next,
 * and every varint through a temporary array and Buffer (the timestamp delta
 * through 64-bit Long arithmetic). A value is copied about nine times before it
 * reaches the socket. This encoder measures the request first and then writes
 * every field once into a single buffer, leaving room in front for the request
 * header so that nothing is copied again. kafkajs-encoder-patch.ts installs it.
 */

/** A header value as kafkajs accepts it. */
type HeaderValue = Buffer | string | null | undefined;

/** One message of a produce request, as kafkajs hands it to the request. */
export interface ProduceMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  headers?: Record<string, HeaderValue | HeaderValue[]>;
  /** Milliseconds since the epoch, as kafkajs carries it (a string) or a number. */
  timestamp?: string | number | null;
}

/** The arguments kafkajs passes to a produce request of version 3 to 7. */
export interface ProduceRequestArgs {
  acks: number;
  timeout: number;
  transactionalId?: string | null;
  /** kafkajs's Long, or anything whose `toString()` is the decimal id; -1 when absent. */
  producerId?: { toString(): string } | number | bigint;
  producerEpoch?: number;
  topicData: {
    topic: string;
    partitions: { partition: number; firstSequence?: number; messages: ProduceMessage[] }[];
  }[];
}

/** Encoding options: room for the request header, the clock, the batch checksum. */
export interface ProduceEncodeOptions {
  /** Bytes left unwritten at the start of the buffer, for the caller's header. */
  prefix: number;
  /** The time used for messages without a timestamp (kafkajs: `Date.now()`). */
  now: number;
  /** CRC-32C of a record batch's body. */
  crc32c: (bytes: Buffer) => number;
}

const MAGIC = 2;
const TRANSACTIONAL = 16;
/** FirstOffset 8, Length 4, PartitionLeaderEpoch 4, Magic 1, CRC 4. */
const BATCH_HEAD = 21;
/** Attributes 2, LastOffsetDelta 4, FirstTimestamp 8, MaxTimestamp 8, ProducerId 8, ProducerEpoch 2, FirstSequence 4, record count 4. */
const BATCH_BODY_HEAD = 40;

function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

/** Zigzag of a safe integer (the timestamp delta), kept exact in a double. */
function zigzag64(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function uvarintSize(value: number): number {
  let size = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeUVarint(buf: Buffer, offset: number, value: number): number {
  while (value >= 128) {
    buf[offset++] = (value % 128) | 128;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

function bytesSize(value: Buffer | string | null | undefined): number {
  if (value == null) return 1; // varint -1
  const length = Buffer.isBuffer(value) ? value.length : Buffer.byteLength(String(value), 'utf8');
  return uvarintSize(zigzag32(length)) + length;
}

function writeBytes(buf: Buffer, offset: number, value: Buffer | string | null | undefined): number {
  if (value == null) {
    buf[offset] = 1; // zigzag(-1)
    return offset + 1;
  }
  if (Buffer.isBuffer(value)) {
    offset = writeUVarint(buf, offset, zigzag32(value.length));
    return offset + value.copy(buf, offset);
  }
  const text = String(value);
  const length = Buffer.byteLength(text, 'utf8');
  offset = writeUVarint(buf, offset, zigzag32(length));
  return offset + buf.write(text, offset, length, 'utf8');
}

/** Shared by every message without headers (most of them): never written to. */
const NO_HEADERS: readonly [string, HeaderValue][] = [];

/** kafkajs's header order: keys in object order, an array value as one header per element. */
function headerList(headers: ProduceMessage['headers']): readonly [string, HeaderValue][] {
  if (!headers) return NO_HEADERS;
  const list: [string, HeaderValue][] = [];
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (Array.isArray(value)) for (const v of value) list.push([key, v]);
    else list.push([key, value]);
  }
  return list;
}

function stringSize(value: string | null | undefined): number {
  return 2 + (value == null ? 0 : Buffer.byteLength(value, 'utf8'));
}

function writeString(buf: Buffer, offset: number, value: string | null | undefined): number {
  if (value == null) {
    buf.writeInt16BE(-1, offset);
    return offset + 2;
  }
  const length = Buffer.byteLength(value, 'utf8');
  buf.writeInt16BE(length, offset);
  return offset + 2 + buf.write(value, offset + 2, length, 'utf8');
}

interface PlannedBatch {
  firstTimestamp: number;
  maxTimestamp: number;
  /** Per message: timestamp delta, body size, headers. */
  deltas: number[];
  bodies: number[];
  headers: (readonly [string, HeaderValue][])[];
  size: number;
}

function planBatch(messages: ProduceMessage[], now: number): PlannedBatch {
  let first = Infinity;
  let max = -Infinity;
  for (const m of messages) {
    if (m.timestamp == null) continue;
    const t = Number(m.timestamp);
    if (t < first) first = t;
    if (t > max) max = t;
  }
  if (first === Infinity) first = max = now;
  const deltas: number[] = new Array(messages.length);
  const bodies: number[] = new Array(messages.length);
  const headers: (readonly [string, HeaderValue][])[] = new Array(messages.length);
  let size = BATCH_HEAD + BATCH_BODY_HEAD;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    // kafkajs: `message.timestamp || dateNow`, so an empty or zero timestamp also means now.
    const delta = (m.timestamp ? Number(m.timestamp) : now) - first;
    const list = headerList(m.headers);
    let body = 1 + uvarintSize(zigzag64(delta)) + uvarintSize(zigzag32(i)) + bytesSize(m.key) + bytesSize(m.value);
    body += uvarintSize(zigzag32(list.length));
    for (const [key, value] of list) body += bytesSize(key) + bytesSize(value);
    deltas[i] = delta;
    bodies[i] = body;
    headers[i] = list;
    size += uvarintSize(zigzag32(body)) + body;
  }
  return { firstTimestamp: first, maxTimestamp: max, deltas, bodies, headers, size };
}

/**
 * Encodes a produce request body (everything after the request header) into a
 * new buffer with `options.prefix` bytes free at its start. Compressed batches
 * are not handled: the caller keeps kafkajs's path for them.
 */
export function encodeProduceRequest(args: ProduceRequestArgs, options: ProduceEncodeOptions): Buffer {
  const transactionalId = args.transactionalId ?? null;
  const producerId = BigInt(args.producerId === undefined ? -1 : args.producerId.toString());
  const producerEpoch = args.producerEpoch ?? 0;
  const attributes = transactionalId ? TRANSACTIONAL : 0;

  const plans: PlannedBatch[][] = [];
  let size = options.prefix + stringSize(transactionalId) + 2 + 4 + 4;
  for (const topic of args.topicData) {
    const topicPlans: PlannedBatch[] = [];
    size += stringSize(topic.topic) + 4;
    for (const partition of topic.partitions) {
      const plan = planBatch(partition.messages, options.now);
      topicPlans.push(plan);
      size += 8 + plan.size;
    }
    plans.push(topicPlans);
  }

  const buf = Buffer.allocUnsafe(size);
  let offset = writeString(buf, options.prefix, transactionalId);
  offset = buf.writeInt16BE(args.acks, offset);
  offset = buf.writeInt32BE(args.timeout, offset);
  offset = buf.writeInt32BE(args.topicData.length, offset);
  for (let t = 0; t < args.topicData.length; t++) {
    const topic = args.topicData[t]!;
    offset = writeString(buf, offset, topic.topic);
    offset = buf.writeInt32BE(topic.partitions.length, offset);
    for (let p = 0; p < topic.partitions.length; p++) {
      const partition = topic.partitions[p]!;
      const plan = plans[t]![p]!;
      const messages = partition.messages;
      offset = buf.writeInt32BE(partition.partition, offset);
      offset = buf.writeInt32BE(plan.size, offset);
      const batchStart = offset;
      offset = buf.writeBigInt64BE(0n, offset); // FirstOffset
      offset = buf.writeInt32BE(plan.size - 12, offset); // Length: what follows it
      offset = buf.writeInt32BE(0, offset); // PartitionLeaderEpoch
      offset = buf.writeInt8(MAGIC, offset);
      const crcAt = offset;
      offset += 4;
      const bodyStart = offset;
      offset = buf.writeInt16BE(attributes, offset);
      offset = buf.writeInt32BE(messages.length - 1, offset);
      offset = buf.writeBigInt64BE(BigInt(plan.firstTimestamp), offset);
      offset = buf.writeBigInt64BE(BigInt(plan.maxTimestamp), offset);
      offset = buf.writeBigInt64BE(producerId, offset);
      offset = buf.writeInt16BE(producerEpoch, offset);
      offset = buf.writeInt32BE(partition.firstSequence ?? 0, offset);
      offset = buf.writeInt32BE(messages.length, offset);
      for (let i = 0; i < messages.length; i++) {
        const m = messages[i]!;
        const list = plan.headers[i]!;
        offset = writeUVarint(buf, offset, zigzag32(plan.bodies[i]!));
        buf[offset++] = 0; // record attributes
        offset = writeUVarint(buf, offset, zigzag64(plan.deltas[i]!));
        offset = writeUVarint(buf, offset, zigzag32(i));
        offset = writeBytes(buf, offset, m.key);
        offset = writeBytes(buf, offset, m.value);
        offset = writeUVarint(buf, offset, zigzag32(list.length));
        for (const [key, value] of list) {
          offset = writeBytes(buf, offset, key);
          offset = writeBytes(buf, offset, value);
        }
      }
      if (offset - batchStart !== plan.size) throw new Error(`produce encoder: batch of ${plan.size} bytes planned, ${offset - batchStart} written`);
      buf.writeUInt32BE(options.crc32c(buf.subarray(bodyStart, offset)) >>> 0, crcAt);
    }
  }
  if (offset !== size) throw new Error(`produce encoder: ${size} bytes planned, ${offset} written`);
  return buf;
}
