import { TopologyTestDriver } from '../../../src';
import { cosine } from '../../../src/vectors/math';
import type { CandidateRequest, FeedbackEvent, ListenEvent, SnapshotControl, UserVector } from '../../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../../src/vectors/snapshot/entity-matrix';
import { ConfigError, ErrorCodes } from '../../../src/errors';
import { topologies } from '../../../topologies';
import { userVectors } from '../../../topologies/user-vectors';
import { clusteredSnapshot, controlRecord, manifestOf } from './vectors-fixtures';

const DIMS = 8;
const PARTITIONS = 3;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Wall-clock time of the event-time tests. */
const NOW = Date.UTC(2025, 5, 1);

function setup() {
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
    { index: 'exact' },
  );
  return { s1, s2, s3, catalog };
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
const feedback = (userId: string, entityId: string, kind: FeedbackEvent['kind'], t: number): FeedbackEvent => ({
  eventId: `f${seq++}`,
  userId,
  entityId,
  kind,
  surface: 'home',
  timestamp: t,
});

async function stage(driver: TopologyTestDriver, m: EntityMatrix, manifest = manifestOf(m)) {
  await driver.pipe('snapshot-control', `snapshot/${m.snapshotId}`, controlRecord({ kind: 'STAGE', snapshotId: m.snapshotId, phase: 'STAGED', manifest }));
  return driver.readOutput<string, SnapshotControl>('snapshot-control');
}

async function activate(driver: TopologyTestDriver, id: string, previous: string | null) {
  await driver.pipe('snapshot-control', 'active', controlRecord({ kind: 'ACTIVATE', snapshotId: id, previousSnapshotId: previous }));
}

