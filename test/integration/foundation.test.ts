/**
 * The foundation on the real stack: Avro records through our serde to a real
 * broker and back, checked by Kafka's own console consumer; schemas in a real
 * registry with BACKWARD compatibility; idempotent topic provisioning.
 */
import { ErrorCodes, SchemaIncompatibleError, SchemaValidationError, TopicProvisioningError } from '../../src/errors';
import { provisionTopics, registerSchemas } from '../../src/runtime/admin/provision';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { readSchemaId } from '../../src/runtime/serde/wire-format';
import { coreSubjects, coreTopicSpecs, loadSchema } from '../../src/vectors/contracts';
import type { ListenEvent } from '../../src/vectors/records';
import { kafkaClient, readAll, registry, run, stackEnv, uniqueName, unescapeConsoleBytes } from './helpers';

jest.setTimeout(120_000);

let client: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;

beforeAll(async () => {
  client = kafkaClient('foundation');
  admin = await client.admin();
  producer = await client.producer();
});
afterAll(async () => {
  await producer?.close();
  await admin?.close();
});

function listen(i: number): ListenEvent {
  return {
    eventId: `ev-${i}`,
    userId: `user-${i % 997}`,
    entityId: `track-${(i * 7919) % 50_000}`,
    msPlayed: (i * 37) % 240_000,
    durationMs: 240_000,
    context: ['radio', 'playlist', 'search', 'album'][i % 4]!,
    timestamp: 1_700_000_000_000 + i,
  };
}

