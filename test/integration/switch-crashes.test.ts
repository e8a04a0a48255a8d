/**
 * I5 with real processes: kill -9 of the doorman between the last READY and
 * ACTIVATE, and of a worker while it loads a snapshot. Each time the switch
 * completes after the restart, and no partition ever mixes snapshots, neither
 * in user vectors nor in candidates (a candidates process takes part too).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { publishSnapshot, readControlView, writeControl } from '../../src/app/snapshots';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { loadSchema } from '../../src/vectors/contracts';
import { planMember } from '../../src/vectors/doorman/doorman-state';
import type { Candidates, ListenEvent, SnapshotControl, UserVector } from '../../src/vectors/records';
import { writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { clusteredSnapshot } from '../unit/topologies/vectors-fixtures';
import { createVectorsTopics, kafkaClient, readAll, readDecoded, registry, snapshotsFollow, uniqueName, waitCaughtUp, waitFor } from './helpers';
import { Worker } from './workers';

jest.setTimeout(600_000);

const PARTITIONS = 4;
let kafka: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const procs: Worker[] = [];
let dir: string;

beforeAll(async () => {
  kafka = kafkaClient('switch-crashes');
  admin = await kafka.admin();
  producer = await kafka.producer();
  dir = mkdtempSync(join(tmpdir(), 'vectors-crash-'));
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await producer?.close();
  await admin?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('completes a switch after kill -9 of the doorman (after the last READY) and of a worker (while loading)', async () => {
  const tag = uniqueName('crash');
  const { t, snapTopics } = await createVectorsTopics(admin, tag, PARTITIONS);
  const reg = registry();
  const uvName = `${tag}-workers`;
  const candName = `${tag}-candidates`;
  await writeControl(kafka, reg, [planMember(uvName, PARTITIONS, Date.now()), planMember(candName, PARTITIONS, Date.now())], snapTopics);
  const ids = { s1: `${tag}-s1`, s2: `${tag}-s2`, s3: `${tag}-s3` };
  await writeJsonlSnapshot(join(dir, 's1.jsonl'), clusteredSnapshot(ids.s1, 2000, 16, 1));
  await writeJsonlSnapshot(join(dir, 's2.jsonl'), clusteredSnapshot(ids.s2, 2000, 16, 2));
  await writeJsonlSnapshot(join(dir, 's3.jsonl'), clusteredSnapshot(ids.s3, 100_000, 16, 3));

  const common = ['--opt', `topic.control=${t.control}`, '--session-timeout-ms', '6000'];
  const startDoorman = () => {
    const w = new Worker(
      'doorman',
      ['run', 'doorman', '--opt', `name=${tag}-doorman`, '--guarantee', 'exactly-once', '--state-dir', join(dir, 'doorman'), ...common],
      {},
      join(dir, 'doorman.log'),
    );
    procs.push(w);
    return w;
  };
  const startWorker = (id: string, topology: 'user-vectors' | 'candidates' = 'user-vectors') => {
    const w = new Worker(
      id,
      [
        'run',
        topology,
        '--opt',
        `name=${topology === 'candidates' ? candName : uvName}`,
        '--opt',
        'index=exact',
        '--opt',
        `snapshot-prefix=${snapTopics.prefix}`,
        ...Object.entries(t)
          .filter(([k]) => k !== 'control')
          .flatMap(([k, v]) => ['--opt', `topic.${k}=${v}`]),
        '--state-dir',
        join(dir, id),
        '--commit-interval-ms',
        '200',
        ...common,
      ],
      {},
      join(dir, `${id}.log`),
    );
    procs.push(w);
    return w;
  };
  const view = () => readControlView(kafka, reg, snapTopics);
  const ctlSerde = new AvroSerde<SnapshotControl>({ registry: reg, subject: `${t.control}-value`, schema: loadSchema('SnapshotControl') });
  await ctlSerde.prepare();
  const controlLog = async () => {
    const out: { key: string; value: SnapshotControl }[] = [];
    for (const r of await readAll(kafka, admin, t.control)) {
      await ctlSerde.prepareFor(r.value!);
      out.push({ key: r.key!.toString(), value: ctlSerde.deserialize(r.value!) });
    }
    return out;
  };
  /** `<topology>/<partition>` of every READY report for snapshot `id`. */
  const readyPartitions = async (id: string) =>
    new Set(
      (await controlLog())
        .filter((c) => c.value.kind === 'REPORT' && c.value.snapshotId === id && c.value.phase === 'READY')
        .map((c) => `${c.value.topology}/${c.value.partition}`),
    );
  const everyPartition = [candName, uvName].flatMap((name) => Array.from({ length: PARTITIONS }, (_, p) => `${name}/${p}`)).sort();

  const doormanProc = startDoorman();
  const w1 = startWorker('w1');
  const w2 = startWorker('w2');
  const c1 = startWorker('c1', 'candidates');
  await Promise.all([doormanProc, w1, w2, c1].map((p) => p.waitForLog(/"running"/, 60_000)));

  const listenSerde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await listenSerde.prepare();
  let seq = 0;
  const send = async (n: number) => {
    const records = [];
    for (let i = 0; i < n; i++, seq++) {
      const userId = `u${seq % 40}`;
      records.push({
        topic: t.listens,
        key: userId,
        value: listenSerde.serialize({
          eventId: `ev${seq}`,
          userId,
          entityId: `e${(seq * 7) % 2000}`,
          msPlayed: 200_000,
          durationMs: 200_000,
          context: 'radio',
          timestamp: Date.now(),
        }),
      });
    }
    await producer.send(records);
  };

  await publishSnapshot(kafka, reg, { file: join(dir, 's1.jsonl'), snapshotId: ids.s1, model: 'test', topics: snapTopics });
  await waitFor(async () => (await view()).active === ids.s1, 90_000, 'S1 active');
  await send(100);

  // The doorman dies; S2 is published and every partition reports READY while it is down: nobody activates.
  expect(await doormanProc.kill9()).toBeNull();
  await publishSnapshot(kafka, reg, { file: join(dir, 's2.jsonl'), snapshotId: ids.s2, model: 'test', topics: snapTopics });
  await waitFor(async () => (await readyPartitions(ids.s2)).size === everyPartition.length, 90_000, 'S2 READY on every partition of both topologies');
  await new Promise((r) => setTimeout(r, 1000));
  expect((await view()).active).toBe(ids.s1);
  startDoorman(); // a new doorman; the suite stops every process it started
  await waitFor(async () => (await view()).active === ids.s2, 90_000, 'S2 active after the doorman restarted');
  await send(100);

  // A worker dies as soon as S3 is staged, before it reported READY; the switch completes without it, then it comes back.
  const w1Pid = w1.child.pid!;
  const publishing = publishSnapshot(kafka, reg, { file: join(dir, 's3.jsonl'), snapshotId: ids.s3, model: 'test', topics: snapTopics });
  await publishing;
  expect(await w1.kill9()).toBeNull();
  const reportsOfW1 = (await controlLog()).filter(
    (c) => c.value.snapshotId === ids.s3 && c.value.kind === 'REPORT' && (c.value.instanceId ?? '').includes(`-${w1Pid}-`),
  );
  expect(reportsOfW1).toEqual([]); // killed before it finished loading
  const w1again = startWorker('w1');
  await w1again.waitForLog(/"running"/, 60_000);
  await waitFor(async () => (await view()).active === ids.s3, 180_000, 'S3 active after the worker was killed while loading');
  expect([...(await readyPartitions(ids.s3))].sort()).toEqual(everyPartition);
  await new Promise((r) => setTimeout(r, 1500)); // the pointer reaches every task
  const after = Date.now();
  await send(100);

  const vectors = () => readDecoded<UserVector>(kafka, admin, reg, t.userVectors, 'UserVector');
  await waitFor(async () => (await vectors()).filter((v) => v.updatedAt >= after).length >= 100, 90_000, 'vectors after S3');
  const all = await vectors();
  expect(new Set(all.filter((v) => v.updatedAt >= after).map((v) => v.snapshotId))).toEqual(new Set([ids.s3]));
  // Never half-applied: per partition, the snapshots appear in switch order and never go back (I3).
  const order = [ids.s1, ids.s2, ids.s3];
  expect(snapshotsFollow(all, order)).toBe(true);
  // The same for candidates, once the candidates process has answered every request: every list names its
  // snapshot, per partition in switch order (I3), and lists of events after S3 became active are S3.
  await waitCaughtUp(admin, candName, t.candidateRequests, 90_000);
  const lists = await readDecoded<Candidates>(kafka, admin, reg, t.candidates, 'Candidates');
  expect(lists.every((c) => order.includes(c.snapshotId) && c.items.length === 100)).toBe(true);
  expect(snapshotsFollow(lists, order)).toBe(true);
  const listsAfter = lists.filter((c) => c.generatedAt >= after);
  expect(listsAfter.length).toBeGreaterThan(0);
  expect(new Set(listsAfter.map((c) => c.snapshotId))).toEqual(new Set([ids.s3]));
});
