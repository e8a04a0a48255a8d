import { ConfigError, TopologyTestDriver } from '../../../src';
import { BruteForceIndex } from '../../../src/vectors/index/brute-force';
import { cosine } from '../../../src/vectors/math';
import type { CandidateRequest, Candidates, FeedbackEvent, ListenEvent, SnapshotControl } from '../../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../../src/vectors/snapshot/entity-matrix';
import { candidates, type CandidatesTopologyOptions } from '../../../topologies/candidates';
import { userVectors } from '../../../topologies/user-vectors';
import { clusteredSnapshot, controlRecord, manifestOf } from './vectors-fixtures';

const DIMS = 8;
const PARTITIONS = 3;

function setup(index: 'exact' | 'hnsw' = 'exact') {
  const s1 = clusteredSnapshot('s1', 300, DIMS, 1);
  const s2 = clusteredSnapshot('s2', 300, DIMS, 2);
  const s3 = clusteredSnapshot('s3', 300, DIMS, 3, 17); // a NaN in row 17
  const catalog = new SnapshotCatalog(
    new InMemorySnapshotSource(
      new Map<string, EntityMatrix>([
        ['s1', s1],
        ['s2', s2],
        ['s3', s3],
      ]),
    ),
    { index },
  );
  return { s1, s2, s3, catalog };
}

async function create(options: CandidatesTopologyOptions) {
  return TopologyTestDriver.create(candidates(options), { partitions: { 'candidate-requests': PARTITIONS } });
}

/** Pipes control records as the doorman and publisher write them; returns this topology's reports. */
async function control(driver: TopologyTestDriver, ...records: [string, Partial<SnapshotControl> & Pick<SnapshotControl, 'kind'>][]) {
  for (const [key, rec] of records) await driver.pipe('snapshot-control', key, controlRecord(rec));
  return driver.readOutput<string, SnapshotControl>('snapshot-control');
}
const staged = (m: EntityMatrix, manifest = manifestOf(m)): [string, Partial<SnapshotControl> & Pick<SnapshotControl, 'kind'>] => [
  `snapshot/${m.snapshotId}`,
  { kind: 'STAGE', snapshotId: m.snapshotId, phase: 'STAGED', manifest },
];
const pointer = (id: string, previous: string | null = null): [string, Partial<SnapshotControl> & Pick<SnapshotControl, 'kind'>] => [
  'active',
  { kind: 'ACTIVATE', snapshotId: id, previousSnapshotId: previous },
];
const phase = (m: EntityMatrix, p: SnapshotControl['phase']): [string, Partial<SnapshotControl> & Pick<SnapshotControl, 'kind'>] => [
  `snapshot/${m.snapshotId}`,
  { kind: 'RETIRE', snapshotId: m.snapshotId, phase: p, manifest: manifestOf(m) },
];

/** A request for `user` whose vector is entity `entity`'s in snapshot `m`. */
function request(m: EntityMatrix, user: string, entity: string, o: Partial<CandidateRequest> & Pick<CandidateRequest, 'version' | 'at'>): CandidateRequest {
  return {
    userId: user,
    snapshotId: m.snapshotId,
    vector: Float32Array.from(m.vectorOf(entity)!),
    banned: [],
    recent: [],
    consumed: Buffer.alloc(0),
    force: false,
    ...o,
  };
}

async function send(driver: TopologyTestDriver, r: CandidateRequest) {
  await driver.pipe('candidate-requests', r.userId, r, { timestamp: r.at });
  return driver.readOutput<string, Candidates>('recommendation-candidates').map((c) => c.value);
}

