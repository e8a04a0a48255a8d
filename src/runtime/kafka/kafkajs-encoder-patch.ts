/**
 * kafkajs 2.2.4 builds every produce request in Encoders that allocate with
 * `Buffer.alloc` (zero-filled, outside Node's buffer pool): one per record,
 * regrown by copying as the record is written. On our workloads (values of
 * 0.5–3 KiB) that was the largest single cost in a CPU profile of the
 * user-vectors topology (~15% of the time, plus the GC it causes).
 *
 * This swaps in a subclass that allocates with `Buffer.allocUnsafe` (pooled,
 * not zeroed). That is safe because an Encoder only ever exposes bytes it has
 * written (`buffer` is `buf.slice(0, offset)`). It must run before kafkajs
 * loads its protocol modules, which take the Encoder class at require time:
 * kafkajs-client.ts imports it first. Upstream kafkajs is unmaintained, so the
 * version is pinned and checked here; with another version this does nothing.
 */
/* eslint-disable @typescript-eslint/no-require-imports */
const EXPECTED_VERSION = '2.2.4';
/** Every patch below checks this: kafkajs's internals are only known at the pinned version. */
const PINNED = (require('kafkajs/package.json') as { version: string }).version === EXPECTED_VERSION;

interface EncoderInstance {
  buf: Buffer;
  offset: number;
  ensureAvailable(length: number): void;
}
type EncoderClass = (new (initialSize?: number) => EncoderInstance) & { nextPowerOfTwo(value: number): number; prototype: EncoderInstance };

function patch(): boolean {
  if (!PINNED) return false;
  const path = require.resolve('kafkajs/src/protocol/encoder');
  const Original = require(path) as EncoderClass;
  if ((Original as unknown as { pooled?: boolean }).pooled) return true;
  class PooledEncoder extends Original {
    static pooled = true;
    constructor(initialSize = 511) {
      super(1);
      this.buf = Buffer.allocUnsafe(Original.nextPowerOfTwo(initialSize));
    }
  }
  Original.prototype.ensureAvailable = function ensureAvailable(this: EncoderInstance, length: number): void {
    if (this.offset + length <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Original.nextPowerOfTwo(this.offset + length));
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  };
  require.cache[path]!.exports = PooledEncoder;
  return true;
}

/** True when the pooled encoder is in place (kafkajs 2.2.4). */
export const kafkajsEncoderPatched = patch();

/**
 * kafkajs checksums every produced record batch (CRC-32C) in JavaScript, one
 * byte per step: about 140 MB/s on this machine, against 1–3 GB/s for the
 * SIMD implementation of `@node-rs/crc32` (prebuilt, no compiler). A
 * user-vector update produces ~2.4 KiB (vector, candidate request, state), so
 * the checksum alone cost a fifth of a core at the benchmark's rate. The
 * native function replaces kafkajs's module before kafkajs loads it, after
 * checking it gives kafkajs's answer; where no prebuilt binary exists for the
 * platform, kafkajs keeps its own.
 */
function patchCrc(): 'native' | 'kafkajs' {
  if (!PINNED) return 'kafkajs';
  let native: (input: Buffer, initial?: number) => number;
  try {
    native = (require('@node-rs/crc32') as { crc32c: (input: Buffer, initial?: number) => number }).crc32c;
  } catch {
    return 'kafkajs';
  }
  const path = require.resolve('kafkajs/src/protocol/recordBatch/crc32C/crc32C');
  const original = require(path) as (buffer: Buffer) => number;
  const probe = Buffer.from('The quick brown fox jumps over the lazy dog');
  if (native(probe) !== original(probe)) return 'kafkajs';
  require.cache[path]!.exports = (buffer: Buffer): number => native(buffer) >>> 0;
  return 'native';
}

/** Which CRC-32C kafkajs uses for the record batches it produces. */
export const kafkajsCrc = patchCrc();

/**
 * Produce requests (versions 3–7, uncompressed) are encoded in one pass into a
 * single buffer by `encodeProduceRequest` (produce-request-encoder.ts) instead
 * of kafkajs's nested Encoders, which copy every value about nine times and
 * allocate a Buffer per varint: the largest cost of the user-vector path in a
 * CPU profile (28% of busy time building produce requests). kafkajs's request
 * framing is replaced too, so that the header is written into the room the
 * encoder leaves in front instead of copying the body twice more. Requests
 * other than produce, and compressed produce requests, keep kafkajs's path.
 */
