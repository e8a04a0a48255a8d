/**
 * `vectors run user-vectors,candidates`: both topologies in one process on the
 * real stack. The snapshot becomes active only once both report READY for
 * every partition, every user who listens gets a candidate list, and SIGTERM
 * stops both (exit 0).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publishSnapshot, readControlView, writeControl } from '../../src/app/snapshots';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { TopologyRunner } from '../../src/runtime/runner/topology-runner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { loadSchema } from '../../src/vectors/contracts';
import { planMember } from '../../src/vectors/doorman/doorman-state';
import type { ListenEvent } from '../../src/vectors/records';
import { writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { doorman } from '../../topologies/doorman';
import { clusteredSnapshot } from '../unit/topologies/vectors-fixtures';
import { createVectorsTopics, kafkaClient, readAll, registry, uniqueName, waitFor, type VectorsTestTopics } from './helpers';
import { Worker } from './workers';

jest.setTimeout(240_000);

const PARTITIONS = 4;
const USERS = 40;

describe('vectors run with two topologies in one process', () => {
  const tag = uniqueName('together');
  const kafka: KafkaClient = kafkaClient('together');
  const reg = registry();
  let admin: KafkaAdmin;
  let producer: KafkaProducer;
  let topics: VectorsTestTopics;
  let door: TopologyRunner;
  let worker: Worker | undefined;
  let dir: string;

  beforeAll(async () => {
    admin = await kafka.admin();
    producer = await kafka.producer();
    topics = await createVectorsTopics(admin, tag, PARTITIONS);
    dir = mkdtempSync(join(tmpdir(), 'vectors-together-'));
    const now = Date.now();
    await writeControl(kafka, reg, [planMember(`${tag}-uv`, PARTITIONS, now), planMember(`${tag}-cand`, PARTITIONS, now)], topics.snapTopics);
    door = new TopologyRunner({
      topology: doorman({ name: `${tag}-doorman`, controlTopic: topics.t.control, timeoutMs: 120_000 }),
      kafka,
      registry: reg,
      stateDir: join(dir, 'doorman'),
      guarantee: 'exactly-once',
      sessionTimeoutMs: 6000,
    });
    await door.start();
  });

  afterAll(async () => {
    await worker?.stop();
    await door?.stop();
    await producer?.close();
    await admin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('activates a snapshot once both topologies are READY, answers every user with candidates, and stops both on SIGTERM', async () => {
    const { t, snapTopics } = topics;
    const topicOpts = Object.entries(t).flatMap(([k, v]) => ['--opt', `topic.${k}=${v}`]);
    worker = new Worker('together', [
      'run',
      'user-vectors,candidates',
      '--opt',
      `user-vectors:name=${tag}-uv`,
      '--opt',
      `candidates:name=${tag}-cand`,
      '--opt',
      'candidates:k=5',
      ...topicOpts,
      '--snapshot-prefix',
      snapTopics.prefix,
      '--state-dir',
      join(dir, 'together'),
      '--session-timeout-ms',
      '6000',
    ]);
    await worker.waitForLog(new RegExp(`"message":"running","topology":"${tag}-cand"`), 90_000);
    expect(worker.logs).toMatch(new RegExp(`"message":"running","topology":"${tag}-uv"`));

    const id = `${tag}-s1`;
    const file = join(dir, 's1.jsonl');
    await writeJsonlSnapshot(file, clusteredSnapshot(id, 200, 8, 3));
    await publishSnapshot(kafka, reg, { file, snapshotId: id, model: 'test', topics: snapTopics });
    await waitFor(async () => (await readControlView(kafka, reg, snapTopics)).active === id, 90_000, `${id} to become active`);
    // Both topologies of the one process reported READY for every partition.
    const reports = (await readControlView(kafka, reg, snapTopics)).reports.get(id)!;
    const ready = [...reports].filter(([, r]) => r.report === 'READY').map(([k]) => k);
    const expected = [`${tag}-uv`, `${tag}-cand`].flatMap((topology) => Array.from({ length: PARTITIONS }, (_, p) => `${topology}/${p}`));
    expect(ready.sort()).toEqual(expected.sort());

    const serde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
    await serde.prepare();
    const users = Array.from({ length: USERS }, (_, i) => `u${i}`);
    await producer.send(
      users.map((userId, i) => ({
        topic: t.listens,
        key: userId,
        value: serde.serialize({
          eventId: `${tag}-l${i}`,
          userId,
          entityId: `e${i % 200}`,
          msPlayed: 200_000,
          durationMs: 200_000,
          context: 'radio',
          timestamp: Date.now(),
        }),
      })),
    );
    const answered = async () => new Set((await readAll(kafka, admin, t.candidates)).map((r) => r.key!.toString()));
    await waitFor(async () => (await answered()).size === USERS, 90_000, 'a candidate list for every user');
    expect([...(await answered())].sort()).toEqual([...users].sort());

    expect(await worker.stop()).toBe(0);
    worker = undefined;
  });
});