describe('candidates topology (test driver)', () => {
  let driver: TopologyTestDriver;
  afterEach(async () => driver?.close());

  it('reports READY per partition once the index is built, FAILED with the reason for a snapshot that fails validation (I4)', async () => {
    const { s1, s3, catalog } = setup();
    driver = await create({ catalog });
    const ready = await control(driver, staged(s1));
    expect(ready.map((r) => [r.key, r.value.phase, r.value.topology, r.value.partition]).sort()).toEqual(
      [0, 1, 2].map((p) => [`report/s1/candidates/${p}`, 'READY', 'candidates', p]),
    );
    expect(catalog.get('s1')?.index.size).toBe(300);

    const failed = await control(driver, staged(s3, { ...manifestOf(s1), snapshotId: 's3' }));
    expect(failed.map((r) => r.key).sort()).toEqual([0, 1, 2].map((p) => `report/s3/candidates/${p}`));
    for (const r of failed) {
      expect(r.value.phase).toBe('FAILED');
      expect(r.value.reason).toMatch(/snapshot 's3' is invalid/);
    }
  });

  it('reports under its own topology name', async () => {
    const { s1, catalog } = setup();
    driver = await create({ catalog, name: 'cands-blue' });
    expect((await control(driver, staged(s1))).map((r) => r.value.topology)).toEqual(['cands-blue', 'cands-blue', 'cands-blue']);
  });

  it('answers with the top K of the snapshot by similarity, leaving out banned and recently consumed entities', async () => {
    const { s1, catalog } = setup();
    driver = await create({ catalog, k: 20 });
    await control(driver, staged(s1), pointer('s1'));
    const exact = new BruteForceIndex({ ids: s1.ids, matrix: s1.data, dims: DIMS });
    const vector = Float32Array.from(s1.vectorOf('e0')!);
    const nearest = exact.search(vector, 10).map((n) => n.id);
    const banned = nearest.slice(0, 3);
    const recent = nearest.slice(3, 6);
    const [list, ...more] = await send(driver, request(s1, 'u', 'e0', { version: 1, at: 1000, banned, recent }));
    expect(more).toEqual([]);
    const excluded = new Set([...banned, ...recent]);
    expect(list).toMatchObject({ userId: 'u', snapshotId: 's1', generatedAt: 1000, userVectorVersion: 1 });
    expect(list!.items.map((i) => i.entityId)).toEqual(exact.search(vector, 20, (id) => excluded.has(id)).map((n) => n.id));
    expect(list!.items.filter((i) => excluded.has(i.entityId))).toEqual([]);
  });

  it('rate-limits a user: a list when due and at most one per minIntervalMs of event time, unless the bans or the snapshot changed', async () => {
    const { s1, s2, catalog } = setup();
    driver = await create({ catalog, k: 5, refresh: { minIntervalMs: 5000, maxAgeMs: 60_000, minMove: 0.01 } });
    await control(driver, staged(s1), pointer('s1'));
    // e0 and e1 lie in different clusters: a request with e1's vector after e0's has moved far.
    expect(cosine(s1.vectorOf('e0')!, s1.vectorOf('e1')!)).toBeLessThan(0.99);
    const steps: [string, () => CandidateRequest, boolean][] = [
      ['first request: no list yet', () => request(s1, 'u', 'e0', { version: 1, at: 0 }), true],
      ['moved far, 1 s later: too soon', () => request(s1, 'u', 'e1', { version: 2, at: 1000 }), false],
      ['bans changed, 2 s later: forced', () => request(s1, 'u', 'e1', { version: 3, at: 2000, banned: ['e5'], force: true }), true],
      ['not moved, 10 s later: nothing new', () => request(s1, 'u', 'e1', { version: 4, at: 12_000 }), false],
      ['moved far, 4.9 s after the last list: too soon', () => request(s1, 'u', 'e0', { version: 5, at: 6900 }), false],
      ['moved far, 13 s after the last list: due', () => request(s1, 'u', 'e0', { version: 6, at: 15_000 }), true],
      ['not moved, maxAgeMs after the last list: due', () => request(s1, 'u', 'e0', { version: 7, at: 75_000 }), true],
      ['not moved, new snapshot 1 ms later: due', () => request(s2, 'u', 'e0', { version: 8, at: 75_001 }), true],
    ];
    for (const [what, make, listed] of steps) {
      if (what.includes('new snapshot')) await control(driver, staged(s2), pointer('s2', 's1'));
      const r = make();
      const out = await send(driver, r);
      expect({ what, lists: out.map((c) => [c.snapshotId, c.userVectorVersion]) }).toEqual({ what, lists: listed ? [[r.snapshotId, r.version]] : [] });
    }
  });

  it('skips requests at or below the version of the last list, so a lagging consumer catches up cheaply', async () => {
    const { s1, catalog } = setup();
    driver = await create({ catalog, k: 5 });
    await control(driver, staged(s1), pointer('s1'));
    expect(await send(driver, request(s1, 'u', 'e0', { version: 10, at: 100_000 }))).toHaveLength(1);
    // A redelivered request, and an older one even though it says its bans changed: both already covered.
    expect(await send(driver, request(s1, 'u', 'e0', { version: 10, at: 100_000 }))).toEqual([]);
    expect(await send(driver, request(s1, 'u', 'e1', { version: 7, at: 200_000, force: true }))).toEqual([]);

    // A backlog of 150 changes 100 ms apart, each moving the vector (e<i> lies in cluster i mod 8): one list per 5 s of event time.
    for (const [a, b] of [
      ['e0', 'e2'],
      ['e2', 'e4'],
    ])
      expect(cosine(s1.vectorOf(a)!, s1.vectorOf(b)!)).toBeLessThan(0.99);
    const lists: Candidates[] = [];
    for (let i = 0; i < 150; i++) lists.push(...(await send(driver, request(s1, 'v', `e${i % 8}`, { version: i + 1, at: i * 100 }))));
    expect(lists.map((c) => [c.generatedAt, c.userVectorVersion])).toEqual([
      [0, 1],
      [5000, 51],
      [10_000, 101],
    ]);

    // The trailing edge: the last change came too soon after the last list, and is answered once minIntervalMs passed.
    await driver.advanceWallClockTime(4000);
    expect(driver.readOutput('recommendation-candidates')).toEqual([]);
    await driver.advanceWallClockTime(1500);
    const trailing = driver.readOutput<string, Candidates>('recommendation-candidates').map((c) => c.value);
    expect(trailing.map((c) => [c.userId, c.generatedAt, c.userVectorVersion])).toEqual([['v', 14_900, 150]]);
    expect(trailing[0]!.items.map((i) => i.entityId)).toEqual(
      new BruteForceIndex({ ids: s1.ids, matrix: s1.data, dims: DIMS }).search(s1.vectorOf('e5')!, 5).map((n) => n.id),
    );
    // Answered once only.
    await driver.advanceWallClockTime(10_000);
    expect(driver.readOutput('recommendation-candidates')).toEqual([]);
  });

  it('never answers in an older snapshot once it saw the switch (I3), and follows a rollback', async () => {
    const { s1, s2, catalog } = setup();
    driver = await create({ catalog, k: 5 });
    await control(driver, staged(s1), pointer('s1'), staged(s2));
    expect(await send(driver, request(s1, 'a', 'e0', { version: 1, at: 0 }))).toHaveLength(1);
    // A request in the staged S2 proves the switch (user-vectors writes in the active snapshot only) before the pointer reached this task.
    expect((await send(driver, request(s2, 'b', 'e0', { version: 1, at: 0 }))).map((c) => c.snapshotId)).toEqual(['s2']);
    // From then on, S1 requests still in that partition are not answered.
    expect(await send(driver, request(s1, 'b', 'e0', { version: 2, at: 0 }))).toEqual([]);
    await control(driver, pointer('s2', 's1'), phase(s1, 'READY'), phase(s2, 'ACTIVE'));
    expect(await send(driver, request(s1, 'd', 'e0', { version: 1, at: 0 }))).toEqual([]);
    // A rollback makes S1 active again; S2 requests are refused then.
    await control(driver, ['active', { kind: 'ROLLBACK', snapshotId: 's1' }], phase(s2, 'ROLLED_BACK'), phase(s1, 'ACTIVE'));
    expect(await send(driver, request(s2, 'e', 'e0', { version: 1, at: 0 }))).toEqual([]);
    expect((await send(driver, request(s1, 'e', 'e0', { version: 2, at: 0 }))).map((c) => c.snapshotId)).toEqual(['s1']);
  });

  it('answers nothing before a snapshot is active and loaded, and drops a retired snapshot', async () => {
    const { s1, s2, catalog } = setup();
    driver = await create({ catalog, k: 5 });
    expect(await send(driver, request(s1, 'u', 'e0', { version: 1, at: 0 }))).toEqual([]);
    await control(driver, staged(s1), pointer('s1'), staged(s2), pointer('s2', 's1'));
    // The skipped request left no mark: the user's next request (same vector) gets its first list.
    expect(await send(driver, request(s2, 'u', 'e0', { version: 2, at: 1 }))).toHaveLength(1);
    await control(driver, phase(s1, 'RETIRED'));
    expect(catalog.get('s1')).toBeUndefined();
    expect(catalog.get('s2')).toBeDefined();
  });

  it('searches with efSearch 100 unless configured otherwise, for the top k + excluded, excluded dropped', async () => {
    for (const [options, ef] of [
      [{}, 100],
      [{ efSearch: 37 }, 37],
    ] as const) {
      const { s1, catalog } = setup('hnsw');
      driver = await create({ catalog, k: 5, ...options });
      await control(driver, staged(s1), pointer('s1'));
      const search = jest.spyOn(catalog.get('s1')!.index, 'search');
      expect(await send(driver, request(s1, 'u', 'e0', { version: 1, at: 0 }))).toHaveLength(1);
      expect(search).toHaveBeenLastCalledWith(expect.any(Float32Array), 5, undefined, { efSearch: ef });
      const excluding = await send(driver, request(s1, 'u', 'e1', { version: 2, at: 0, banned: ['e7', 'e9'], recent: ['e3', 'e7'], force: true }));
      // Three excluded entities: the top 5 + 3 unfiltered, excluded ones dropped.
      expect(search).toHaveBeenLastCalledWith(expect.any(Float32Array), 8, undefined, { efSearch: Math.max(ef, 8) + 12 });
      expect(excluding[0]!.items).toHaveLength(5);
      expect(excluding[0]!.items.map((i) => i.entityId)).toEqual(
        new BruteForceIndex({ ids: s1.ids, matrix: s1.data, dims: DIMS })
          .search(s1.vectorOf('e1')!, 5, (id) => ['e3', 'e7', 'e9'].includes(id))
          .map((n) => n.id),
      );
      expect((catalog.get('s1')!.index as unknown as { efSearch: number }).efSearch).toBe(200); // the shared index keeps its own
      await driver.close();
    }
  });

  it.each([
    ['k 0', { k: 0 }, /k must be a positive integer, got 0/],
    ['efSearch 1', { efSearch: 1 }, /efSearch must be an integer ≥ 2, got 1/],
    [
      'a negative minIntervalMs (refresh options: see candidate-refresh.test.ts)',
      { refresh: { minIntervalMs: -1 } },
      /minIntervalMs must be a finite number ≥ 0, got -1/,
    ],
  ])('refuses %s with a ConfigError', (_what, options, message) => {
    const { catalog } = setup();
    expect(() => candidates({ catalog, ...options })).toThrow(ConfigError);
    expect(() => candidates({ catalog, ...options })).toThrow(message);
  });
});

