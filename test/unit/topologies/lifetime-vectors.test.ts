/**
 * Lifetime + realtime through the user-vectors topology (test driver): a
 * snapshot carrying batch user factors x₀ gives a user with no event after
 * the training cut-off exactly x₀ (as a unit vector, the user-vector
 * convention), and a user with events after it a vector moved towards them.
 */
import { TopologyTestDriver } from '../../../src';
import { batchOnlyState, userVectorAnswer } from '../../../src/api/queries';
import { partitionForKey } from '../../../src/runtime/partitioner';
import { cosine, normalize } from '../../../src/vectors/math';
import type { ListenEvent, SnapshotControl, SnapshotManifest, UserVector } from '../../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import { SnapshotChecksum } from '../../../src/vectors/snapshot/checksum';
import type { UserState } from '../../../src/vectors/user-state';
import { userVectors } from '../../../topologies/user-vectors';
import { clusteredSnapshot, controlRecord, manifestOf, rng } from './vectors-fixtures';

const DIMS = 8;
const PARTITIONS = 3;
const CUTOFF = 1_000_000;
const s1 = clusteredSnapshot('s1', 400, DIMS, 1);

/** Batch factors as a trainer writes them: not unit length. */
function factors(users: string[], seed: number): [string, Float32Array][] {
  const r = rng(seed);
  return users.map((u) => [u, Float32Array.from({ length: DIMS }, () => (r() - 0.5) * 3)]);
}

/** The user factors split by partition (murmur2, as the publisher does) and the manifest's figures for them. */
function published(rows: [string, Float32Array][], overrides: Partial<SnapshotManifest> = {}) {
  const parts: [string, Float32Array][][] = Array.from({ length: PARTITIONS }, () => []);
  for (const row of rows) parts[partitionForKey(Buffer.from(row[0]), PARTITIONS)]!.push(row);
  const sums = parts.map((p) => {
    const c = new SnapshotChecksum();
    for (const [u, v] of p) c.update(u, v);
    return c.digest();
  });
  const manifest = manifestOf(s1, {
    cutoff: CUTOFF,
    users: { count: rows.length, partitions: PARTITIONS, counts: parts.map((p) => p.length), checksums: sums },
    ...overrides,
  });
  return { parts, manifest };
}

let seq = 0;
const listen = (userId: string, entityId: string, t: number): ListenEvent => ({
  eventId: `l${seq++}`,
  userId,
  entityId,
  msPlayed: 200_000,
  durationMs: 200_000,
  context: 'radio',
  timestamp: t,
});

async function start(parts: [string, Float32Array][][], manifest: SnapshotManifest) {
  const catalog = new SnapshotCatalog(new InMemorySnapshotSource(new Map([['s1', s1]]), new Map([['s1', parts]])), { index: 'exact' });
  const driver = await TopologyTestDriver.create(userVectors({ catalog, eventTime: { maxAgeMs: Infinity } }), {
    partitions: { listens: PARTITIONS, feedback: PARTITIONS },
    startTime: 2_000_000,
  });
  await driver.pipe('snapshot-control', 'snapshot/s1', controlRecord({ kind: 'STAGE', snapshotId: 's1', phase: 'STAGED', manifest }));
  const reports = driver.readOutput<string, SnapshotControl>('snapshot-control').map((r) => r.value);
  return { catalog, driver, reports };
}

