/**
 * The chaos suite's checks must be able to fail: each fault a consumer would
 * notice (a lost event, a repeated or wrong record, a snapshot going back, a
 * good record dead-lettered, a switch before READY) moves its figure off zero.
 */
import { refreshPolicy } from '../../../src/vectors/candidate-refresh';
import type { CandidateRequest, Candidates, SnapshotControl, UserVector } from '../../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import {
  type At,
  checkCandidates,
  checkControlLog,
  checkDeadLetters,
  checkUserVectors,
  type Expected,
  referenceList,
  snapshotOrderViolations,
} from '../../chaos/checks';
import type { SnapshotRef } from '../../chaos/reference';
import { ALL_FAULT_KINDS, planSchedule } from '../../chaos/schedule';
import { clusteredSnapshot, controlRecord, manifestOf } from '../topologies/vectors-fixtures';

const vec = (...xs: number[]) => Float32Array.from(xs);

async function fixture() {
  const m1 = clusteredSnapshot('s1', 64, 4, 1);
  const m2 = clusteredSnapshot('s2', 64, 4, 2);
  const catalog = new SnapshotCatalog(
    new InMemorySnapshotSource(
      new Map([
        ['s1', m1],
        ['s2', m2],
      ]),
    ),
    { index: 'exact' },
  );
  const refs = new Map<string, SnapshotRef>();
  for (const m of [m1, m2]) {
    const loaded = await catalog.ensure(manifestOf(m));
    refs.set(m.snapshotId, { vectors: new Map(), requests: new Map(), loaded, deadLetters: 0 });
  }
  // User u1 (3 events): v1, v2 in s1, v3 in s2. User u2 (1 event) in s1.
  const plan: [string, number, string, Float32Array][] = [
    ['u1', 1, 's1', vec(1, 0, 0, 0)],
    ['u1', 2, 's1', vec(0, 1, 0, 0)],
    ['u1', 3, 's2', vec(0, 0, 1, 0)],
    ['u2', 1, 's1', vec(0, 0, 0, 1)],
  ];
  const records: At<UserVector>[] = [];
  const requests: At<CandidateRequest>[] = [];
  const lists: At<Candidates>[] = [];
  let offset = 0n;
  for (const [user, version, snap, vector] of plan) {
    const ref = refs.get(snap)!;
    (ref.vectors.get(user) ?? ref.vectors.set(user, new Map()).get(user)!).set(version, { vector, eventCount: version, updatedAt: 1000 + version });
    const req = { vector, banned: [], recent: ['e1'], at: 1000 + version, force: false, consumed: Buffer.alloc(0) };
    (ref.requests.get(user) ?? ref.requests.set(user, new Map()).get(user)!).set(version, req);
    const partition = user === 'u1' ? 0 : 1;
    records.push({ key: user, partition, offset, userId: user, snapshotId: snap, vector, updatedAt: 1000 + version, eventCount: version, version });
    requests.push({
      key: user,
      partition,
      offset,
      userId: user,
      snapshotId: snap,
      vector,
      version,
      banned: [],
      recent: ['e1'],
      at: 1000 + version,
      force: false,
      consumed: Buffer.alloc(0),
    });
    const items = referenceList(ref.loaded.index, req, 5).map((n) => ({ entityId: n.id, score: Math.fround(n.score) }));
    lists.push({ key: user, partition, offset, userId: user, snapshotId: snap, items, generatedAt: 1000 + version, userVectorVersion: version });
    offset++;
  }
  const expected: Expected = new Map([
    ['u1', { n: 3, kind: 'u' }],
    ['u2', { n: 1, kind: 'u' }],
  ]);
  return { refs, records, requests, lists, expected };
}

const ORDER = ['s1', 's2'];
const candidateOptions = { k: 5, policy: refreshPolicy({ minMove: 0, minIntervalMs: 0 }), exactlyOnce: true };

