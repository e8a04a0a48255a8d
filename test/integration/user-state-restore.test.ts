/**
 * The users store moved from typed JSON to the binary format
 * (src/vectors/user-state-serde.ts): a changelog written by an earlier
 * version still restores on the real broker, the next change of a user is
 * written in binary, and a changelog holding both restores to the newest.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { TopologyRunner } from '../../src/runtime/runner/topology-runner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { typedJsonSerde } from '../../src/runtime/serde/typed-json';
import { loadSchema } from '../../src/vectors/contracts';
import type { ListenEvent } from '../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../src/vectors/snapshot-catalog';
import { addConsumed, emptyConsumed } from '../../src/vectors/consumed';
import { decodeUserState, USER_STATE_FORMAT } from '../../src/vectors/user-state-serde';
import type { UserState } from '../../src/vectors/user-state';
import { userVectors } from '../../topologies/user-vectors';
import { createVectorsTopics, kafkaClient, readAll, registry, uniqueName, waitFor } from './helpers';

jest.setTimeout(120_000);

const PARTITIONS = 2;

let kafka: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const runners: TopologyRunner[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  kafka = kafkaClient('user-state-restore');
  admin = await kafka.admin();
  producer = await kafka.producer();
});
afterAll(async () => {
  for (const r of runners) await r.stop();
  await producer?.close();
  await admin?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A user as an earlier version kept them: a decayed-model state in one snapshot, some history, a consumed set. */
function oldUser(userId: string): UserState {
  return {
    userId,
    history: {
      capacity: 200,
      items: [
        { entityId: 'e1', weight: 0.9, timestamp: 1_764_000_000_000 },
        { entityId: 'e2', weight: -0.5, timestamp: 1_764_000_060_000 },
      ],
    },
    spaces: { 'snap-old': { sum: Float64Array.from({ length: 8 }, (_, i) => Math.sin(i) * 1e-3), refTime: 1_764_000_060_000, count: 2 } },
    banned: ['e9'],
    recent: ['e1'],
    consumed: addConsumed(emptyConsumed(), 'e1'),
    seen: ['ev-a', 'ev-b'],
    eventCount: 2,
    version: 2,
    updatedAt: 1_764_000_060_000,
  };
}

async function startRunner(name: string, t: Record<string, string>, catalog: SnapshotCatalog): Promise<TopologyRunner> {
  const dir = mkdtempSync(join(tmpdir(), 'user-state-restore-'));
  dirs.push(dir);
  const runner = new TopologyRunner({ topology: userVectors({ catalog, name, topics: t }), kafka, registry: registry(), stateDir: dir, commitIntervalMs: 200 });
  runners.push(runner);
  await runner.start();
  await waitFor(
    () => {
      const { assigned, restoring } = runner.taskReadiness;
      return assigned.length === PARTITIONS && restoring.length === 0;
    },
    60_000,
    'every task restored',
  );
  return runner;
}

it('restores users written as JSON, then writes their next change in binary, and restores from both', async () => {
  const tag = uniqueName('usr-restore');
  const { t } = await createVectorsTopics(admin, tag, PARTITIONS);
  const name = `${tag}-uv`;
  const changelog = `${name}-users-changelog`;
  await admin.createTopics([{ name: changelog, partitions: PARTITIONS, config: { 'cleanup.policy': 'compact' } }]);
  const users = ['old-a', 'old-b', 'old-c'].map(oldUser);
  // Keyed by userId and partitioned like the listens, as the runtime writes its changelog.
  await producer.send(users.map((u) => ({ topic: changelog, key: u.userId, value: typedJsonSerde<UserState>().serialize(u) })));
  const catalog = new SnapshotCatalog(new InMemorySnapshotSource(new Map()));

  const first = await startRunner(name, t, catalog);
  for (const u of users) expect(await first.store<string, UserState>('users').get(u.userId)).toEqual(u);

  // A listen for one of them: applied to the restored state (version 3), committed to the changelog in binary.
  const serde = new AvroSerde<ListenEvent>({ registry: registry(), subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await serde.prepare();
  const listen: ListenEvent = {
    eventId: 'ev-c',
    userId: 'old-b',
    entityId: 'e3',
    msPlayed: 100_000,
    durationMs: 200_000,
    context: 'radio',
    timestamp: Date.now(),
  };
  await producer.send([{ topic: t.listens, key: listen.userId, value: serde.serialize(listen) }]);
  await waitFor(async () => (await readAll(kafka, admin, changelog)).length > users.length, 60_000, 'the changed user in the changelog');
  const written = (await readAll(kafka, admin, changelog)).filter((r) => r.key?.toString() === 'old-b').at(-1)!;
  expect(written.value![0]).toBe(USER_STATE_FORMAT);
  const changed = decodeUserState(written.value!);
  expect(changed).toMatchObject({ userId: 'old-b', version: 3, eventCount: 3, seen: ['ev-a', 'ev-b', 'ev-c'], recent: ['e1', 'e3'] });
  expect(changed.history.items.map((i) => i.entityId)).toEqual(['e1', 'e2', 'e3']);
  expect(changed.spaces).toEqual({}); // 'snap-old' is not live here: pruned, as before
  expect(changed.banned).toEqual(['e9']);
  await first.stop();

  // A new instance (empty state directory) restores from the changelog holding JSON and binary values.
  const second = await startRunner(name, t, catalog);
  expect(await second.store<string, UserState>('users').get('old-b')).toEqual(changed);
  expect(await second.store<string, UserState>('users').get('old-a')).toEqual(users[0]);
});
