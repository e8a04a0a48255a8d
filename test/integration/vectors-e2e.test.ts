/**
 * The mission end to end on the real broker and registry: snapshots published
 * from files, the doorman, the user-vectors and the candidates topologies
 * running, events flowing while snapshots are switched, a broken snapshot
 * refused, a rollback.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaSnapshotSource, publishSnapshot, readControlView, writeControl } from '../../src/app/snapshots';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { TopologyRunner } from '../../src/runtime/runner/topology-runner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { loadSchema } from '../../src/vectors/contracts';
import { planMember, planRollback } from '../../src/vectors/doorman/doorman-state';
import type { Candidates, ListenEvent, SnapshotControl, UserVector } from '../../src/vectors/records';
import { SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import { writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { doorman } from '../../topologies/doorman';
import { candidates } from '../../topologies/candidates';
import { userVectors } from '../../topologies/user-vectors';
import { clusteredSnapshot } from '../unit/topologies/vectors-fixtures';
import { createVectorsTopics, kafkaClient, readAll, readDecoded, registry, snapshotsFollow, uniqueName, waitCaughtUp, waitFor } from './helpers';

jest.setTimeout(300_000);

const PARTITIONS = 4;
const DIMS = 16;

let kafka: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const runners: TopologyRunner[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  kafka = kafkaClient('vectors-e2e');
  admin = await kafka.admin();
  producer = await kafka.producer();
});
afterAll(async () => {
  for (const r of runners) await r.stop();
  await producer?.close();
  await admin?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('switches snapshots atomically while events flow, refuses a broken one, and rolls back', async () => {
  const tag = uniqueName('e2e');
  const { t, snapTopics } = await createVectorsTopics(admin, tag, PARTITIONS);
  const reg = registry();
  const uvName = `${tag}-uv`;
  const candName = `${tag}-cand`;
  await writeControl(kafka, reg, [planMember(uvName, PARTITIONS, Date.now()), planMember(candName, PARTITIONS, Date.now())], snapTopics);

  const dir = mkdtempSync(join(tmpdir(), 'vectors-e2e-'));
  dirs.push(dir);
  const ids = { s1: `${tag}-s1`, s2: `${tag}-s2`, s3: `${tag}-s3` };
  for (const [k, seed] of [
    ['s1', 1],
    ['s2', 2],
    ['s3', 3],
  ] as const) {
    await writeJsonlSnapshot(join(dir, `${k}.jsonl`), clusteredSnapshot(ids[k], 2000, DIMS, seed));
  }

  // One catalog per topology, as in separate processes: each loads and indexes every snapshot itself.
  const catalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, reg, snapTopics), { index: 'hnsw' });
  const candCatalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, reg, snapTopics), { index: 'hnsw' });
  const door = new TopologyRunner({
    topology: doorman({ name: `${tag}-doorman`, controlTopic: t.control, timeoutMs: 120_000 }),
    kafka,
    registry: reg,
    stateDir: join(dir, 'doorman'),
    guarantee: 'exactly-once',
    sessionTimeoutMs: 6000,
  });
  const uv = new TopologyRunner({
    topology: userVectors({ catalog, name: uvName, topics: t }),
    kafka,
    registry: reg,
    stateDir: join(dir, 'uv'),
    sessionTimeoutMs: 6000,
    commitIntervalMs: 200,
  });
  // At most one list per user per second of event time: the default 5 s would be longer than the phases of this test.
  const cand = new TopologyRunner({
    topology: candidates({ catalog: candCatalog, name: candName, topics: t, k: 50, refresh: { minIntervalMs: 1000 } }),
    kafka,
    registry: reg,
    stateDir: join(dir, 'cand'),
    sessionTimeoutMs: 6000,
    commitIntervalMs: 200,
  });
  runners.push(door, uv, cand);
  await door.start();
  await uv.start();
  await cand.start();

  const listenSerde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await listenSerde.prepare();
  let seq = 0;
  const sendListens = async (n: number) => {
    const records = [];
    for (let i = 0; i < n; i++) {
      const userId = `u${seq % 50}`;
      records.push({
        topic: t.listens,
        key: userId,
        value: listenSerde.serialize({
          eventId: `ev${seq}`,
          userId,
          entityId: `e${(seq * 13) % 2000}`,
          msPlayed: 180_000,
          durationMs: 200_000,
          context: 'radio',
          timestamp: Date.now(),
        }),
      });
      seq++;
    }
    await producer.send(records);
  };
  const controlView = () => readControlView(kafka, reg, snapTopics);

  // S1: published, every partition READY, activated by the doorman.
  await publishSnapshot(kafka, reg, { file: join(dir, 's1.jsonl'), snapshotId: ids.s1, model: 'test', topics: snapTopics });
  await waitFor(async () => (await controlView()).active === ids.s1, 90_000, 'S1 to become active');
  await sendListens(200);
  /** User vectors in partition, then offset order, with their partition. */
  const decodeAll = () => readDecoded<UserVector>(kafka, admin, reg, t.userVectors, 'UserVector');
  /** Outputs of events sent at or after `since` (events carry their send time; a user vector its latest event's). */
  const since = async (ts: number) => (await decodeAll()).filter((u) => u.updatedAt >= ts);
  /** Waits until the workers have seen the control log's latest pointer (it reaches them through their broadcast reader). */
  const settle = () => new Promise((r) => setTimeout(r, 1500));
  await waitFor(async () => (await decodeAll()).length >= 200, 60_000, 'user vectors for 200 events');
  expect(new Set((await decodeAll()).map((u) => u.snapshotId))).toEqual(new Set([ids.s1]));

  // S2 staged while events keep flowing; ACTIVATE only after every partition is READY (I1).
  const flowing = (async () => {
    for (let i = 0; i < 10; i++) {
      await sendListens(50);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  await publishSnapshot(kafka, reg, { file: join(dir, 's2.jsonl'), snapshotId: ids.s2, model: 'test', topics: snapTopics });
  await flowing;
  await waitFor(async () => (await controlView()).active === ids.s2, 90_000, 'S2 to become active');
  const controlLog = await readAll(kafka, admin, t.control);
  const ctlSerde = new AvroSerde<SnapshotControl>({ registry: reg, subject: `${t.control}-value`, schema: loadSchema('SnapshotControl') });
  await ctlSerde.prepare();
  const decoded: { key: string; value: SnapshotControl }[] = [];
  for (const r of controlLog) {
    await ctlSerde.prepareFor(r.value!);
    decoded.push({ key: r.key!.toString(), value: ctlSerde.deserialize(r.value!) });
  }
  const activateAt = decoded.findIndex((d) => d.key === 'active' && d.value.snapshotId === ids.s2);
  const readyBefore = new Set(
    decoded
      .slice(0, activateAt)
      .filter((d) => d.value.kind === 'REPORT' && d.value.snapshotId === ids.s2 && d.value.phase === 'READY')
      .map((d) => `${d.value.topology}/${d.value.partition}`),
  );
  expect([...readyBefore].sort()).toEqual([candName, uvName].flatMap((name) => [0, 1, 2, 3].map((p) => `${name}/${p}`)).sort());

  // I3: in every partition, once an S2 vector was written no S1 vector follows.
  expect(snapshotsFollow(await decodeAll(), [ids.s1, ids.s2])).toBe(true);
  // Every output of an event sent after the switch names S2 (I2: one snapshot per record).
  await settle();
  const switchedAt = Date.now();
  await sendListens(100);
  await waitFor(async () => (await since(switchedAt)).length >= 100, 60_000, 'user vectors after the switch');
  expect(new Set((await since(switchedAt)).map((u) => u.snapshotId))).toEqual(new Set([ids.s2]));

  // S3 with a wrong checksum ends FAILED; S2 stays active (I4).
  await publishSnapshot(kafka, reg, {
    file: join(dir, 's3.jsonl'),
    snapshotId: ids.s3,
    model: 'test',
    topics: snapTopics,
    manifestOverride: { checksum: '0'.repeat(64) },
  });
  await waitFor(async () => (await controlView()).snapshots.get(ids.s3)?.phase === 'FAILED', 90_000, 'S3 to fail');
  const v3 = await controlView();
  expect(v3.active).toBe(ids.s2);
  expect(v3.snapshots.get(ids.s3)!.reason).toMatch(/checksum/);

  // Rollback returns to S1; new outputs are S1 again.
  await writeControl(kafka, reg, planRollback(await controlView(), Date.now()), snapTopics);
  await waitFor(async () => (await controlView()).active === ids.s1, 30_000, 'rollback to S1');
  await settle();
  const rolledBackAt = Date.now();
  await sendListens(100);
  await waitFor(async () => (await since(rolledBackAt)).length >= 100, 60_000, 'user vectors after the rollback');
  expect(new Set((await since(rolledBackAt)).map((u) => u.snapshotId))).toEqual(new Set([ids.s1]));

  // The instance's metrics saw the work: records in, user states stored, lag per partition.
  const metric = async (m: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> }, labels: Record<string, string>) =>
    (await m.get()).values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((n, v) => n + v.value, 0);
  expect(await metric(uv.metrics.recordsIn, { component: 'listens' })).toBeGreaterThanOrEqual(seq);
  expect(await metric(uv.metrics.storeEntries, { store: 'users' })).toBeGreaterThan(0);
  expect((await uv.metrics.consumerLag.get()).values.length).toBeGreaterThan(0);

  // Candidates: the candidates topology answered the requests at its own pace. Every list names S1 or S2
  // (never the failed S3), per partition S1 → S2 → S1 with the switch and the rollback (I3), and lists
  // of events after the switch are S2, after the rollback S1.
  await waitCaughtUp(admin, candName, t.candidateRequests, 60_000);
  const lists = await readDecoded<Candidates>(kafka, admin, reg, t.candidates, 'Candidates');
  expect(new Set(lists.map((c) => c.snapshotId))).toEqual(new Set([ids.s1, ids.s2]));
  expect(snapshotsFollow(lists, [ids.s1, ids.s2, ids.s1])).toBe(true);
  const between = lists.filter((c) => c.generatedAt >= switchedAt && c.generatedAt < rolledBackAt);
  const afterRollback = lists.filter((c) => c.generatedAt >= rolledBackAt);
  expect(between.length).toBeGreaterThan(0);
  expect(new Set(between.map((c) => c.snapshotId))).toEqual(new Set([ids.s2]));
  expect(afterRollback.length).toBeGreaterThan(0);
  expect(new Set(afterRollback.map((c) => c.snapshotId))).toEqual(new Set([ids.s1]));
  expect(lists.every((c) => c.items.length === 50)).toBe(true);
  // Rate-limited: fewer lists than requests (the first 200 events came 4 per user at once: one list each).
  const requests = (await readAll(kafka, admin, t.candidateRequests)).length;
  expect(lists.length).toBeLessThan(requests);
  expect(await metric(cand.metrics.recordsIn, { component: 'requests' })).toBeGreaterThanOrEqual(requests);
});
