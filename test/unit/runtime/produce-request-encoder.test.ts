import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { kafkajsGroupingLinear, kafkajsProduceFramed } from '../../../src/runtime/kafka/kafkajs-encoder-patch';
import { encodeProduceRequest, type ProduceRequestArgs } from '../../../src/runtime/kafka/produce-request-encoder';

/** Loads one of kafkajs's modules from its file, as kafkajs shipped it (the module cache holds the patched one). */
function loadOriginal<T>(id: string): T {
  const path = require.resolve(id);
  const m = { exports: {} as T };
  new Function('module', 'exports', 'require', readFileSync(path, 'utf8'))(m, m.exports, createRequire(path));
  return m.exports;
}

type Encoded = { buffer: Buffer };
type Request = { apiKey: number; apiVersion: number; encode(): Promise<Encoded> };
const originalV3 = loadOriginal<(args: ProduceRequestArgs) => Request>('kafkajs/src/protocol/requests/produce/v3/request');
const originalFraming =
  loadOriginal<(args: { correlationId: number; clientId: string | null; request: Request }) => Promise<Encoded>>('kafkajs/src/protocol/request');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const usedV7 = require('kafkajs/src/protocol/requests/produce/v7/request') as (args: ProduceRequestArgs) => Request;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const usedFraming = require('kafkajs/src/protocol/request') as typeof originalFraming;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const crc32c = require('kafkajs/src/protocol/recordBatch/crc32C') as (b: Buffer) => number;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Long = require('kafkajs/src/utils/long');

const NOW = 1_764_547_200_123;
const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 256));

/** Requests covering what the encoder distinguishes: key and value kinds, sizes across varint widths, headers, timestamps, transactions. */
const cases: [string, ProduceRequestArgs][] = [
  [
    'one record, string key, Buffer value',
    { acks: -1, timeout: 30000, topicData: [{ topic: 't', partitions: [{ partition: 0, messages: [{ key: 'user-1', value: bytes(10, 1) }] }] }] },
  ],
  [
    'null and absent keys, null and string values, multi-byte UTF-8',
    {
      acks: 1,
      timeout: 5000,
      topicData: [
        {
          topic: 'tópico-ü',
          partitions: [
            {
              partition: 3,
              messages: [{ key: null, value: null }, { value: 'hé ✓ 𝄞' }, { key: Buffer.alloc(0), value: '' }],
            },
          ],
        },
      ],
    },
  ],
  [
    'values across varint widths (63, 64, 8,191, 8,192 and 100,000 bytes) and 200 records per batch',
    {
      acks: -1,
      timeout: 30000,
      topicData: [
        {
          topic: 'sizes',
          partitions: [
            { partition: 1, messages: [63, 64, 8191, 8192, 100_000].map((n, i) => ({ key: `k${i}`, value: bytes(n, i) })) },
            { partition: 11, messages: Array.from({ length: 200 }, (_, i) => ({ key: bytes(i % 70, i), value: bytes(1200, i) })) },
          ],
        },
      ],
    },
  ],
  [
    'headers: strings, Buffers, arrays of values',
    {
      acks: -1,
      timeout: 30000,
      topicData: [
        {
          topic: 'h',
          partitions: [
            {
              partition: 0,
              messages: [
                { key: 'a', value: bytes(5, 2), headers: { 'x-error': 'bad ✗', blob: bytes(300, 4), many: ['1', bytes(2, 9), 'three'] } },
                { key: 'b', value: bytes(5, 3), headers: {} },
              ],
            },
          ],
        },
      ],
    },
  ],
  [
    'timestamps given, out of order, beside one taken from the clock',
    {
      acks: -1,
      timeout: 30000,
      topicData: [
        {
          topic: 'ts',
          partitions: [
            {
              partition: 2,
              messages: [
                { key: 'a', value: 'x', timestamp: String(NOW - 5000) },
                { key: 'b', value: 'y', timestamp: String(NOW - 9_000_000_000) },
                { key: 'c', value: 'z' },
                { key: 'd', value: 'w', timestamp: String(NOW - 1) },
              ],
            },
          ],
        },
      ],
    },
  ],
  [
    'transactional: producer id and epoch, first sequences, several topics and partitions',
    {
      acks: -1,
      timeout: 30000,
      transactionalId: 'app-0_3',
      producerId: Long.fromString('123456789012'),
      producerEpoch: 7,
      topicData: [
        {
          topic: 'out',
          partitions: [
            { partition: 0, firstSequence: 41, messages: [{ key: 'a', value: bytes(600, 5) }] },
            {
              partition: 5,
              firstSequence: 2_000_000,
              messages: [
                { key: 'b', value: bytes(600, 6) },
                { key: 'c', value: bytes(1, 7) },
              ],
            },
          ],
        },
        { topic: 'app-users-changelog', partitions: [{ partition: 5, firstSequence: 0, messages: [{ key: 'b', value: bytes(1157, 8) }] }] },
      ],
    },
  ],
];

