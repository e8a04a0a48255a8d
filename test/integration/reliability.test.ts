/**
 * Regression tests for faults found by operating the system from outside
 * (real broker, real registry, real processes through the CLI): a peer that
 * restarts, a second application id on the same cluster, a registry outage
 * and a poison record too large for its dead-letter copy; misrouted records
 * rerouted by two applications reading one topic.
 */
import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket, connect } from 'node:net';
import { join } from 'node:path';
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { DlqHeaders } from '../../src/runtime/dlq';
import { ErrorCodes } from '../../src/errors';
import type { KafkaAdmin, KafkaClient, KafkaProducer, OutgoingRecord } from '../../src/runtime/kafka/client';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { Int64Serde } from '../../src/runtime/serde/serde';
import { partitionForKey } from '../../src/runtime/partitioner';
import { REROUTED_HEADER } from '../../src/runtime/task';
import { CountedEventSchema, type CountedEvent } from '../../topologies/event-counter';
import { kafkaClient, readAll, registry, stackEnv, uniqueName, waitFor } from './helpers';
import { tempDir, Worker } from './workers';

jest.setTimeout(300_000);

let client: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const workers: Worker[] = [];

beforeAll(async () => {
  client = kafkaClient('reliability-it');
  admin = await client.admin();
  producer = await client.producer();
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await producer?.close();
  await admin?.close();
});

interface Setup {
  app: string;
  input: string;
  output: string;
  serde: AvroSerde<CountedEvent>;
  stateRoot: string;
  reference: Map<string, number>;
  seq: number;
}

async function setup(label: string, partitions: number): Promise<Setup> {
  const app = uniqueName(label);
  const input = `${app}-events`;
  const output = `${app}-counts`;
  await admin.createTopics([
    { name: input, partitions },
    { name: output, partitions },
  ]);
  const serde = new AvroSerde<CountedEvent>({ registry: registry(), subject: `${input}-value`, schema: CountedEventSchema });
  await serde.prepare();
  return { app, input, output, serde, stateRoot: tempDir(label), reference: new Map(), seq: 0 };
}

function counter(s: Setup, id: string, extra: string[] = [], output = s.output): Worker {
  const w = new Worker(
    id,
    [
      'run',
      'event-counter',
      '--opt',
      `name=${s.app}`,
      '--opt',
      `input=${s.input}`,
      '--opt',
      `output=${output}`,
      '--state-dir',
      join(s.stateRoot, id),
      '--session-timeout-ms',
      '6000',
      ...extra,
    ],
    {},
    join(s.stateRoot, `${id}.log`),
  );
  workers.push(w);
  return w;
}

/** `n` good events over `keys` keys, counted in the reference. */
function events(s: Setup, n: number, keys: number, serde: AvroSerde<CountedEvent> = s.serde): OutgoingRecord[] {
  const out: OutgoingRecord[] = [];
  for (let i = 0; i < n; i++) {
    const seq = s.seq++;
    const key = `k${seq % keys}`;
    s.reference.set(key, (s.reference.get(key) ?? 0) + 1);
    out.push({ topic: s.input, key, value: serde.serialize({ id: String(seq), key, timestamp: 1_700_000_000_000 + seq }) });
  }
  return out;
}

async function committedAll(group: string, topic: string): Promise<boolean> {
  const ends = await admin.topicOffsets(topic);
  const committed = await admin.committedOffsets(group, topic);
  // A partition that never had a record has no committed offset.
  return ends.every((e) => e.high === e.low || committed.find((c) => c.partition === e.partition)?.offset === e.high);
}

/** Latest count per key on an output topic. */
async function lastCounts(topic: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const records = (await readAll(client, admin, topic)).sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  for (const r of records) out.set(r.key!.toString(), Int64Serde.deserialize(r.value!));
  return out;
}

async function endOffsets(topic: string): Promise<string[]> {
  return (await admin.topicOffsets(topic)).sort((a, b) => a.partition - b.partition).map((o) => o.high);
}

