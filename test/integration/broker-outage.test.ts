/**
 * A broker outage is routine for at-least-once instances: they wait and
 * reconnect instead of exiting; exactly-once ones end non-zero for their
 * supervisor to restart. Runs on a stack of its own (ports 19292/19293/18281/19281,
 * STACK_DIR .stack-chaos/outage) because it stops the broker; the shared
 * stack is never touched. Two event counters (at-least-once and
 * exactly-once) process, the broker stops for several seconds and starts
 * again: at-least-once goes on without a restart; exactly-once, restarted,
 * counts exactly.
 */
import { join } from 'node:path';
import { ConfluentSchemaRegistry } from '../../src/runtime/serde/confluent-registry';
import { KafkajsClient } from '../../src/runtime/kafka/kafkajs-client';
import type { KafkaAdmin, KafkaClient, KafkaProducer, OutgoingRecord } from '../../src/runtime/kafka/client';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { Int64Serde } from '../../src/runtime/serde/serde';
import { CountedEventSchema, type CountedEvent } from '../../topologies/event-counter';
import { ChaosStack } from '../chaos/stack';
import { readAll, ROOT, waitFor } from './helpers';
import { tempDir, Worker } from './workers';

jest.setTimeout(420_000);

const PARTITIONS = 4;
const KEYS = 40;
const stack = new ChaosStack({
  dir: join(ROOT, '.stack-chaos', 'outage'),
  kafkaPort: 19292,
  kafkaControllerPort: 19293,
  registryPort: 18281,
  registryMgmtPort: 19281,
});
let client: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer | undefined;
let serde: AvroSerde<CountedEvent>;
const workers: Worker[] = [];
const reference = new Map<string, number>();
let seq = 0;

beforeAll(async () => {
  await stack.up();
  client = new KafkajsClient({ brokers: [stack.brokers], clientId: 'outage-it', logLevel: 'nothing' });
  admin = await client.admin();
  await admin.createTopics(['events', 'outage-alos-counts', 'outage-eos-counts'].map((name) => ({ name, partitions: PARTITIONS })));
  serde = new AvroSerde<CountedEvent>({ registry: new ConfluentSchemaRegistry(stack.registryUrl), subject: 'events-value', schema: CountedEventSchema });
  await serde.prepare();
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await producer?.close().catch(() => undefined);
  await admin?.close().catch(() => undefined);
  await stack.down();
});

function counter(app: string, guarantee: string, stateRoot: string): Worker {
  const w = new Worker(
    app,
    [
      'run',
      'event-counter',
      '--opt',
      `name=${app}`,
      '--opt',
      'input=events',
      '--opt',
      `output=${app}-counts`,
      '--guarantee',
      guarantee,
      '--state-dir',
      join(stateRoot, app),
      '--session-timeout-ms',
      '6000',
      // Long enough that the outage begins with work to commit: the commit then meets the outage, whatever the timing.
      '--commit-interval-ms',
      '10000',
    ],
    stack.clientEnv(),
    join(stateRoot, `${app}.log`),
  );
  workers.push(w);
  return w;
}

async function send(n: number): Promise<void> {
  const records: OutgoingRecord[] = [];
  for (let i = 0; i < n; i++) {
    const key = `k${seq % KEYS}`;
    reference.set(key, (reference.get(key) ?? 0) + 1);
    records.push({ topic: 'events', key, value: serde.serialize({ id: String(seq), key, timestamp: 1_700_000_000_000 + seq }) });
    seq++;
  }
  producer ??= await client.producer();
  await producer.send(records);
}

/** Latest count per key on an output topic. */
async function lastCounts(topic: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const records = (await readAll(client, admin, topic)).sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  for (const r of records) out.set(r.key!.toString(), Int64Serde.deserialize(r.value!));
  return out;
}

const exact = async (topic: string) => {
  const counts = await lastCounts(topic);
  return [...reference].every(([k, n]) => counts.get(k) === n);
};
/** At-least-once may count the records since its last commit twice, never fewer. */
const atLeast = async (topic: string) => {
  const counts = await lastCounts(topic);
  return [...reference].every(([k, n]) => (counts.get(k) ?? 0) >= n);
};

it('at-least-once runs through a broker outage; exactly-once ends non-zero and, restarted, counts exactly', async () => {
  const stateRoot = tempDir('outage');
  const alos = counter('outage-alos', 'at-least-once', stateRoot);
  const eos = counter('outage-eos', 'exactly-once', stateRoot);
  await Promise.all([alos, eos].map((w) => w.waitForLog(/"tasks assigned"/, 120_000)));
  // Exactly-once commits once, so that its first transaction is behind it.
  await send(40);
  await waitFor(() => exact('outage-eos-counts'), 90_000, 'exactly-once counts of a first commit');
  await send(400);
  // At-least-once outputs are out before the commit; exactly-once ones wait in the open transaction.
  await waitFor(() => atLeast('outage-alos-counts'), 90_000, 'at-least-once counts before the outage');

  await producer!.close();
  producer = undefined;
  await stack.kafkaDown();
  // The commit due within 10 s meets the outage: at-least-once ended here with exit code 1 before reconnection was built.
  await alos.waitForLog(/Kafka unavailable/, 90_000);
  expect(await alos.exitWithin(5_000)).toBe('still running');
  // Exactly-once ends, naming Kafka, and commits nothing more; its supervisor restarts it (docs/RELIABILITY.md).
  expect(await eos.exitWithin(90_000)).toBe(1);
  expect(eos.logs).toMatch(/"topology runner failed".*VEC_ERR_KAFKA/);
  await stack.kafkaUp();
  const eos2 = counter('outage-eos', 'exactly-once', stateRoot);

  await send(400);
  await alos.waitForLog(/reconnected to Kafka/, 120_000);
  await waitFor(() => exact('outage-eos-counts'), 120_000, 'exactly-once counts after the outage and a restart');
  await waitFor(() => atLeast('outage-alos-counts'), 120_000, 'at-least-once counts after the outage');
  expect(alos.child.exitCode).toBeNull();
  expect(eos2.child.exitCode).toBeNull();
  // One instance: after reconnecting it holds every task. The consumer closed during the outage must not come back
  // into the group (kafkajs restarts crashed consumers by itself) and hold half of them.
  const lastAssignment = (w: Worker) => [...w.logs.matchAll(/"tasks assigned".*?"tasks":(\[[^\]]*\])/g)].pop()?.[1];
  expect(lastAssignment(alos)).toBe('["0_0","0_1","0_2","0_3"]');
  // A fatal failure logs this; an outage must not, at least once.
  expect(alos.logs).not.toMatch(/topology runner failed/);
});