describe('lifetime + realtime user vectors (snapshot with user factors)', () => {
  const rows = factors(['quiet', 'active', 'old-events', 'a', 'b', 'c', 'd'], 7);
  const x0 = new Map(rows);
  let driver: TopologyTestDriver;
  afterEach(async () => driver?.close());

  it('answers exactly the batch vector for a user with no event after the cut-off, and moves one with events towards them', async () => {
    const { parts, manifest } = published(rows);
    const started = await start(parts, manifest);
    driver = started.driver;
    expect(started.reports.map((r) => r.phase)).toEqual(Array(PARTITIONS).fill('READY'));
    await driver.pipe('snapshot-control', 'active', controlRecord({ kind: 'ACTIVATE', snapshotId: 's1', previousSnapshotId: null }));
    const space = started.catalog.get('s1')!;
    expect(space.model.name).toBe('lifetime');

    // Events at or before the cut-off are already in x₀: they change nothing.
    for (const e of ['e3', 'e11']) await driver.pipe('listens', 'old-events', listen('old-events', e, CUTOFF - 10), { timestamp: CUTOFF - 10 });
    // Events after it move the user from x₀.
    const recent = ['e5', 'e13', 'e21', 'e29']; // one cluster (i % 8 === 5)
    for (const [i, e] of recent.entries()) await driver.pipe('listens', 'active', listen('active', e, CUTOFF + 1000 + i), { timestamp: CUTOFF + 1000 + i });
    const out = new Map(driver.readOutput<string, UserVector>('user-vectors').map((r) => [r.key, r.value]));

    // No event at all: the query API answers x₀ from the factors alone, bit for bit as a unit vector.
    const quiet = batchOnlyState('quiet', space)!;
    expect(userVectorAnswer(quiet, space).vector).toEqual(Array.from(normalize(x0.get('quiet')!)));
    expect(batchOnlyState('nobody', space)).toBeUndefined();
    // Only events before the cut-off: still x₀ exactly.
    expect(Array.from(out.get('old-events')!.vector)).toEqual(Array.from(normalize(x0.get('old-events')!)));
    const stored = (await driver.store<string, UserState>('users').get('old-events'))!;
    expect(userVectorAnswer(stored, space).vector).toEqual(Array.from(normalize(x0.get('old-events')!)));

    // Events after the cut-off: towards their cluster, away from x₀.
    const moved = out.get('active')!.vector;
    const centre = normalize(recent.map((e) => s1.vectorOf(e)!).reduce((acc, v) => acc.map((x, i) => x + v[i]!), new Float32Array(DIMS)));
    expect(cosine(moved, centre)).toBeGreaterThan(cosine(x0.get('active')!, centre) + 0.1);
    expect(cosine(moved, x0.get('active')!)).toBeLessThan(0.999);
  });

  it.each([
    [
      'a vector with the wrong dims',
      (r: [string, Float32Array][]) => [...r, ['w', new Float32Array(DIMS + 1)] as [string, Float32Array]],
      /user 'w' .* has 9 values, expected dims=8/,
    ],
    [
      'a NaN',
      (r: [string, Float32Array][]) => [...r, ['n', Float32Array.from({ length: DIMS }, (_, i) => (i === 2 ? NaN : 1))] as [string, Float32Array]],
      /user 'n' .* has NaN at index 2/,
    ],
    ['a duplicate user', (r: [string, Float32Array][]) => [...r, [r[0]![0], r[0]![1]] as [string, Float32Array]], /user id 'quiet' appears twice/],
  ])('fails the snapshot (FAILED, never READY) when the factors hold %s', async (_label, corrupt, message) => {
    // A publisher that did not validate: counts and checksums describe the bad data, only the loader's checks stand.
    const { parts, manifest } = published(corrupt(rows));
    const started = await start(parts, manifest);
    driver = started.driver;
    const failed = started.reports.filter((r) => r.phase === 'FAILED');
    expect(failed.length).toBeGreaterThan(0);
    expect(started.reports.filter((r) => r.phase === 'READY')).toHaveLength(PARTITIONS - failed.length);
    expect(failed.map((r) => r.reason).join(' | ')).toMatch(message);
  });

  it("fails the snapshot when a partition does not match the manifest's checksum", async () => {
    const { parts, manifest } = published(rows);
    const tampered = { ...manifest, users: { ...manifest.users!, checksums: manifest.users!.checksums.map((c, i) => (i === 0 ? 'f'.repeat(64) : c)) } };
    const started = await start(parts, tampered);
    driver = started.driver;
    expect(started.reports.find((r) => r.partition === 0)?.phase).toBe('FAILED');
    expect(started.reports.find((r) => r.partition === 0)?.reason).toMatch(/user factors checksum mismatch/);
  });
});