describe('checkUserVectors', () => {
  it('finds nothing wrong in a clean output', async () => {
    const { refs, records, expected } = await fixture();
    const f = checkUserVectors(records, expected, refs, ORDER, true, new Set(['u1']));
    expect([f.lost, f.repeated, f.overApplied, f.differs, f.unexpectedKeys, f.orderPartitions.length, f.orderUsers, f.notSwitched]).toEqual([
      0, 0, 0, 0, 0, 0, 0, 0,
    ]);
  });

  it.each([
    ['a missing version is lost', (r: At<UserVector>[]) => r.filter((x) => !(x.key === 'u1' && x.version === 2)), { lost: 1 }],
    ['a user without output loses all its events', (r: At<UserVector>[]) => r.filter((x) => x.key !== 'u2'), { lost: 1 }],
    ['a repeated version is double-applied', (r: At<UserVector>[]) => [...r, { ...r[1]!, offset: 99n }], { repeated: 1, orderPartitions: [0], orderUsers: 1 }],
    ['a version above n is applied twice', (r: At<UserVector>[]) => [...r, { ...r[2]!, version: 4, eventCount: 4, offset: 99n }], { overApplied: 1 }],
    ['a changed vector differs', (r: At<UserVector>[]) => r.map((x, i) => (i === 0 ? { ...x, vector: vec(1, 0, 0, 1e-7) } : x)), { differs: 1 }],
    ['a wrong eventCount differs', (r: At<UserVector>[]) => r.map((x, i) => (i === 3 ? { ...x, eventCount: 2 } : x)), { differs: 1, overApplied: 1 }],
    [
      'output for a poison key is unexpected',
      (r: At<UserVector>[]) => [...r, { ...r[0]!, key: 'poison-1', userId: 'poison-1', partition: 5 }],
      { unexpectedKeys: 1 },
    ],
    // v1 in S1, v2 in S2, v3 in S1 again (neither has a reference value in the snapshot it names).
    [
      'a user back in S1 after S2',
      (r: At<UserVector>[]) => r.map((x, i) => (i === 1 ? { ...x, snapshotId: 's2' } : i === 2 ? { ...x, snapshotId: 's1' } : x)),
      { orderPartitions: [0], orderUsers: 1, differs: 2 },
    ],
  ])('%s', async (_name, mutate, want) => {
    const { refs, records, expected } = await fixture();
    const f = checkUserVectors(mutate(records), expected, refs, ORDER, true);
    expect(f).toMatchObject({ lost: 0, repeated: 0, overApplied: 0, differs: 0, unexpectedKeys: 0, orderPartitions: [], orderUsers: 0, ...want });
  });

  it('counts a repeated version as re-emitted, not double-applied, at-least-once', async () => {
    const { refs, records, expected } = await fixture();
    const f = checkUserVectors([...records, { ...records[3]!, offset: 99n }], expected, refs, ORDER, false);
    expect([f.repeated, f.reEmitted, f.differs]).toEqual([0, 1, 0]);
  });

  it('flags a user with late events whose last record is not in the final snapshot', async () => {
    const { refs, records, expected } = await fixture();
    expect(checkUserVectors(records, expected, refs, ORDER, true, new Set(['u2'])).notSwitched).toBe(1);
  });
});