function patchProduce(): boolean {
  if (!PINNED) return false;
  const { encodeProduceRequest } = require('./produce-request-encoder') as typeof import('./produce-request-encoder');
  const crc32c = require('kafkajs/src/protocol/recordBatch/crc32C') as (bytes: Buffer) => number;
  type Framed = { encodeFramed?: (prefix: number) => Promise<Buffer> };
  type Request = Framed & { apiKey: number; apiVersion: number; encode(): Promise<unknown> };

  const v3Path = require.resolve('kafkajs/src/protocol/requests/produce/v3/request');
  const originalV3 = require(v3Path) as ((args: ProduceRequestArgsLike) => Request) & { framed?: boolean };
  if (originalV3.framed) return true;
  const framedV3 = (args: ProduceRequestArgsLike): Request => {
    const request = originalV3(args);
    if ((args.compression ?? 0) !== 0) return request;
    const encode = (prefix: number) => encodeProduceRequest(args as never, { prefix, now: Date.now(), crc32c });
    request.encodeFramed = async (prefix) => encode(prefix);
    // An Encoder-shaped result, for any caller of encode() other than the framing below.
    request.encode = async () => {
      const buf = encode(0);
      return { buf, offset: buf.length, buffer: buf, size: () => buf.length };
    };
    return request;
  };
  framedV3.framed = true;
  require.cache[v3Path]!.exports = framedV3;

  const framingPath = require.resolve('kafkajs/src/protocol/request');
  const originalFraming = require(framingPath) as (args: { correlationId: number; clientId?: string | null; request: Request }) => Promise<unknown>;
  require.cache[framingPath]!.exports = async (args: { correlationId: number; clientId?: string | null; request: Request }) => {
    const { request, correlationId, clientId } = args;
    if (!request.encodeFramed) return originalFraming(args);
    // Size 4, ApiKey 2, ApiVersion 2, CorrelationId 4, ClientId as a nullable string.
    const idLength = clientId == null ? 0 : Buffer.byteLength(clientId, 'utf8');
    const buf = await request.encodeFramed(14 + idLength);
    buf.writeInt32BE(buf.length - 4, 0);
    buf.writeInt16BE(request.apiKey, 4);
    buf.writeInt16BE(request.apiVersion, 6);
    buf.writeInt32BE(correlationId, 8);
    buf.writeInt16BE(clientId == null ? -1 : idLength, 12);
    if (clientId != null) buf.write(clientId, 14, idLength, 'utf8');
    return { buffer: buf, size: () => buf.length };
  };
  return true;
}

/** What kafkajs passes to a produce request; `compression` 0 is none. */
interface ProduceRequestArgsLike {
  compression?: number;
}

/** True when produce requests are encoded in one pass (kafkajs 2.2.4). */
export const kafkajsProduceFramed = patchProduce();

/**
 * kafkajs groups a send's messages by partition by copying the partition's
 * array for every message (`[...current, message]`), quadratic in the
 * messages per partition: 5% of the user-vector path's busy time in a CPU
 * profile, with sends of up to 1,000 records. This does the same grouping
 * (same keys, same order) in one pass. It must be in place before kafkajs's
 * producer loads, as the patches above.
 */
function patchGrouping(): boolean {
  if (!PINNED) return false;
  const path = require.resolve('kafkajs/src/producer/groupMessagesPerPartition');
  require(path);
  type Args = {
    topic: string;
    partitionMetadata: unknown[];
    messages: unknown[];
    partitioner: (a: { topic: string; partitionMetadata: unknown[]; message: unknown }) => number;
  };
  require.cache[path]!.exports = ({ topic, partitionMetadata, messages, partitioner }: Args): Record<number, unknown[]> => {
    const result: Record<number, unknown[]> = {};
    if (partitionMetadata.length === 0) return result;
    for (const message of messages) {
      const partition = partitioner({ topic, partitionMetadata, message });
      (result[partition] ??= []).push(message);
    }
    return result;
  };
  return true;
}

/** True when kafkajs groups messages by partition in one pass (kafkajs 2.2.4). */
export const kafkajsGroupingLinear = patchGrouping();