it('keeps a surviving instance processing when its peer is killed and restarts (no silent zombie)', async () => {
  const s = await setup('zombie', 4);
  const a = counter(s, 'a');
  const b = counter(s, 'b');
  await Promise.all([a.waitForLog(/"running"/, 60_000), b.waitForLog(/"running"/, 60_000)]);
  // Light traffic throughout, so that the survivor commits while the group rebalances.
  let producing = true;
  const traffic = (async () => {
    while (producing) {
      await producer.send(events(s, 20, 40));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  let peer = b;
  for (let cycle = 0; cycle < 3; cycle++) {
    await new Promise((r) => setTimeout(r, 2000));
    await peer.kill9();
    // The restarted peer joins as a new member while the dead one is still in the group.
    peer = counter(s, 'b');
    await peer.waitForLog(/"tasks assigned".*"0_/, 60_000);
  }
  await new Promise((r) => setTimeout(r, 3000));
  producing = false;
  await traffic;
  await waitFor(() => committedAll(s.app, s.input), 90_000, 'every event committed');

  expect(a.logs).not.toMatch(/topology runner failed|topology stopped/);
  expect(a.child.exitCode).toBeNull();
  // The survivor still owns partitions after the last rebalance, and processed its share.
  const lastAssignment = JSON.parse(
    a.logs
      .trim()
      .split('\n')
      .filter((l) => l.includes('"tasks assigned"'))
      .pop()!,
  ).tasks as string[];
  expect(lastAssignment.length).toBeGreaterThan(0);
  const counts = await lastCounts(s.output);
  for (const [key, n] of s.reference) expect(counts.get(key) ?? 0).toBeGreaterThanOrEqual(n); // at-least-once: nothing missed
  expect(await a.stop()).toBe(0);
  expect(await peer.stop()).toBe(0);
});

/** Sets a topic config through kafkajs' own admin: an operator's change the product's admin has no call for. */
async function setTopicConfig(topic: string, name: string, value: string): Promise<void> {
  const kafkaAdmin = new Kafka({ brokers: stackEnv().brokers, clientId: 'reliability-config', logLevel: logLevel.NOTHING }).admin();
  await kafkaAdmin.connect();
  try {
    await kafkaAdmin.alterConfigs({ validateOnly: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name, value }] }] });
  } finally {
    await kafkaAdmin.disconnect();
  }
}

it.each(['at-least-once', 'exactly-once'])(
  'ends the process non-zero, committing nothing past it, when a record can be neither processed nor dead-lettered (%s)',
  async (guarantee) => {
    const s = await setup('fatal', 1);
    await producer.send(events(s, 3, 2));
    const a = counter(s, 'a', ['--guarantee', guarantee]);
    await waitFor(() => committedAll(s.app, s.input), 60_000, 'first events committed');
    // An operator shrinks the DLQ topic's record limit below what the runner read at start:
    // the broker now refuses the dead-letter copy of the next poison record, for good.
    await setTopicConfig(`${s.app}-dlq`, 'max.message.bytes', '2000');
    await producer.send([{ topic: s.input, key: 'k0', value: Buffer.alloc(5000, 1) }, ...events(s, 3, 2)]);
    const code = await a.exitWithin(90_000);
    expect(a.logs).toMatch(/topology runner failed/);
    expect(code).not.toBe('still running');
    expect(code).not.toBe(0); // a code a supervisor sees
    const committed = await admin.committedOffsets(s.app, s.input);
    expect(committed[0]?.offset).toBe('3'); // the poison record is not committed past

    // With the limit back, a restart dead-letters it and counts the rest: nothing was lost.
    await setTopicConfig(`${s.app}-dlq`, 'max.message.bytes', '1048588');
    const a2 = counter(s, 'a', ['--guarantee', guarantee]);
    await waitFor(() => committedAll(s.app, s.input), 60_000, 'every record committed after the restart');
    // The offsets can be visible a moment before the transaction's marker reaches the DLQ partition.
    await waitFor(async () => (await readAll(client, admin, `${s.app}-dlq`)).length > 0, 30_000, 'the dead-letter copy readable');
    expect(await readAll(client, admin, `${s.app}-dlq`)).toHaveLength(1);
    expect(Object.fromEntries(await lastCounts(s.output))).toEqual(Object.fromEntries(s.reference));
    expect(await a2.stop()).toBe(0);
  },
);

it('exactly-once: ends the process non-zero, committing nothing more, when every transaction of a task fails the same way', async () => {
  const s = await setup('txn-fails', 1);
  await producer.send(events(s, 3, 2));
  const a = counter(s, 'a', ['--guarantee', 'exactly-once']);
  await waitFor(() => committedAll(s.app, s.input), 60_000, 'first events committed');
  // The changelog now refuses every record batch: each commit's transaction fails, and reprocessing cannot help.
  await setTopicConfig(`${s.app}-counts-changelog`, 'max.message.bytes', '10');
  await producer.send(events(s, 3, 2));
  const code = await a.exitWithin(60_000);
  expect(code).not.toBe('still running');
  expect(code).not.toBe(0);
  expect(a.logs).toMatch(/topology runner failed/);
  expect((await admin.committedOffsets(s.app, s.input))[0]?.offset).toBe('3');
});