describe('checkCandidates', () => {
  it('finds nothing wrong in a clean output', async () => {
    const { refs, requests, lists, expected } = await fixture();
    const f = checkCandidates(lists, requests, expected, refs, ORDER, candidateOptions);
    expect([f.lost, f.repeated, f.differs, f.orderPartitions.length, f.orderUsers, f.comparedWithReference]).toEqual([0, 0, 0, 0, 0, 4]);
  });

  it.each([
    ['an unanswered last request is lost', (l: At<Candidates>[]) => l.filter((x) => !(x.key === 'u1' && x.userVectorVersion === 3)), { lost: 1 }],
    ['a repeated list', (l: At<Candidates>[]) => [...l, { ...l[3]!, offset: 99n }], { repeated: 1 }],
    ['a list of other items differs', (l: At<Candidates>[]) => l.map((x, i) => (i === 1 ? { ...x, items: [...x.items].reverse() } : x)), { differs: 1 }],
    // ...and, being u2's last list, leaves its last request (of S1, superseded) unanswered.
    [
      'a list for a request never made differs',
      (l: At<Candidates>[]) => [...l, { ...l[3]!, userVectorVersion: 7, offset: 99n }],
      { differs: 1, supersededUnanswered: 1 },
    ],
    [
      'a list going back to S1 after S2',
      (l: At<Candidates>[]) => [...l, { ...l[0]!, offset: 99n }],
      { repeated: 1, orderPartitions: [0], orderUsers: 1, lost: 1 },
    ],
  ])('%s', async (_name, mutate, want) => {
    const { refs, requests, lists, expected } = await fixture();
    expect(checkCandidates(mutate(lists), requests, expected, refs, ORDER, candidateOptions)).toMatchObject({
      lost: 0,
      repeated: 0,
      differs: 0,
      orderPartitions: [],
      orderUsers: 0,
      ...want,
    });
  });

  it('does not count an unanswered last request whose vector did not move as lost', async () => {
    const { refs, requests, lists, expected } = await fixture();
    // u2's second request carries the same vector: the refresh policy keeps the list.
    const again = { ...requests[3]!, version: 2, offset: 98n };
    const e = new Map(expected).set('u2', { n: 2, kind: 'u' });
    expect(checkCandidates(lists, [...requests, again], e, refs, ORDER, candidateOptions).lost).toBe(0);
  });

  it('takes a list answering either copy of a request repeated upstream as right, and one answering neither as differing', async () => {
    const { refs, requests, lists, expected } = await fixture();
    // u1 gives feedback: its lists before the last are checked against the requests as written. Its v1 request was
    // written twice with different vectors (reprocessed after a crash, its listens and feedback interleaved otherwise).
    const e = new Map(expected).set('u1', { n: 3, kind: 'f' });
    const copy = { ...requests[0]!, vector: vec(0, 0, 0, 1), offset: 97n };
    expect(checkCandidates(lists, [...requests, copy], e, refs, ORDER, candidateOptions).differs).toBe(0);
    const neither = lists.map((x, i) => (i === 0 ? { ...x, items: [...x.items].reverse() } : x));
    expect(checkCandidates(neither, [...requests, copy], e, refs, ORDER, candidateOptions).differs).toBe(1);
  });
});

describe('checkDeadLetters', () => {
  const poison = [
    { kind: 'not-avro', key: 'poison-bytes-0', topic: 'listens', partition: 1, offset: '7', expectedCode: 'VEC_ERR_WIRE_FORMAT' },
    { kind: 'far-future', key: 'z-future-1', topic: 'listens', partition: 0, offset: '3', expectedCode: 'VEC_ERR_EVENT_TIME' },
  ];
  const dl = (key: string, partition: number, offset: string, code: string) => ({
    key,
    headers: { 'dlq.error.code': code, 'dlq.source.topic': 'listens', 'dlq.source.partition': String(partition), 'dlq.source.offset': offset },
  });

  it('matches each poison record with its dead letter and code', () => {
    const f = checkDeadLetters([dl('poison-bytes-0', 1, '7', 'VEC_ERR_WIRE_FORMAT'), dl('z-future-1', 0, '3', 'VEC_ERR_EVENT_TIME')], poison);
    expect(f).toMatchObject({ records: 2, goodRecords: 0, missing: 0, duplicates: 0, wrongCode: 0, byCode: { VEC_ERR_WIRE_FORMAT: 1, VEC_ERR_EVENT_TIME: 1 } });
  });

  it('flags a good record dead-lettered, a poison missing, a copy too many and a wrong code', () => {
    const f = checkDeadLetters(
      [dl('u1', 0, '4', 'VEC_ERR_SCHEMA_REGISTRY'), dl('poison-bytes-0', 1, '7', 'VEC_ERR_AVRO_DECODE'), dl('poison-bytes-0', 1, '7', 'VEC_ERR_AVRO_DECODE')],
      poison,
    );
    expect(f).toMatchObject({ goodRecords: 1, missing: 1, duplicates: 1, wrongCode: 2 });
  });
});