describe('Avro records on the real broker and registry', () => {
  const topic = uniqueName('listens');
  let serde: AvroSerde<ListenEvent>;

  beforeAll(async () => {
    await provisionTopics(admin, [{ name: topic, partitions: 12 }]);
    serde = new AvroSerde<ListenEvent>({ registry: registry(), subject: `${topic}-value`, schema: loadSchema('ListenEvent') });
    await serde.prepare();
  });

  it('produces 10,000 ListenEvents and consumes all 10,000 back identical', async () => {
    const events = Array.from({ length: 10_000 }, (_, i) => listen(i));
    for (let i = 0; i < events.length; i += 1000) {
      await producer.send(events.slice(i, i + 1000).map((e) => ({ topic, key: e.userId, value: serde.serialize(e) })));
    }
    const records = await readAll(client, admin, topic);
    expect(records).toHaveLength(10_000);
    const back = records.map((r) => serde.deserialize(r.value!)).sort((a, b) => a.timestamp - b.timestamp);
    expect(back).toEqual(events);
    // Keys are user ids; the same user always lands in the same partition.
    const partitionsOfUser = new Map<string, Set<number>>();
    for (const r of records)
      (partitionsOfUser.get(r.key!.toString()) ?? partitionsOfUser.set(r.key!.toString(), new Set()).get(r.key!.toString())!).add(r.partition);
    expect([...partitionsOfUser.values()].every((s) => s.size === 1)).toBe(true);
    expect(new Set(records.map((r) => r.partition)).size).toBe(12);
  });

  it('registers the subject in the registry', async () => {
    // Asked by name: listing every subject stops at 1,000 in Apicurio's compatibility API (a long-lived registry has more).
    const url = `${stackEnv().registryUrl}/subjects/${encodeURIComponent(`${topic}-value`)}/versions`;
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(((await res.json()) as number[]).length).toBeGreaterThan(0);
  });

  it("is read byte for byte by Kafka's own console consumer: magic byte 0 and the registered schema id", async () => {
    const stdout = await run(
      'bash',
      [
        'scripts/stack/kafka.sh',
        'run-class',
        'org.apache.kafka.tools.consumer.ConsoleConsumer',
        '--bootstrap-server',
        process.env.KAFKA_BROKERS!.split(',')[0]!,
        '--topic',
        topic,
        '--partition',
        '0',
        '--offset',
        'earliest',
        '--max-messages',
        '5',
        '--value-deserializer',
        'org.apache.kafka.common.serialization.BytesDeserializer',
      ],
      { timeoutMs: 90_000 },
    );
    const lines = stdout.split('\n').filter((l) => l.length > 0);
    expect(lines).toHaveLength(5);
    const ours = (await readAll(client, admin, topic)).filter((r) => r.partition === 0).slice(0, 5);
    for (const [i, line] of lines.entries()) {
      const bytes = unescapeConsoleBytes(line);
      expect(bytes[0]).toBe(0);
      expect(readSchemaId(bytes)).toBe(serde.id);
      expect(bytes.equals(ours[i]!.value!)).toBe(true);
    }
  });

  it('refuses a record that does not match its schema, naming the field, and writes nothing', async () => {
    const before = (await admin.topicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
    const bad = { ...listen(1), msPlayed: 'a lot' } as unknown as ListenEvent;
    let thrown: unknown;
    try {
      await producer.send([listen(2), bad].map((e) => ({ topic, key: e.userId, value: serde.serialize(e) })));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SchemaValidationError);
    expect((thrown as Error).message).toMatch(/field 'msPlayed' expected long, found "a lot"/);
    const after = (await admin.topicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
    expect(after).toBe(before);
  });

  it('gets an incompatible schema change refused by the registry, with a clear error', async () => {
    const reg = registry();
    const subject = `${topic}-value`;
    await reg.setCompatibility(subject, 'BACKWARD');
    const evolved = JSON.parse(loadSchema('ListenEvent'));
    evolved.fields.push({ name: 'skipped', type: 'boolean', default: false });
    const compatibleId = await reg.register(subject, JSON.stringify(evolved));
    expect(compatibleId).not.toBe(serde.id);
    const incompatible = JSON.parse(loadSchema('ListenEvent'));
    incompatible.fields.push({ name: 'country', type: 'string' });
    let thrown: unknown;
    try {
      await reg.register(subject, JSON.stringify(incompatible));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(SchemaIncompatibleError);
    expect((thrown as SchemaIncompatibleError).code).toBe(ErrorCodes.SCHEMA_INCOMPATIBLE);
    expect((thrown as Error).message).toMatch(new RegExp(`subject '${subject}' was refused as incompatible`));
  });
});

describe('producing', () => {
  it('sends more bytes in one call than the broker accepts in one record batch (message.max.bytes, 1 MiB)', async () => {
    const topic = uniqueName('big-send');
    await provisionTopics(admin, [{ name: topic, partitions: 1 }]);
    const value = Buffer.alloc(3000, 7);
    await producer.send(Array.from({ length: 1000 }, (_, i) => ({ topic, key: `k${i}`, value, partition: 0 })));
    const back = await readAll(client, admin, topic);
    expect(back).toHaveLength(1000);
    expect(back.every((r) => r.value!.equals(value))).toBe(true);
  });

  it('fences the previous producer of a transactional id as soon as the new one is created, before its first transaction', async () => {
    const topic = uniqueName('txn-fence');
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const id = uniqueName('txn-fence-id');
    const old = await client.transactionalProducer(id);
    const fresh = await client.transactionalProducer(id).catch(async (err: unknown) => {
      await old.close();
      throw err;
    });
    try {
      // The old owner still works on: a zombie whose partition moved. Its transaction must fail, whatever it sends.
      await expect(
        (async () => {
          const txn = await old.begin();
          await txn.send([{ topic, key: 'k', value: Buffer.from('from the fenced producer') }]);
          await txn.commit();
        })(),
      ).rejects.toThrow(/fenc|epoch|PRODUCER_FENCED|INVALID_PRODUCER_EPOCH/i);
      expect(await readAll(client, admin, topic)).toHaveLength(0);
    } finally {
      await old.close().catch(() => undefined);
      await fresh.close();
    }
  });

  it('refuses to commit a transaction one of whose sends failed: neither its records nor its offsets become visible', async () => {
    const good = uniqueName('txn-good');
    const small = uniqueName('txn-small');
    const input = uniqueName('txn-input');
    await admin.createTopics([
      { name: good, partitions: 1 },
      { name: input, partitions: 1 },
      { name: small, partitions: 1, config: { 'max.message.bytes': '2000' } },
    ]);
    const group = uniqueName('txn-group');
    const tp = await client.transactionalProducer(uniqueName('txn-id'));
    try {
      const txn = await tp.begin();
      await txn.send([{ topic: good, key: 'k', value: Buffer.from('kept only if the whole transaction is') }]);
      await expect(txn.send([{ topic: small, key: 'k', value: Buffer.alloc(5000, 1) }])).rejects.toThrow(/larger than the max message size/);
      // The broker wrote the first send; committing would publish it, and the offsets, without the refused record.
      await txn.sendOffsets(group, [{ topic: input, partition: 0, offset: '7' }]).catch(() => undefined);
      await expect(txn.commit()).rejects.toThrow(/a send of this transaction failed.*abort/);
      await txn.abort();
    } finally {
      await tp.close();
    }
    expect(await readAll(client, admin, good)).toHaveLength(0);
    expect(await admin.committedOffsets(group, input)).not.toContainEqual(expect.objectContaining({ offset: '7' }));
  });
});

describe('provisioning', () => {
  it('creates the core topics and subjects once, and finds them the second time', async () => {
    const prefix = uniqueName('prov');
    const specs = coreTopicSpecs({ partitions: 3 }).map((s) => ({ ...s, name: `${prefix}.${s.name}` }));
    const first = await provisionTopics(admin, specs);
    expect(first.created.sort()).toEqual(specs.map((s) => s.name).sort());
    const second = await provisionTopics(admin, specs);
    expect(second.created).toEqual([]);
    expect(second.existing.sort()).toEqual(specs.map((s) => s.name).sort());
    const control = await admin.describeTopic(`${prefix}.snapshot-control`, ['cleanup.policy']);
    expect(control).toMatchObject({ partitions: 1, config: { 'cleanup.policy': 'compact' } });
    const uv = await admin.describeTopic(`${prefix}.user-vectors`, ['cleanup.policy']);
    expect(uv).toMatchObject({ partitions: 3, config: { 'cleanup.policy': 'compact' } });

    const subjects = coreSubjects().map((s) => ({ ...s, subject: `${prefix}.${s.subject}` }));
    const ids = await registerSchemas(registry(), subjects);
    const again = await registerSchemas(registry(), subjects);
    expect([...again.entries()]).toEqual([...ids.entries()]);
  });

  it('refuses an existing topic whose partition count differs', async () => {
    const name = uniqueName('mismatch');
    await provisionTopics(admin, [{ name, partitions: 2 }]);
    await expect(provisionTopics(admin, [{ name, partitions: 4 }])).rejects.toThrow(TopicProvisioningError);
    await expect(provisionTopics(admin, [{ name, partitions: 4 }])).rejects.toThrow(/exists with 2 partitions but 4 are configured/);
  });
});