it('keeps the state of two application ids on one cluster apart', async () => {
  const s = await setup('appid', 2);
  await producer.send(events(s, 200, 20));
  const first = counter(s, 'first');
  await waitFor(() => committedAll(s.app, s.input), 90_000, `group ${s.app} to commit everything`);
  expect(await first.stop()).toBe(0);
  const firstChangelog = `${s.app}-counts-changelog`;
  const before = await endOffsets(firstChangelog);

  const other = `${s.app}-other`;
  await admin.createTopics([{ name: `${s.app}-counts-other`, partitions: 2 }]);
  const second = counter(s, 'second', ['--application-id', other], `${s.app}-counts-other`);
  await waitFor(() => committedAll(other, s.input), 90_000, `group ${other} to commit everything`);
  expect(await second.stop()).toBe(0);

  // The second application counted the input once, from its own empty state...
  const counts = await lastCounts(`${s.app}-counts-other`);
  expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(s.reference));
  // ...in its own internal topics, and never wrote to the first one's changelog.
  expect(await admin.describeTopic(`${other}-counts-changelog`)).toBeDefined();
  expect(await admin.describeTopic(`${other}-dlq`)).toBeDefined();
  expect(await endOffsets(firstChangelog)).toEqual(before);
});

it('dead-letters a poison record too large for a whole copy, cut to fit, and goes on', async () => {
  const s = await setup('oversize', 1);
  // Just under the broker's default max.message.bytes: the broker takes it, a copy with DLQ headers would not fit.
  const huge = Buffer.alloc(1_048_490, 7);
  await producer.send([...events(s, 2, 2), { topic: s.input, key: 'k0', value: huge }]);
  await producer.send(events(s, 3, 2));
  const w = counter(s, 'w');
  await waitFor(() => committedAll(s.app, s.input), 90_000, 'every record committed');

  const dead = await readAll(client, admin, `${s.app}-dlq`);
  expect(dead).toHaveLength(1);
  const h = (name: string) => dead[0]!.headers[name]?.toString('utf8');
  expect(h(DlqHeaders.errorCode)).toBe(ErrorCodes.WIRE_FORMAT);
  expect(h(DlqHeaders.truncated)).toBe('true');
  expect(h(DlqHeaders.originalSize)).toBe(String(huge.length));
  expect(h(DlqHeaders.originalSha256)).toBe(createHash('sha256').update(huge).digest('hex'));
  expect(h(DlqHeaders.offset)).toBe('2');
  expect(dead[0]!.value!.length).toBeLessThan(huge.length);
  expect(dead[0]!.value!.equals(huge.subarray(0, dead[0]!.value!.length))).toBe(true);
  expect(w.logs).toMatch(/"record dead-lettered".*"truncated":true/);
  expect(Object.fromEntries(await lastCounts(s.output))).toEqual(Object.fromEntries(s.reference));
  expect(await w.stop()).toBe(0);
});