describe('checkControlLog', () => {
  const member = (topology: string): [string, SnapshotControl] => [`member/${topology}`, controlRecord({ kind: 'MEMBER', topology, partitions: 2 })];
  const ready = (id: string, topology: string, partition: number): [string, SnapshotControl] => [
    `report/${id}/${topology}/${partition}`,
    controlRecord({ kind: 'REPORT', snapshotId: id, topology, partition, phase: 'READY' }),
  ];
  const active = (id: string): [string, SnapshotControl] => ['active', controlRecord({ kind: 'ACTIVATE', snapshotId: id })];
  const log = (entries: [string, SnapshotControl][]) => entries.map(([key, value]) => ({ key, value }));

  it('accepts a pointer moved after every member partition was READY', () => {
    expect(checkControlLog(log([member('a'), ready('s1', 'a', 0), ready('s1', 'a', 1), active('s1')]))).toEqual({
      active: 's1',
      earlyActivations: 0,
      failed: [],
    });
  });

  it('counts the partitions not READY when the pointer moved (I1)', () => {
    expect(checkControlLog(log([member('a'), member('b'), ready('s1', 'a', 0), active('s1')])).earlyActivations).toBe(3);
  });
});

describe('snapshotOrderViolations', () => {
  it('names the partitions whose snapshots go back, rollbacks being later entries of the order', () => {
    const r = (partition: number, snapshotId: string) => ({ partition, snapshotId });
    expect(snapshotOrderViolations([r(0, 's1'), r(0, 's2'), r(1, 's2'), r(1, 's1'), r(2, 's1')], ['s1', 's2']).partitions).toEqual([1]);
    expect(snapshotOrderViolations([r(1, 's2'), r(1, 's1')], ['s1', 's2', 's1']).partitions).toEqual([]);
  });
});

describe('planSchedule', () => {
  const o = { durationMs: 300_000, spacingMs: 25_000, alos: true };

  it('is the same for the same seed and differs for another', () => {
    expect(planSchedule({ ...o, seed: 7 })).toEqual(planSchedule({ ...o, seed: 7 }));
    expect(planSchedule({ ...o, seed: 8 })).not.toEqual(planSchedule({ ...o, seed: 7 }));
  });

  it('has every kind, the switch in the middle, in time order within the duration', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const s = planSchedule({ ...o, seed });
      expect(new Set(s.map((f) => f.kind))).toEqual(new Set(ALL_FAULT_KINDS));
      expect(s.filter((f) => f.kind === 'kill-switch')).toHaveLength(1);
      expect(s.map((f) => f.atMs)).toEqual([...s.map((f) => f.atMs)].sort((a, b) => a - b));
      expect(s.at(-1)!.atMs).toBeLessThan(o.durationMs);
    }
  });

  it('keeps to the kinds asked for', () => {
    const s = planSchedule({ ...o, seed: 3, durationMs: 60_000, spacingMs: 15_000, kinds: ['broker-restart', 'kill-switch'] });
    expect(new Set(s.map((f) => f.kind))).toEqual(new Set(['broker-restart', 'kill-switch']));
  });

  it('switches to S2 mid-stream even when no kill during the switch is asked for', () => {
    const s = planSchedule({ ...o, seed: 3, durationMs: 150_000, kinds: ['broker-restart'] });
    expect(s.map((f) => f.kind)).toEqual(['broker-restart', 'broker-restart', 'switch', 'broker-restart', 'broker-restart', 'broker-restart']);
  });
});
