/**
 * Consumed entities never come back as candidates under exclude=consumed,
 * however long ago they were consumed: through the user-vectors and
 * candidates topologies (test drivers), and through the query API (over HTTP,
 * on the same user state). exclude=recent shows what the old behaviour gave.
 */
import { Registry } from 'prom-client';
import { QueryServer } from '../../../src/api/query-server';
import type { ControlLog } from '../../../src/app/snapshots';
import { TopologyTestDriver } from '../../../src';
import type { TopologyRunner } from '../../../src/runtime/runner/topology-runner';
import type { ExcludePolicy } from '../../../src/vectors/candidate-search';
import type { CandidateRequest, Candidates, ListenEvent, SnapshotControl } from '../../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../../src/vectors/snapshot/entity-matrix';
import { RECENT_CONSUMED } from '../../../src/vectors/user-state';
import { candidates } from '../../../topologies/candidates';
import { userVectors } from '../../../topologies/user-vectors';
import { clusteredSnapshot, controlRecord, manifestOf } from './vectors-fixtures';

const K = 40;
// 2,000 entities in 8 clusters; the user listens to 150 of cluster 0, the nearest to their vector.
const s1 = clusteredSnapshot('s1', 2000, 8, 1);
const consumed = Array.from({ length: 150 }, (_, i) => `e${i * 8}`);
const older = new Set(consumed.slice(0, consumed.length - RECENT_CONSUMED));

async function controls(driver: TopologyTestDriver, m: EntityMatrix) {
  await driver.pipe(
    'snapshot-control',
    `snapshot/${m.snapshotId}`,
    controlRecord({ kind: 'STAGE', snapshotId: m.snapshotId, phase: 'STAGED', manifest: manifestOf(m) }),
  );
  await driver.pipe('snapshot-control', 'active', controlRecord({ kind: 'ACTIVATE', snapshotId: m.snapshotId, previousSnapshotId: null }));
  driver.readOutput<string, SnapshotControl>('snapshot-control');
}

let catalog: SnapshotCatalog;
let users: TopologyTestDriver;
let lastRequest: CandidateRequest;

beforeAll(async () => {
  catalog = new SnapshotCatalog(new InMemorySnapshotSource(new Map([['s1', s1]])), { index: 'exact' });
  users = await TopologyTestDriver.create(userVectors({ catalog }), { startTime: 1_000_000 });
  await controls(users, s1);
  for (const [i, entityId] of consumed.entries()) {
    const e: ListenEvent = { eventId: `l${i}`, userId: 'u', entityId, msPlayed: 200_000, durationMs: 200_000, context: 'radio', timestamp: 1_000_000 + i };
    await users.pipe('listens', 'u', e, { timestamp: e.timestamp });
  }
  lastRequest = users.readOutput<string, CandidateRequest>('candidate-requests').pop()!.value;
});
afterAll(async () => users?.close());

async function topologyList(exclude: ExcludePolicy): Promise<string[]> {
  const driver = await TopologyTestDriver.create(candidates({ catalog, k: K, exclude }));
  try {
    await controls(driver, s1);
    await driver.pipe('candidate-requests', 'u', lastRequest, { timestamp: lastRequest.at });
    return driver
      .readOutput<string, Candidates>('recommendation-candidates')
      .pop()!
      .value.items.map((i) => i.entityId);
  } finally {
    await driver.close();
  }
}

async function apiList(query: string): Promise<{ status: number; ids: string[] }> {
  const runner = {
    metrics: { registry: new Registry() },
    done: new Promise(() => {}),
    queryMetadataForKey: async () => ({ partition: 0, local: true, endpoint: null }),
    store: () => users.store('users'),
  } as unknown as TopologyRunner;
  const view = { active: 's1', previous: null, snapshots: new Map([['s1', { id: 's1', phase: 'ACTIVE' }]]), reports: new Map(), members: new Map() };
  const control = { view, refresh: async () => view } as unknown as ControlLog;
  const server = new QueryServer({ runner, catalog, control, port: 0 });
  const url = await server.listen();
  try {
    const res = await fetch(`${url}/v1/users/u/candidates?k=${K}${query}`);
    const body = (await res.json()) as { items?: { entityId: string }[] };
    return { status: res.status, ids: (body.items ?? []).map((i) => i.entityId) };
  } finally {
    await server.close();
  }
}

describe('candidates leave out what the user consumed', () => {
  it('the candidate request carries the whole consumed set, not only the recent ones', () => {
    expect(lastRequest.recent).toHaveLength(RECENT_CONSUMED);
    expect(lastRequest.consumed.length).toBe(consumed.length * 4);
  });

  it.each([
    ['the candidates topology', () => topologyList('consumed')],
    ['the query API (default)', async () => (await apiList('')).ids],
    ['the query API (exclude=consumed)', async () => (await apiList('&exclude=consumed')).ids],
  ])('%s: a full list without any consumed entity, the older ones included', async (_where, list) => {
    const ids = await list();
    expect(ids).toHaveLength(K);
    expect(ids.filter((id) => consumed.includes(id))).toEqual([]);
  });

  it.each([
    ['the candidates topology', () => topologyList('recent')],
    ['the query API', async () => (await apiList('&exclude=recent')).ids],
  ])('%s under exclude=recent leaves out only the recent ones: older consumed entities come back', async (_where, list) => {
    const ids = await list();
    expect(ids.some((id) => older.has(id))).toBe(true);
    expect(ids.filter((id) => consumed.slice(-RECENT_CONSUMED).includes(id))).toEqual([]);
  });

  it('under exclude=none, recently consumed entities come back too, the same through the topology and the API', async () => {
    const ids = await topologyList('none');
    expect(ids.some((id) => consumed.slice(-RECENT_CONSUMED).includes(id))).toBe(true);
    expect((await apiList('&exclude=none')).ids).toEqual(ids);
  });

  it('the API refuses an unknown policy with 400', async () => {
    expect((await apiList('&exclude=everything')).status).toBe(400);
  });
});