describe('user-vectors → candidate-requests → candidates (two test drivers)', () => {
  const drivers: TopologyTestDriver[] = [];
  afterEach(async () => {
    for (const d of drivers.splice(0)) await d.close();
  });

  let seq = 0;
  const listen = (entityId: string, t: number): ListenEvent => ({
    eventId: `l${seq++}`,
    userId: 'u',
    entityId,
    msPlayed: 200_000,
    durationMs: 200_000,
    context: 'radio',
    timestamp: t,
  });
  const feedback = (entityId: string, kind: FeedbackEvent['kind'], t: number): FeedbackEvent => ({
    eventId: `f${seq++}`,
    userId: 'u',
    entityId,
    kind,
    surface: 'search',
    timestamp: t,
  });

  it('keeps a BAN from any surface out of every later candidate list until UNBAN', async () => {
    const { s1, catalog } = setup();
    const uv = await TopologyTestDriver.create(userVectors({ catalog }), { partitions: { listens: 2, feedback: 2 } });
    const cands = await TopologyTestDriver.create(candidates({ catalog, k: 20, refresh: { minIntervalMs: 0, maxAgeMs: 500 } }), {
      partitions: { 'candidate-requests': 2 },
    });
    drivers.push(uv, cands);
    for (const d of drivers) await control(d, staged(s1), pointer('s1'));
    /** Pipes an event into user-vectors and its candidate requests on into candidates, as the topic between them would. */
    const pipe = async (topic: 'listens' | 'feedback', event: ListenEvent | FeedbackEvent) => {
      await uv.pipe(topic, 'u', event);
      for (const r of uv.readOutput<string, CandidateRequest>('candidate-requests'))
        await cands.pipe('candidate-requests', r.key, r.value, { timestamp: r.timestamp });
      return cands.readOutput<string, Candidates>('recommendation-candidates').map((c) => c.value.items.map((i) => i.entityId));
    };

    const [before] = await pipe('listens', listen('e0', 1000));
    const target = before![0]!;
    expect(await pipe('feedback', feedback(target, 'BAN', 2000))).toHaveLength(1); // forced, though the vector did not move
    const during: string[][] = [];
    // Lists are recomputed as time passes (maxAgeMs 500): every one of them leaves the banned entity out.
    for (let t = 3000; t < 8000; t += 1000) during.push(...(await pipe('listens', listen('e0', t))));
    expect(during).toHaveLength(5);
    for (const items of during) expect(items).not.toContain(target);
    const unbanned = await pipe('feedback', feedback(target, 'UNBAN', 9000));
    expect(unbanned.at(-1)).toContain(target);
  });
});