/** A TCP relay to the real registry that can be taken down and brought back, to stage an outage. */
class RegistryRelay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  readonly target: URL;

  constructor(readonly port: number) {
    this.target = new URL(stackEnv().registryUrl);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}${this.target.pathname}`;
  }

  async up(): Promise<void> {
    this.server = createServer((inbound) => {
      const outbound = connect(Number(this.target.port), this.target.hostname);
      for (const sock of [inbound, outbound]) {
        this.sockets.add(sock);
        sock.on('close', () => this.sockets.delete(sock));
        sock.on('error', () => undefined);
      }
      inbound.pipe(outbound).pipe(inbound);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }

  async down(): Promise<void> {
    for (const sock of this.sockets) sock.destroy();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

it('holds records back while the registry is unreachable and processes them when it returns, dead-lettering none', async () => {
  const s = await setup('registry-outage', 2);
  const relay = new RegistryRelay(39000 + Math.floor(Math.random() * 900));
  await relay.up();
  try {
    const w = counter(s, 'w', ['--registry', relay.url]);
    await w.waitForLog(/"running"/, 60_000);
    await producer.send(events(s, 10, 4));
    await waitFor(() => committedAll(s.app, s.input), 60_000, 'first events committed');

    // A producer starts writing a newer schema version: its id is new to the worker, which must ask the registry.
    const v2 = new AvroSerde<CountedEvent>({
      registry: registry(),
      subject: `${s.input}-value`,
      schema: { ...CountedEventSchema, fields: [...CountedEventSchema.fields, { name: 'note', type: ['null', 'string'], default: null }] },
    });
    await v2.prepare();
    await relay.down();
    await producer.send([...events(s, 10, 4, v2), ...events(s, 10, 4)]);
    await w.waitForLog(/"record held back by a retriable failure; retrying".*VEC_ERR_SCHEMA_REGISTRY/, 60_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await committedAll(s.app, s.input)).toBe(false);
    expect(await readAll(client, admin, `${s.app}-dlq`)).toHaveLength(0);

    await relay.up();
    await waitFor(() => committedAll(s.app, s.input), 60_000, 'every event committed after the registry returned');
    expect(await readAll(client, admin, `${s.app}-dlq`)).toHaveLength(0);
    expect(Object.fromEntries(await lastCounts(s.output))).toEqual(Object.fromEntries(s.reference));
    expect(await w.stop()).toBe(0);
  } finally {
    await relay.down();
  }
});

it('moves records of a producer that does not partition by murmur2 to the partition that owns their key', async () => {
  const s = await setup('misrouted', 4);
  const partitionOf = (key: string) => partitionForKey(Buffer.from(key), 4);
  // Half the keys come from a producer with another partitioner (librdkafka's CRC32 default): another partition.
  const records = events(s, 80, 8).map((r) => (Number((r.key as string).slice(1)) % 2 ? { ...r, partition: (partitionOf(r.key as string) + 1) % 4 } : r));
  await producer.send(records);
  const w = counter(s, 'w');
  await waitFor(() => committedAll(s.app, s.input), 90_000, 'every record committed');
  await w.waitForLog(/not partitioned by murmur2\(key\).*partitioner=murmur2_random/, 10_000);

  // Each key's state lives in the task of its murmur2 partition only, and counts all its events.
  const changelog = await readAll(client, admin, `${s.app}-counts-changelog`);
  const state = new Map<string, number>();
  for (const r of changelog.sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)))) {
    const key = r.key!.toString();
    expect({ key, partition: r.partition }).toEqual({ key, partition: partitionOf(key) });
    state.set(key, Int64Serde.deserialize(r.value!));
  }
  expect(Object.fromEntries(state)).toEqual(Object.fromEntries(s.reference));
  expect(await readAll(client, admin, `${s.app}-dlq`)).toHaveLength(0);
  expect(await w.stop()).toBe(0);
});

it('counts each misrouted record once in each of two applications reading the topic, though both reroute it', async () => {
  const s = await setup('misrouted-two-apps', 4);
  const partitionOf = (key: string) => partitionForKey(Buffer.from(key), 4);
  const records = events(s, 80, 8).map((r) => (Number((r.key as string).slice(1)) % 2 ? { ...r, partition: (partitionOf(r.key as string) + 1) % 4 } : r));
  await producer.send(records);
  const first = counter(s, 'first');
  await waitFor(() => committedAll(s.app, s.input), 90_000, 'the first application committed every record');
  // A second application on the same input: it reroutes the misrouted records itself and
  // meets the first one's copies, as the first meets its copies.
  const other = `${s.app}-other`;
  await admin.createTopics([{ name: `${s.app}-counts-other`, partitions: 4 }]);
  const second = counter(s, 'second', ['--application-id', other], `${s.app}-counts-other`);
  await waitFor(() => committedAll(other, s.input), 90_000, 'the second application committed every record');
  await waitFor(() => committedAll(s.app, s.input), 90_000, "the first application committed the second one's copies");
  expect((await readAll(client, admin, s.input)).filter((r) => r.headers[REROUTED_HEADER] !== undefined)).toHaveLength(
    2 * records.filter((r) => r.partition !== undefined).length,
  );
  expect(Object.fromEntries(await lastCounts(s.output))).toEqual(Object.fromEntries(s.reference));
  expect(Object.fromEntries(await lastCounts(`${s.app}-counts-other`))).toEqual(Object.fromEntries(s.reference));
  expect(await first.stop()).toBe(0);
  expect(await second.stop()).toBe(0);
});
