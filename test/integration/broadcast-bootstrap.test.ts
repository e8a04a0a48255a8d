/**
 * A broadcast input is read to its end before any task processes partitioned
 * input (as Kafka Streams bootstraps global stores): an instance started on a
 * backlog applies every record to the broadcast state that preceded it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Groupings, jsonSerde, StringSerde, TopologyBuilder, type Bolt, type BoltContext, type StreamRecord } from '../../src';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { TopologyRunner } from '../../src/runtime/runner/topology-runner';
import { kafkaClient, readAll, registry, uniqueName, waitFor } from './helpers';

jest.setTimeout(120_000);

let kafka: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
let runner: TopologyRunner | undefined;
const dirs: string[] = [];

beforeAll(async () => {
  kafka = kafkaClient('broadcast-it');
  admin = await kafka.admin();
  producer = await kafka.producer();
});
afterAll(async () => {
  await runner?.stop();
  await producer?.close();
  await admin?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Tags every event with the latest `mode` the broadcast `config` input said, or 'none'. */
class TagBolt implements Bolt {
  private mode = 'none';
  process(record: StreamRecord, ctx: BoltContext): void {
    if (record.source.component === 'config') {
      this.mode = (record.value as { mode: string }).mode;
      return;
    }
    ctx.emit(record.key as string, { id: (record.value as { id: string }).id, mode: this.mode });
  }
}

it('replays the whole broadcast input to every task before it processes a backlog', async () => {
  const app = uniqueName('bcast');
  const t = { events: `${app}-events`, config: `${app}-config`, out: `${app}-out` };
  await admin.createTopics([
    { name: t.events, partitions: 4 },
    { name: t.config, partitions: 1 },
    { name: t.out, partitions: 4 },
  ]);
  const json = jsonSerde<Record<string, string>>();
  await producer.send([1, 2, 3].map((i) => ({ topic: t.config, key: 'mode', value: json.serialize({ mode: `m${i}` }) })));
  const events = Array.from({ length: 400 }, (_, i) => ({ topic: t.events, key: `k${i % 37}`, value: json.serialize({ id: `e${i}`, key: `k${i % 37}` }) }));
  await producer.send(events);

  const topology = new TopologyBuilder(app)
    .spout('events', { topic: t.events, value: jsonSerde(), keyedBy: 'key' })
    .spout('config', { topic: t.config, value: jsonSerde() })
    .bolt('tag', () => new TagBolt(), {
      inputs: [
        { from: 'events', grouping: Groupings.fields('key') },
        { from: 'config', grouping: Groupings.all() },
      ],
    })
    .sink('out', { topic: t.out, from: 'tag', key: StringSerde, value: jsonSerde() })
    .build();
  const dir = mkdtempSync(join(tmpdir(), 'vectors-bcast-'));
  dirs.push(dir);
  runner = new TopologyRunner({ topology, kafka, registry: registry(), stateDir: dir, storeBackend: 'memory', commitIntervalMs: 200, sessionTimeoutMs: 6000 });
  await runner.start();
  await waitFor(async () => (await readAll(kafka, admin, t.out)).length >= events.length, 60_000, 'every event tagged');
  const tags = (await readAll(kafka, admin, t.out)).map((r) => json.deserialize(r.value!).mode);
  expect(tags).toHaveLength(events.length);
  expect(new Set(tags)).toEqual(new Set(['m3']));
});