describe('one-pass produce request encoder', () => {
  beforeEach(() => jest.spyOn(Date, 'now').mockReturnValue(NOW));
  afterEach(() => jest.restoreAllMocks());

  it('is installed for the pinned kafkajs version', () => {
    expect(kafkajsProduceFramed).toBe(true);
  });

  it.each(cases)("writes kafkajs's bytes: %s", async (_name, args) => {
    Buffer.allocUnsafe(4000).fill(0xab); // whatever the pool held before must not show
    const expected = (await originalV3(args).encode()).buffer;
    const ours = encodeProduceRequest(args, { prefix: 0, now: NOW, crc32c });
    expect(ours.length).toBe(expected.length);
    expect(Buffer.compare(ours, expected)).toBe(0);
  });

  it.each(cases)('frames the request kafkajs sends on the socket as kafkajs did: %s', async (_name, args) => {
    const expected = (await originalFraming({ correlationId: 99, clientId: 'vectors-ü', request: Object.assign(originalV3(args), { apiVersion: 7 }) })).buffer;
    const ours = (await usedFraming({ correlationId: 99, clientId: 'vectors-ü', request: usedV7(args) })).buffer;
    expect(Buffer.compare(ours, expected)).toBe(0);
  });

  it('leaves the request framing of other requests and of compressed produce requests to kafkajs', async () => {
    const args = { ...cases[0]![1], compression: 1 } as ProduceRequestArgs;
    const request = usedV7(args) as Request & { encodeFramed?: unknown };
    expect(request.encodeFramed).toBeUndefined();
    const expected = (await originalFraming({ correlationId: 1, clientId: null, request: Object.assign(originalV3(args), { apiVersion: 7 }) })).buffer;
    const ours = (await usedFraming({ correlationId: 1, clientId: null, request })).buffer;
    expect(Buffer.compare(ours, expected)).toBe(0);
  });
});

describe("kafkajs's grouping of a send's messages by partition", () => {
  type Group = (a: {
    topic: string;
    partitionMetadata: unknown[];
    messages: unknown[];
    partitioner: (a: { message: unknown }) => number;
  }) => Record<string, unknown[]>;
  const original = loadOriginal<Group>('kafkajs/src/producer/groupMessagesPerPartition');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const used = require('kafkajs/src/producer/groupMessagesPerPartition') as Group;

  it('is replaced by the one-pass grouping', () => {
    expect(kafkajsGroupingLinear).toBe(true);
    expect(used).not.toBe(original);
  });

  it('gives the same partitions, keys and order as kafkajs', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i}`, partition: (i * 7919) % 12 }));
    const args = {
      topic: 't',
      partitionMetadata: [{}],
      messages,
      partitioner: ({ message }: { message: unknown }) => (message as { partition: number }).partition,
    };
    const ours = used(args);
    expect(Object.keys(ours)).toEqual(Object.keys(original(args)));
    expect(ours).toEqual(original(args));
    expect(used({ ...args, partitionMetadata: [] })).toEqual({});
  });
});