describe('user-vectors topology (test driver)', () => {
  let driver: TopologyTestDriver;
  afterEach(async () => driver?.close());

  it('reports READY per partition on STAGE, emits nothing before ACTIVATE, then only in the active space (I2, I3)', async () => {
    const { s1, s2, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }), { partitions: { listens: PARTITIONS, feedback: PARTITIONS } });
    const reports = await stage(driver, s1);
    expect(reports.map((r) => [r.key, r.value.phase]).sort()).toEqual([0, 1, 2].map((p) => [`report/s1/user-vectors/${p}`, 'READY']));

    for (const u of ['u1', 'u2', 'u3', 'u4']) await driver.pipe('listens', u, listen(u, 'e1', 1000));
    expect(driver.readOutput('user-vectors')).toEqual([]); // nothing active yet: recorded, not emitted

    await activate(driver, 's1', null);
    await driver.pipe('listens', 'u1', listen('u1', 'e9', 2000));
    const first = driver.readOutput<string, UserVector>('user-vectors');
    expect(first).toHaveLength(1);
    expect(first[0]!.value).toMatchObject({ userId: 'u1', snapshotId: 's1', eventCount: 2, version: 2 });
    // The history from before the activation counts: e1 and e9 are both in the vector.
    expect(cosine(first[0]!.value.vector, s1.vectorOf('e1')!)).toBeGreaterThan(0.3);

    // S2 is staged while events flow: outputs stay in S1, the shadow S2 vectors are kept current.
    expect((await stage(driver, s2)).every((r) => r.value.phase === 'READY')).toBe(true);
    await driver.pipe('listens', 'u2', listen('u2', 'e5', 3000));
    expect(driver.readOutput<string, UserVector>('user-vectors').map((r) => r.value.snapshotId)).toEqual(['s1']);

    await activate(driver, 's2', 's1');
    driver.readOutput('candidate-requests'); // the requests so far: not the subject here
    for (const u of ['u1', 'u2', 'u3', 'u4']) await driver.pipe('listens', u, listen(u, 'e7', 4000));
    const after = driver.readOutput<string, UserVector>('user-vectors');
    expect(after.map((r) => r.value.snapshotId)).toEqual(['s2', 's2', 's2', 's2']);
    // u3 never had an event after S2 was staged: its S2 vector came from its history (e1, e7), in S2's space.
    const u3 = after.find((r) => r.key === 'u3')!.value.vector;
    expect(cosine(u3, s2.vectorOf('e1')!)).toBeGreaterThan(0.3);
    // Every change also goes out as a candidate request, for the candidates topology: same user, snapshot, version and vector.
    const requests = driver.readOutput<string, CandidateRequest>('candidate-requests');
    expect(requests.map((r) => [r.key, r.value.snapshotId, r.value.version, [...r.value.vector]])).toEqual(
      after.map((u) => [u.key, 's2', u.value.version, [...u.value.vector]]),
    );
    expect(requests.every((r) => r.value.recent.includes('e7') && r.value.at === 4000 && !r.value.force)).toBe(true);
  });

  it('I4: reports FAILED for a snapshot that fails validation, naming the problem', async () => {
    const { s1, s3, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }), { partitions: { listens: 2, feedback: 2 } });
    await stage(driver, s1);
    const reports = await stage(driver, s3, { ...manifestOf(s1), snapshotId: 's3' });
    expect(reports).toHaveLength(2);
    for (const r of reports) {
      expect(r.value.phase).toBe('FAILED');
      expect(r.value.reason).toMatch(/snapshot 's3' is invalid/);
    }
  });

  it('sends the banned set with every candidate request, and forces a refresh when a BAN or UNBAN changes it', async () => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }));
    await stage(driver, s1);
    await activate(driver, 's1', null);
    await driver.pipe('listens', 'u', listen('u', 'e0', 1000));
    await driver.pipe('feedback', 'u', feedback('u', 'e5', 'BAN', 2000));
    await driver.pipe('listens', 'u', listen('u', 'e1', 3000));
    await driver.pipe('feedback', 'u', feedback('u', 'e5', 'UNBAN', 4000));
    await driver.pipe('feedback', 'u', feedback('u', 'e5', 'UNBAN', 5000)); // nothing left to unban
    const requests = driver.readOutput<string, CandidateRequest>('candidate-requests').map((r) => r.value);
    expect(requests.map((r) => [r.version, r.force, r.banned, r.recent])).toEqual([
      [1, false, [], ['e0']],
      [2, true, ['e5'], ['e0']],
      [3, false, ['e5'], ['e0', 'e1']],
      [4, true, [], ['e0', 'e1']],
      [5, true, [], ['e0', 'e1']],
    ]);
  });

  it('moves the vector towards a liked entity and away from a disliked one', async () => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }));
    await stage(driver, s1);
    await activate(driver, 's1', null);
    await driver.pipe('listens', 'u', listen('u', 'e0', 1000));
    const v0 = driver.readOutput<string, UserVector>('user-vectors').at(-1)!.value.vector;
    await driver.pipe('feedback', 'u', feedback('u', 'e3', 'LIKE', 1001));
    const v1 = driver.readOutput<string, UserVector>('user-vectors').at(-1)!.value.vector;
    expect(cosine(v1, s1.vectorOf('e3')!)).toBeGreaterThan(cosine(v0, s1.vectorOf('e3')!));
    await driver.pipe('feedback', 'u', feedback('u', 'e3', 'DISLIKE', 1002));
    const v2 = driver.readOutput<string, UserVector>('user-vectors').at(-1)!.value.vector;
    expect(cosine(v2, s1.vectorOf('e3')!)).toBeLessThan(cosine(v1, s1.vectorOf('e3')!));
  });

  it('drops a redelivered event (same eventId) instead of applying it twice', async () => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }));
    await stage(driver, s1);
    await activate(driver, 's1', null);
    const e = listen('u', 'e0', 1000);
    await driver.pipe('listens', 'u', e);
    await driver.pipe('listens', 'u', e);
    expect(driver.readOutput<string, UserVector>('user-vectors').map((r) => r.value.eventCount)).toEqual([1]);
  });

  it('dead-letters an event keyed by another user', async () => {
    const { catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }));
    await driver.pipe('listens', 'someone-else', listen('u', 'e0', 1000));
    expect(driver.readDeadLetters()[0]!.headers['dlq.error.message']).toMatch(/userId 'u' differs from the record key 'someone-else'/);
  });

  it('dead-letters an event with an empty userId, also under an empty key, and keeps no user for it', async () => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }));
    await stage(driver, s1);
    await activate(driver, 's1', null);
    await driver.pipe('listens', '', listen('', 'e0', 1000));
    await driver.pipe('feedback', '', feedback('', 'e0', 'LIKE', 1001));
    const dead = driver.readDeadLetters();
    expect(dead.map((d) => [d.headers['dlq.error.code'], d.headers['dlq.error.message']])).toEqual([
      [ErrorCodes.RECORD_INVALID, expect.stringMatching(/userId is empty: every event must name its user; key it by that userId/)],
      [ErrorCodes.RECORD_INVALID, expect.stringMatching(/userId is empty/)],
    ]);
    expect(driver.readOutput('user-vectors')).toEqual([]);
    // Key '' holds the task's shadow marker (no user can have it): none of the events reached it.
    expect(await driver.store('users').get('')).toMatchObject({ userId: '', eventCount: 0, version: 0, spaces: {}, shadowed: ['s1'] });
  });

  it('dead-letters an event far in the future with the reason, and the next events still move the user (no freeze)', async () => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }), { startTime: NOW });
    await stage(driver, s1);
    await activate(driver, 's1', null);
    await driver.pipe('listens', 'u', listen('u', 'e0', NOW));
    const before = driver.readOutput<string, UserVector>('user-vectors').at(-1)!.value;
    await driver.pipe('listens', 'u', listen('u', 'e3', 1e15));
    driver.readOutput('user-vectors');
    await driver.advanceWallClockTime(1000);
    await driver.pipe('listens', 'u', listen('u', 'e100', NOW + 1000));
    await driver.pipe('listens', 'u', listen('u', 'e100', NOW + 2000));
    const after = driver.readOutput<string, UserVector>('user-vectors').map((r) => r.value);
    // Each later listen moves the vector, towards e100 (decayed against a far-future time, they would weigh nothing).
    expect(Array.from(after[0]!.vector)).not.toEqual(Array.from(before.vector));
    expect(Array.from(after[1]!.vector)).not.toEqual(Array.from(after[0]!.vector));
    expect(cosine(after[1]!.vector, s1.vectorOf('e100')!)).toBeGreaterThan(cosine(before.vector, s1.vectorOf('e100')!) + 0.2);
    expect(after.map((v) => [v.eventCount, v.version, v.updatedAt])).toEqual([
      [2, 2, NOW + 1000],
      [3, 3, NOW + 2000],
    ]);
    const dead = driver.readDeadLetters();
    expect(dead).toHaveLength(1);
    expect(dead[0]!.headers['dlq.error.code']).toBe(ErrorCodes.EVENT_TIME);
    expect(dead[0]!.headers['dlq.error.message']).toMatch(
      /event 'l\d+' of user 'u' has timestamp 1000000000000000 \(\+033658-09-27T01:46:40.000Z\), \d+ ms \(\d+ days\) ahead of the wall clock \(2025-06-01T00:00:00.000Z\); events more than 3600000 ms \(1 h\) ahead are refused.*epoch milliseconds.*--opt max-event-future-ms/,
    );
  });

  it.each([
    ['at the wall clock', NOW, undefined],
    ['1 h ahead (the default bound)', NOW + HOUR, undefined],
    ['1 h and 1 ms ahead', NOW + HOUR + 1, /3600001 ms \(1 h\) ahead of the wall clock.*more than 3600000 ms \(1 h\) ahead are refused/],
    ['365 days old (the default bound)', NOW - 365 * DAY, undefined],
    ['365 days and 1 ms old', NOW - 365 * DAY - 1, /31536000001 ms \(365 days\) older than the wall clock.*older than 31536000000 ms \(365 days\) are refused/],
    ['in seconds instead of milliseconds', Math.floor(NOW / 1000), /\(1970-01-21T.*older than 31536000000 ms \(365 days\) are refused.*seconds/],
    ['negative', -1, /timestamp must be a non-negative integer \(epoch milliseconds\), got -1/],
  ])('event time %s (%s)', async (_label, timestamp, refusal) => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }), { startTime: NOW });
    await stage(driver, s1);
    await activate(driver, 's1', null);
    await driver.pipe('listens', 'u', listen('u', 'e0', timestamp));
    const dead = driver.readDeadLetters();
    const vectors = driver.readOutput<string, UserVector>('user-vectors');
    if (refusal === undefined) {
      expect(dead).toEqual([]);
      expect(vectors.map((r) => r.value.updatedAt)).toEqual([timestamp]);
    } else {
      expect(dead.map((d) => d.headers['dlq.error.message'])).toEqual([expect.stringMatching(refusal)]);
      expect(vectors).toEqual([]);
    }
  });

  it('takes the event-time window from its options and from the CLI (--opt max-event-future-ms, max-event-age-ms)', async () => {
    const { s1, catalog } = setup();
    const built = [
      userVectors({ catalog, eventTime: { maxFutureMs: 0, maxAgeMs: DAY } }),
      topologies['user-vectors']!({ options: { 'max-event-future-ms': '0', 'max-event-age-ms': String(DAY) }, catalog: () => catalog }),
    ];
    for (const topology of built) {
      driver = await TopologyTestDriver.create(topology, { startTime: NOW });
      await stage(driver, s1);
      await activate(driver, 's1', null);
      for (const t of [NOW, NOW + 1, NOW - DAY, NOW - DAY - 1]) await driver.pipe('listens', 'u', listen('u', 'e0', t));
      expect(driver.readOutput<string, UserVector>('user-vectors').map((r) => r.value.updatedAt)).toEqual([NOW, NOW]);
      expect(driver.readDeadLetters().map((d) => d.headers['dlq.error.message'])).toEqual([
        expect.stringMatching(/1 ms ahead of the wall clock.*more than 0 ms ahead are refused/),
        expect.stringMatching(/86400001 ms \(1 day\) older than the wall clock.*older than 86400000 ms \(1 day\) are refused/),
      ]);
      await driver.close();
    }
  });

  it('accepts events of any age with --opt max-event-age-ms=Infinity', async () => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(topologies['user-vectors']!({ options: { 'max-event-age-ms': 'Infinity' }, catalog: () => catalog }), {
      startTime: NOW,
    });
    await stage(driver, s1);
    await activate(driver, 's1', null);
    await driver.pipe('listens', 'u', listen('u', 'e0', 0));
    expect(driver.readDeadLetters()).toEqual([]);
    expect(driver.readOutput<string, UserVector>('user-vectors').map((r) => r.value.updatedAt)).toEqual([0]);
  });

  it.each([
    ['max-event-future-ms', 'soon', /--opt max-event-future-ms must be a number of ms, got 'soon'/],
    ['max-event-age-ms', '0', /--opt max-event-age-ms must be a number of ms > 0 \(Infinity: no bound\), got '0'/],
  ])('refuses --opt %s=%s', (option, value, message) => {
    const { catalog } = setup();
    const build = () => topologies['user-vectors']!({ options: { [option]: value }, catalog: () => catalog });
    expect(build).toThrow(ConfigError);
    expect(build).toThrow(message);
  });

  it('dead-letters a malformed event and leaves the user state untouched', async () => {
    const { s1, catalog } = setup();
    driver = await TopologyTestDriver.create(userVectors({ catalog }));
    await stage(driver, s1);
    await activate(driver, 's1', null);
    await driver.pipe('listens', 'u', listen('u', 'e0', 1000));
    await driver.pipe('listens', 'u', { ...listen('u', 'e1', 1001), durationMs: 0 });
    expect(driver.readDeadLetters()).toHaveLength(1);
    await driver.pipe('listens', 'u', listen('u', 'e2', 1002));
    // The bad event counted for nothing: two events, versions 1 and 2.
    expect(driver.readOutput<string, UserVector>('user-vectors').map((r) => [r.value.eventCount, r.value.version])).toEqual([
      [1, 1],
      [2, 2],
    ]);
  });
});
