/**
 * A small vectors system on the real stack for tests of the query API's
 * pages and documents: unique topics, a doorman, one user-vectors instance
 * with its QueryServer (the doorman's /metrics as a peer, as `npm start`
 * runs them), and helpers to publish snapshots and send listens.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryServer } from '../../src/api/query-server';
import { ControlLog, KafkaSnapshotSource, publishSnapshot, readControlView, writeControl } from '../../src/app/snapshots';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { startMetricsServer, type MetricsServer } from '../../src/runtime/metrics/metrics-server';
import { TopologyRunner } from '../../src/runtime/runner/topology-runner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import type { ConfluentSchemaRegistry } from '../../src/runtime/serde/confluent-registry';
import { loadSchema } from '../../src/vectors/contracts';
import { planMember } from '../../src/vectors/doorman/doorman-state';
import type { ListenEvent } from '../../src/vectors/records';
import { SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import { writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { doorman } from '../../topologies/doorman';
import { userVectors } from '../../topologies/user-vectors';
import { clusteredSnapshot } from '../unit/topologies/vectors-fixtures';
import { createVectorsTopics, kafkaClient, registry, uniqueName, waitFor, type VectorsTestTopics } from './helpers';

/** One user-vectors instance (a process, in production) with its query API. */
export interface UserVectorsInstance {
  runner: TopologyRunner;
  /** The query API's base URL. */
  url: string;
  /** Stops the query API and the runner (the runner leaves the group). */
  close(): Promise<void>;
}

export interface UserVectorsSystem extends VectorsTestTopics {
  tag: string;
  /** The first instance's query API. */
  url: string;
  /** Name of the user-vectors topology (its metrics' `topology` label). */
  userVectorsName: string;
  /** The first instance's runner. */
  runner: TopologyRunner;
  first: UserVectorsInstance;
  /** Starts another instance in the same group, with its own (empty) state directory `name`. */
  startInstance(name: string): Promise<UserVectorsInstance>;
  kafka: KafkaClient;
  registry: ConfluentSchemaRegistry;
  /** Writes a clustered snapshot `<tag>-<suffix>` of `entities` entities (ids e0…) and publishes it; resolves with its id. */
  publish(suffix: string, entities?: number): Promise<string>;
  /** Waits until the doorman made `id` active. */
  waitActive(id: string, timeoutMs?: number): Promise<void>;
  /** Sends `perUser` listens for each of users u0…u{users-1}, of entities e0… (in sends of at most 5,000). */
  sendListens(users: number, perUser: number): Promise<void>;
  close(): Promise<void>;
}

export async function startUserVectorsSystem(prefix: string, o: { partitions?: number; dims?: number } = {}): Promise<UserVectorsSystem> {
  const partitions = o.partitions ?? 4;
  const dims = o.dims ?? 16;
  const tag = uniqueName(prefix);
  const kafka = kafkaClient(prefix);
  const reg = registry();
  const closers: (() => Promise<unknown>)[] = [];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };
  try {
    const admin: KafkaAdmin = await kafka.admin();
    closers.push(() => admin.close());
    const producer: KafkaProducer = await kafka.producer();
    closers.push(() => producer.close());
    const topics = await createVectorsTopics(admin, tag, partitions);
    const { t, snapTopics } = topics;
    const userVectorsName = `${tag}-uv`;
    await writeControl(kafka, reg, [planMember(userVectorsName, partitions, Date.now())], snapTopics);
    const dir = mkdtempSync(join(tmpdir(), `vectors-${prefix}-`));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));

    const door = new TopologyRunner({
      topology: doorman({ name: `${tag}-doorman`, controlTopic: t.control, timeoutMs: 120_000 }),
      kafka,
      registry: reg,
      stateDir: join(dir, 'doorman'),
      guarantee: 'exactly-once',
      sessionTimeoutMs: 6000,
    });
    closers.push(() => door.stop());
    await door.start();
    const doorMetrics: MetricsServer = await startMetricsServer({ registry: door.metrics.registry, port: 0 });
    closers.push(() => doorMetrics.close());

    const startInstance = async (name: string): Promise<UserVectorsInstance> => {
      const catalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, reg, snapTopics));
      const runner = new TopologyRunner({
        topology: userVectors({ catalog, name: userVectorsName, topics: t }),
        kafka,
        registry: reg,
        stateDir: join(dir, name),
        sessionTimeoutMs: 6000,
        commitIntervalMs: 200,
      });
      const control = new ControlLog(kafka, reg, snapTopics);
      const server = new QueryServer({ runner, catalog, control, port: 0, metricsPeers: [`${doorMetrics.url}/metrics`], statusSampleMs: 1000 });
      let closed: Promise<void> | undefined;
      const close = () =>
        (closed ??= (async () => {
          await server.close();
          await runner.stop();
          await control.close();
        })());
      closers.push(close);
      const url = await server.listen();
      await runner.start();
      return { runner, url, close };
    };
    const first = await startInstance('uv');

    const listenSerde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
    await listenSerde.prepare();
    let seq = 0;
    return {
      ...topics,
      tag,
      url: first.url,
      userVectorsName,
      runner: first.runner,
      first,
      startInstance,
      kafka,
      registry: reg,
      async publish(suffix, entities = 300) {
        const id = `${tag}-${suffix}`;
        const file = join(dir, `${id}.jsonl`);
        await writeJsonlSnapshot(file, clusteredSnapshot(id, entities, dims, seq + 11));
        await publishSnapshot(kafka, reg, { file, snapshotId: id, model: 'test', topics: snapTopics });
        return id;
      },
      async waitActive(id, timeoutMs = 90_000) {
        await waitFor(async () => (await readControlView(kafka, reg, snapTopics)).active === id, timeoutMs, `${id} to become active`);
      },
      async sendListens(users, perUser) {
        const records = [];
        for (let u = 0; u < users; u++) {
          for (let i = 0; i < perUser; i++, seq++) {
            const userId = `u${u}`;
            const value: ListenEvent = {
              eventId: `ev${seq}`,
              userId,
              entityId: `e${(seq * 7) % 300}`,
              msPlayed: 180_000,
              durationMs: 200_000,
              context: 'radio',
              timestamp: Date.now(),
            };
            records.push({ topic: t.listens, key: userId, value: listenSerde.serialize(value) });
          }
        }
        for (let i = 0; i < records.length; i += 5000) await producer.send(records.slice(i, i + 5000));
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
