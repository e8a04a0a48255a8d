/**
 * Poison records of every kind on the real broker: each lands in the
 * topology's dead-letter topic with headers naming the error and its origin,
 * and the good records around them are processed.
 */
import { join } from 'node:path';
import { DlqHeaders } from '../../src/runtime/dlq';
import { ErrorCodes } from '../../src/errors';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { Int64Serde } from '../../src/runtime/serde/serde';
import { CountedEventSchema, type CountedEvent } from '../../topologies/event-counter';
import { kafkaClient, readAll, registry, uniqueName, waitFor } from './helpers';
import { tempDir, Worker } from './workers';

jest.setTimeout(180_000);

let client: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
let worker: Worker | undefined;

beforeAll(async () => {
  client = kafkaClient('dlq-it');
  admin = await client.admin();
  producer = await client.producer();
});
afterAll(async () => {
  await worker?.stop();
  await producer?.close();
  await admin?.close();
});

it('sends each kind of poison record to the DLQ with its error and origin, and processes the rest', async () => {
  const app = uniqueName('dlq');
  const input = `${app}-events`;
  await admin.createTopics([
    { name: input, partitions: 1 },
    { name: `${app}-counts`, partitions: 1 },
  ]);
  const serde = new AvroSerde<CountedEvent>({ registry: registry(), subject: `${input}-value`, schema: CountedEventSchema });
  await serde.prepare();
  const good = (id: string) => ({ topic: input, key: 'k', value: serde.serialize({ id, key: 'k', timestamp: 1 }) });
  const valid = serde.serialize({ id: 'x', key: 'k', timestamp: 1 });
  const unknownId = Buffer.from(valid);
  unknownId.writeUInt32BE(987_654_321, 1);

  const poison: [string, Buffer | null, string, RegExp][] = [
    ['not the wire format', Buffer.from('{"id":"json?"}'), ErrorCodes.WIRE_FORMAT, /magic byte/],
    ['an unknown schema id', unknownId, ErrorCodes.UNKNOWN_SCHEMA_ID, /schema id 987654321/],
    ['a truncated Avro payload', valid.subarray(0, valid.length - 4), ErrorCodes.AVRO_DECODE, /cannot decode Avro payload/],
    ['a record failing validation', serde.serialize({ id: '', key: 'k', timestamp: 1 }), ErrorCodes.RECORD_INVALID, /field id is empty/],
    ['a record whose processing throws', serde.serialize({ id: 'misrouted', key: 'other', timestamp: 1 }), 'VEC_ERR_PROCESSING', /published under key 'k'/],
    ['a tombstone', null, ErrorCodes.RECORD_INVALID, /tombstone/],
  ];
  // good, poison, good, poison, ... so every poison record sits between records that must count.
  const records = [good('g0')];
  poison.forEach(([, value], i) => records.push({ topic: input, key: 'k', value: value as Buffer }, good(`g${i + 1}`)));
  await producer.send(records);

  worker = new Worker(
    'dlq',
    ['run', 'event-counter', '--opt', `name=${app}`, '--opt', `input=${input}`, '--opt', `output=${app}-counts`, '--state-dir', tempDir('dlq')],
    {},
    join(tempDir('dlq-log'), 'w.log'),
  );
  await waitFor(
    async () => {
      const c = await admin.committedOffsets(app, input);
      return c[0]?.offset === String(records.length);
    },
    90_000,
    'all records committed',
  );

  const dead = await readAll(client, admin, `${app}-dlq`);
  expect(dead).toHaveLength(poison.length);
  for (const [i, [label, value, code, message]] of poison.entries()) {
    const d = dead[i]!;
    const h = (name: string) => d.headers[name]?.toString('utf8');
    expect({ label, code: h(DlqHeaders.errorCode) }).toEqual({ label, code });
    expect(h(DlqHeaders.errorMessage)).toMatch(message);
    expect(h(DlqHeaders.topic)).toBe(input);
    expect(h(DlqHeaders.partition)).toBe('0');
    expect(h(DlqHeaders.offset)).toBe(String(2 * i + 1));
    expect(h(DlqHeaders.topology)).toBe(app);
    // The original bytes are kept, so the record can be inspected and replayed.
    if (value === null) expect(d.value).toBeNull();
    else expect(d.value?.equals(value)).toBe(true);
  }
  const outputs = (await readAll(client, admin, `${app}-counts`)).map((r) => Int64Serde.deserialize(r.value!));
  expect(outputs).toEqual([1, 2, 3, 4, 5, 6, 7]);
  expect(await worker.stop()).toBe(0);
});
