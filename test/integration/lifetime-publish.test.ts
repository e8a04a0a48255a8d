/**
 * Publishing a snapshot with the batch trainer's user factors on the real
 * broker and registry: the factors land in their own topic, partitioned like
 * the user topics, and load back per partition bit for bit; a users file
 * with a wrong dimension, a non-finite value, a duplicate user or a row of
 * another snapshot is refused naming its line, and nothing is staged.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkaSnapshotSource, publishSnapshot, readControlView, snapshotTopic, userFactorsTopic } from '../../src/app/snapshots';
import { SnapshotValidationError } from '../../src/errors';
import type { KafkaAdmin, KafkaClient } from '../../src/runtime/kafka/client';
import { writeJsonlSnapshot } from '../../src/vectors/snapshot/formats';
import { clusteredSnapshot, rng } from '../unit/topologies/vectors-fixtures';
import { createVectorsTopics, kafkaClient, registry, uniqueName } from './helpers';

jest.setTimeout(120_000);

const DIMS = 8;
const PARTITIONS = 4;
let kafka: KafkaClient;
let admin: KafkaAdmin;
const dir = mkdtempSync(join(tmpdir(), 'vectors-lifetime-'));

beforeAll(async () => {
  kafka = kafkaClient('lifetime-publish');
  admin = await kafka.admin();
});
afterAll(async () => admin?.close());

async function setup(label: string) {
  const tag = uniqueName(label);
  const { snapTopics } = await createVectorsTopics(admin, tag, PARTITIONS);
  const entities = join(dir, `${tag}-entities.jsonl`);
  await writeJsonlSnapshot(entities, clusteredSnapshot('x', 50, DIMS, 3));
  return { tag, snapTopics, entities };
}

const r = rng(11);
const factor = () => Array.from({ length: DIMS }, () => Math.fround((r() - 0.5) * 4));
const line = (userId: string, vector: number[], extra: Record<string, unknown> = {}) => JSON.stringify({ userId, vector, ...extra });

it('publishes user factors with the snapshot and loads each partition back exactly', async () => {
  const { tag, snapTopics, entities } = await setup('uf-good');
  const users = Array.from({ length: 200 }, (_, i) => [`user-${i}`, factor()] as const);
  const file = join(dir, `${tag}-users.jsonl`);
  writeFileSync(file, users.map(([u, v]) => line(u, v)).join('\n'));
  const snapshotId = `${tag}-s1`;
  const manifest = await publishSnapshot(kafka, registry(), {
    file: entities,
    snapshotId,
    model: 'als',
    topics: snapTopics,
    users: { file, partitions: PARTITIONS },
    cutoff: 1_700_000_000_000,
  });
  expect(manifest.cutoff).toBe(1_700_000_000_000);
  expect(manifest.users).toMatchObject({ count: 200, partitions: PARTITIONS });
  expect(manifest.users!.counts.reduce((a, b) => a + b, 0)).toBe(200);
  expect((await admin.describeTopic(userFactorsTopic(snapshotId, snapTopics)))?.partitions).toBe(PARTITIONS);

  const view = await readControlView(kafka, registry(), snapTopics);
  expect(view.snapshots.get(snapshotId)?.manifest?.users).toEqual(manifest.users);
  const source = new KafkaSnapshotSource(kafka, registry(), snapTopics);
  const found = new Map<string, number[]>();
  for (let p = 0; p < PARTITIONS; p++) {
    const table = await source.loadUserFactors(manifest, p);
    expect(table.size).toBe(manifest.users!.counts[p]);
    for (let row = 0; row < table.size; row++) found.set(table.idAt(row), Array.from(table.get(table.idAt(row))!));
  }
  expect(Object.fromEntries(found)).toEqual(Object.fromEntries(users.map(([u, v]) => [u, v])));
});

it('refuses at once to load a snapshot whose topics were deleted by retire, naming the topic', async () => {
  const { tag, snapTopics, entities } = await setup('uf-retired');
  const file = join(dir, `${tag}-users.jsonl`);
  writeFileSync(file, [line('user-1', factor()), line('user-2', factor())].join('\n'));
  const snapshotId = `${tag}-s1`;
  const manifest = await publishSnapshot(kafka, registry(), {
    file: entities,
    snapshotId,
    model: 'als',
    topics: snapTopics,
    users: { file, partitions: PARTITIONS },
  });
  const source = new KafkaSnapshotSource(kafka, registry(), snapTopics);
  const topics = [snapshotTopic(snapshotId, snapTopics), userFactorsTopic(snapshotId, snapTopics)];
  await admin.deleteTopics(topics);
  // Before, each load waited out the client's retries of "This server does not host this topic-partition" (about 30 s).
  const started = Date.now();
  await expect(source.load(manifest)).rejects.toThrow(new RegExp(`its topic '${topics[0]}' does not exist`));
  await expect(source.loadUserFactors(manifest, 0)).rejects.toThrow(new RegExp(`its topic '${topics[1]}' does not exist`));
  expect(Date.now() - started).toBeLessThan(10_000);
});

it.each([
  [
    'a wrong dimension',
    (ls: string[]) => ls.splice(2, 1, line('user-2', factor().slice(1))),
    /user 'user-2' \(row 2, line 3 of .*\) has 7 values, expected dims=8/,
  ],
  [
    'a value outside float32 (not finite once read)',
    (ls: string[]) => ls.splice(4, 1, line('user-4', [1e39, ...factor().slice(1)])),
    /line 5 of .*: user 'user-4' has 1e\+39 at index 0, outside the float32 range|user 'user-4' \(row 4, line 5 of .*\) has Infinity at index 0/,
  ],
  ['a duplicate user', (ls: string[]) => ls.splice(6, 1, line('user-1', factor())), /user id 'user-1' appears twice: rows 1 and 6 \(row 6, line 7 of/],
  [
    'a row of another snapshot',
    (ls: string[]) => ls.splice(3, 1, line('user-3', factor(), { snapshotId: 'some-other' })),
    /line 4 of .*: user 'user-3' names snapshot "some-other"/,
  ],
])('refuses a users file with %s, naming the line, and stages nothing', async (_label, corrupt, message) => {
  const { tag, snapTopics, entities } = await setup('uf-bad');
  const lines = Array.from({ length: 10 }, (_, i) => line(`user-${i}`, factor()));
  corrupt(lines);
  const file = join(dir, `${tag}-users.jsonl`);
  writeFileSync(file, lines.join('\n'));
  const snapshotId = `${tag}-s1`;
  const attempt = publishSnapshot(kafka, registry(), { file: entities, snapshotId, model: 'als', topics: snapTopics, users: { file, partitions: PARTITIONS } });
  await expect(attempt).rejects.toThrow(SnapshotValidationError);
  await expect(attempt).rejects.toThrow(message);
  expect((await readControlView(kafka, registry(), snapTopics)).snapshots.has(snapshotId)).toBe(false);
  expect(await admin.describeTopic(userFactorsTopic(snapshotId, snapTopics))).toBeUndefined();
});
