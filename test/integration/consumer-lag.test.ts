/**
 * The consumer-lag metric reads 0 once an input written by a transactional
 * producer is processed. A transaction's commit marker takes an offset after
 * the last record, so a lag counted from the last record read 1 forever (the
 * doorman's lag at rest, and every exactly-once topology reading another's
 * output).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Groupings, jsonSerde, StringSerde, TopologyBuilder, type Bolt, type BoltContext, type StreamRecord } from '../../src';
import type { KafkaAdmin, KafkaClient } from '../../src/runtime/kafka/client';
import { TopologyRunner } from '../../src/runtime/runner/topology-runner';
import { kafkaClient, readAll, registry, uniqueName, waitFor } from './helpers';

jest.setTimeout(120_000);

let kafka: KafkaClient;
let admin: KafkaAdmin;
let runner: TopologyRunner | undefined;
const dirs: string[] = [];

beforeAll(async () => {
  kafka = kafkaClient('lag-it');
  admin = await kafka.admin();
});
afterAll(async () => {
  await runner?.stop();
  await admin?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

class Forward implements Bolt {
  process(record: StreamRecord, ctx: BoltContext): void {
    ctx.emit(record.key as string, record.value);
  }
}

it('reads 0 at rest on an input whose last offset is a transaction marker', async () => {
  const app = uniqueName('lag');
  const t = { events: `${app}-events`, out: `${app}-out` };
  await admin.createTopics([
    { name: t.events, partitions: 2 },
    { name: t.out, partitions: 2 },
  ]);
  const json = jsonSerde<Record<string, string>>();
  // Two transactions: each ends with a commit marker on the partitions it wrote.
  const txnProducer = await kafka.transactionalProducer(`${app}-upstream`);
  for (const round of [0, 1]) {
    const txn = await txnProducer.begin();
    await txn.send(Array.from({ length: 20 }, (_, i) => ({ topic: t.events, key: `k${i}`, value: json.serialize({ id: `e${round}-${i}`, key: `k${i}` }) })));
    await txn.commit();
  }
  await txnProducer.close();

  const topology = new TopologyBuilder(app)
    .spout('events', { topic: t.events, value: jsonSerde(), keyedBy: 'key' })
    .bolt('forward', () => new Forward(), { inputs: [{ from: 'events', grouping: Groupings.fields('key') }] })
    .sink('out', { topic: t.out, from: 'forward', key: StringSerde, value: jsonSerde() })
    .build();
  const dir = mkdtempSync(join(tmpdir(), 'vectors-lag-'));
  dirs.push(dir);
  runner = new TopologyRunner({ topology, kafka, registry: registry(), stateDir: dir, storeBackend: 'memory', commitIntervalMs: 200, sessionTimeoutMs: 6000 });
  await runner.start();
  await waitFor(async () => (await readAll(kafka, admin, t.out)).length >= 40, 60_000, 'every event forwarded');

  const lag = (await runner.metrics.consumerLag.get()).values.filter((v) => v.labels.topic === t.events);
  // Both partitions got records, so both have a lag sample; each must say the input is read to its end.
  expect(lag.map((v) => v.labels.partition).sort()).toEqual(['0', '1']);
  expect(lag.map((v) => v.value)).toEqual([0, 0]);
});
