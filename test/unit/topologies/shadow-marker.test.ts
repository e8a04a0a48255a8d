/**
 * user-vectors' shadow marker on the in-memory Kafka client: a task that
 * opens on state whose users were all computed in a snapshot (the walk
 * committed) skips the walk over every user when it replays the control log,
 * and a snapshot that left the live set (rollback) is walked again when it
 * comes back, so that every user has its space.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemorySchemaRegistry, MemoryKafkaCluster, RuntimeMetrics, TopologyRunner, type Topology } from '../../../src/runtime';
import { TopologySerdes } from '../../../src/runtime/topology/topology-serdes';
import { Topics } from '../../../src/vectors/contracts';
import type { ListenEvent, SnapshotControl } from '../../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../../src/vectors/snapshot/entity-matrix';
import type { UserState } from '../../../src/vectors/user-state';
import { SHADOW_MARKER_KEY } from '../../../topologies/bolts/user-state-bolt';
import { userVectors } from '../../../topologies/user-vectors';
import { clusteredSnapshot, controlRecord, manifestOf } from './vectors-fixtures';

const PARTITIONS = 3;
const USERS = Array.from({ length: 30 }, (_, i) => `u${i}`);

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

jest.setTimeout(30_000);

describe('user-vectors shadow marker (in-memory Kafka)', () => {
  const s1 = clusteredSnapshot('s1', 200, 8, 1);
  const s2 = clusteredSnapshot('s2', 200, 8, 2);
  let cluster: MemoryKafkaCluster;
  let registry: InMemorySchemaRegistry;
  let topology: Topology;
  let serdes: TopologySerdes;
  let runners: TopologyRunner[];
  let dirs: string[];
  let seq = 0;

  beforeEach(async () => {
    cluster = new MemoryKafkaCluster();
    for (const t of [Topics.listens, Topics.feedback, Topics.userVectors, Topics.candidateRequests]) cluster.createTopic({ name: t, partitions: PARTITIONS });
    cluster.createTopic({ name: Topics.snapshotControl, partitions: 1 });
    registry = new InMemorySchemaRegistry();
    topology = userVectors({ catalog: catalog() });
    serdes = new TopologySerdes(topology, registry);
    await serdes.prepare();
    runners = [];
    dirs = [];
  });

  afterEach(async () => {
    for (const r of runners) await r.stop().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function catalog(): SnapshotCatalog {
    const matrices = new Map<string, EntityMatrix>([
      ['s1', s1],
      ['s2', s2],
    ]);
    return new SnapshotCatalog(new InMemorySnapshotSource(matrices), { index: 'exact' });
  }

  /** A user-vectors instance as a process of its own (its catalog, empty state directory: it restores from the changelog); `walks` gets its shadow log lines. */
  async function start(walks: string[]): Promise<TopologyRunner> {
    const stateDir = mkdtempSync(join(tmpdir(), 'shadow-marker-'));
    dirs.push(stateDir);
    const r = new TopologyRunner({
      topology: userVectors({ catalog: catalog() }),
      kafka: cluster.client(),
      registry,
      stateDir,
      commitIntervalMs: 50,
      metrics: new RuntimeMetrics(),
      log: (_level, message, fields = {}) => {
        if (message.includes('shadow'))
          walks.push(`${String(fields.snapshot)}/${String(fields.partition)}:${message.includes('skipped') ? 'skipped' : 'walked'}`);
      },
    });
    runners.push(r);
    await r.start();
    await waitFor('every task running', () => r.taskIds.length === PARTITIONS);
    return r;
  }

  async function produce(topic: string, records: [string, unknown][]): Promise<void> {
    const value = serdes.forTopic(topic).value;
    const producer = await cluster.client().producer();
    await producer.send(records.map(([key, v]) => ({ topic, key, value: value.serialize(v) })));
    await producer.close();
  }

  const control = (key: string, rec: Parameters<typeof controlRecord>[0]) => produce(Topics.snapshotControl, [[key, controlRecord(rec)]]);
  const stage = (m: EntityMatrix) => control(`snapshot/${m.snapshotId}`, { kind: 'STAGE', snapshotId: m.snapshotId, phase: 'STAGED', manifest: manifestOf(m) });
  const listens = (users: string[]) =>
    produce(
      Topics.listens,
      users.map((userId): [string, ListenEvent] => [
        userId,
        { eventId: `l${seq++}`, userId, entityId: `e${seq % 200}`, msPlayed: 200_000, durationMs: 200_000, context: 'radio', timestamp: Date.now() },
      ]),
    );

  /** READY reports of snapshot `id` on the control topic: one per partition and staging, each after the walk. */
  const readyReports = (id: string) =>
    cluster
      .read(Topics.snapshotControl)
      .map((r) => serdes.forTopic(Topics.snapshotControl).value.deserialize(r.value!) as SnapshotControl)
      .filter((c) => c.snapshotId === id && c.phase === 'READY').length;

  /** The shadow markers in the changelog, latest per partition. */
  const markers = () => {
    const out = new Map<number, string[]>();
    for (const r of cluster.read('user-vectors-users-changelog')) {
      if (r.key!.toString() !== SHADOW_MARKER_KEY || r.value === null) continue;
      out.set(r.partition, (topology.stores.get('users')!.value.deserialize(r.value) as UserState & { shadowed: string[] }).shadowed);
    }
    return out;
  };
  const allMarked = (ids: string[]) => () => [...Array(PARTITIONS).keys()].every((p) => ids.every((id) => markers().get(p)?.includes(id)));

  const spacesOf = async (r: TopologyRunner, user: string) =>
    Object.keys(((await r.store<string, UserState>('users').get(user)) ?? { spaces: {} }).spaces).sort();
  const inputCommitted = () => {
    const ends = cluster.offsets(Topics.listens);
    return cluster.committedOffsets('user-vectors', Topics.listens).every((c) => c.offset === ends[c.partition]!.high);
  };

  it('a task opened on committed state skips the walk of every snapshot its users were all computed in', async () => {
    const firstRun: string[] = [];
    const a = await start(firstRun);
    await stage(s1);
    await control('active', { kind: 'ACTIVATE', snapshotId: 's1', previousSnapshotId: null });
    await listens(USERS);
    await waitFor('the listens committed', inputCommitted);
    await stage(s2);
    await waitFor('READY for s2 from every partition', () => readyReports('s2') === PARTITIONS);
    // The marker comes a commit after the walk.
    await waitFor('both snapshots marked on every partition', allMarked(['s1', 's2']));
    expect(firstRun.filter((w) => w.endsWith('walked')).length).toBe(2 * PARTITIONS);
    await a.stop();

    const restarted: string[] = [];
    const b = await start(restarted);
    await waitFor('the control log replayed', () => restarted.length === 2 * PARTITIONS);
    expect(restarted.sort()).toEqual(['s1', 's2'].flatMap((s) => [...Array(PARTITIONS).keys()].map((p) => `${s}/${p}:skipped`)).sort());
    for (const u of USERS) expect(await spacesOf(b, u)).toEqual(['s1', 's2']);
  });

  it('a snapshot rolled back and staged again is walked again, so that users whose events pruned its space have it back, also after a restart', async () => {
    const a = await start([]);
    await stage(s1);
    await control('active', { kind: 'ACTIVATE', snapshotId: 's1', previousSnapshotId: null });
    await listens(USERS);
    await waitFor('the listens committed', inputCommitted);
    await stage(s2);
    await waitFor('both snapshots marked on every partition', allMarked(['s1', 's2']));
    await control('snapshot/s2', { kind: 'ROLLBACK', snapshotId: 's2', phase: 'ROLLED_BACK', manifest: manifestOf(s2) });
    // Their next events drop s2's space from their states. The control log and the listens are not ordered with
    // each other: listens until one came after the rollback.
    await waitFor('u1 and u2 without s2', async () => {
      await listens(['u1', 'u2']);
      await new Promise((r) => setTimeout(r, 100));
      return (await spacesOf(a, 'u1')).join() === 's1' && (await spacesOf(a, 'u2')).join() === 's1';
    });
    await waitFor('the listens committed', inputCommitted);
    expect([...markers().values()].some((m) => m.includes('s2'))).toBe(false);

    // Rolled forward: staged again. Every task reports READY again once it walked its users.
    await stage(s2);
    await waitFor('READY for s2 again from every partition', () => readyReports('s2') === 2 * PARTITIONS);
    for (const u of USERS) expect(await spacesOf(a, u)).toEqual(['s1', 's2']);
    await waitFor('s2 marked again on every partition', allMarked(['s1', 's2']));
    await a.stop();

    const b = await start([]);
    await waitFor('the control log replayed and marked', allMarked(['s1', 's2']));
    for (const u of USERS) expect(await spacesOf(b, u)).toEqual(['s1', 's2']);
  });
});
