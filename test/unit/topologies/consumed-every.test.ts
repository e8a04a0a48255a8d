/**
 * user-vectors' `consumedEvery: N`: candidate requests carry the whole
 * consumed set in every N-th version only, and the candidates topology keeps
 * the last one per user. Consumed entities still never come back as
 * candidates when candidates reads the requests in order (as its group
 * does); what a consumer that starts from the latest request loses is shown too.
 */
import { TopologyTestDriver } from '../../../src';
import { ConfigError } from '../../../src/errors';
import type { CandidateRequest, Candidates, ListenEvent, SnapshotControl } from '../../../src/vectors/records';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../../src/vectors/snapshot/entity-matrix';
import { RECENT_CONSUMED } from '../../../src/vectors/user-state';
import { typedJsonSerde } from '../../../src/runtime/serde/typed-json';
import type { CandidateMark } from '../../../src/vectors/candidate-refresh';
import { consumedLookup } from '../../../src/vectors/consumed';
import { requestConsumed } from '../../../topologies/bolts/candidates-bolt';
import { candidates } from '../../../topologies/candidates';
import { userVectors } from '../../../topologies/user-vectors';
import { clusteredSnapshot, controlRecord, manifestOf } from './vectors-fixtures';

const K = 40;
const EVERY = 25;
const s1 = clusteredSnapshot('s1', 2000, 8, 1);
// 150 listens of cluster 0, the nearest to the user's vector: 100 of them older than the recent 50.
const consumed = Array.from({ length: 150 }, (_, i) => `e${i * 8}`);

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
let requests: CandidateRequest[];

beforeAll(async () => {
  catalog = new SnapshotCatalog(new InMemorySnapshotSource(new Map([['s1', s1]])), { index: 'exact' });
  const users = await TopologyTestDriver.create(userVectors({ catalog, consumedEvery: EVERY }), { startTime: 1_000_000 });
  try {
    await controls(users, s1);
    for (const [i, entityId] of consumed.entries()) {
      const e: ListenEvent = { eventId: `l${i}`, userId: 'u', entityId, msPlayed: 200_000, durationMs: 200_000, context: 'radio', timestamp: 1_000_000 + i };
      await users.pipe('listens', 'u', e, { timestamp: e.timestamp });
    }
    requests = users.readOutput<string, CandidateRequest>('candidate-requests').map((r) => r.value);
  } finally {
    await users.close();
  }
});

/** The last list the candidates topology writes after reading `rs` in order (every request answered: no interval, no age). */
async function lastList(rs: CandidateRequest[]): Promise<string[]> {
  const driver = await TopologyTestDriver.create(candidates({ catalog, k: K, refresh: { minIntervalMs: 0, maxAgeMs: 0 } }));
  try {
    await controls(driver, s1);
    for (const r of rs) await driver.pipe('candidate-requests', 'u', r, { timestamp: r.at });
    return driver
      .readOutput<string, Candidates>('recommendation-candidates')
      .pop()!
      .value.items.map((i) => i.entityId);
  } finally {
    await driver.close();
  }
}

describe('user-vectors consumedEvery', () => {
  it('sends the whole consumed set only in versions 1, 1 + N, 1 + 2N, ...', () => {
    expect(requests).toHaveLength(consumed.length);
    for (const r of requests) {
      expect(r.consumedEvery).toBe(EVERY);
      expect(r.consumed.length).toBe((r.version - 1) % EVERY === 0 ? r.version * 4 : 0);
    }
    // 6 whole sets of ≤ 600 bytes instead of 150 of up to 600.
    const bytes = requests.reduce((n, r) => n + r.consumed.length, 0);
    expect(bytes).toBeLessThan((consumed.length * consumed.length * 4) / 2 / 10);
  });

  it('candidates reading the requests in order: a full list without any consumed entity, the older ones included', async () => {
    const ids = await lastList(requests);
    expect(ids).toHaveLength(K);
    expect(ids.filter((id) => consumed.includes(id))).toEqual([]);
  });

  it('a candidates consumer that starts from the last request excludes only the recent ones until the next whole set', async () => {
    const last = requests.at(-1)!;
    expect(last.consumed.length).toBe(0);
    const ids = await lastList([last]);
    expect(ids.filter((id) => consumed.slice(-RECENT_CONSUMED).includes(id))).toEqual([]);
    expect(ids.some((id) => consumed.includes(id))).toBe(true);
    // The next whole set (a later version) puts it right.
    const whole = requests.find((r) => r.consumed.length > 0 && r.version === 126)!;
    expect((await lastList([whole, { ...last, version: 151 }])).filter((id) => consumed.slice(0, 126).includes(id))).toEqual([]);
  });

  it('an older whole set redelivered does not replace the newer one', async () => {
    const wholes = requests.filter((r) => r.consumed.length > 0);
    const ids = await lastList([...wholes, wholes[0]!, ...requests.slice(-3)]);
    expect(ids.filter((id) => consumed.includes(id))).toEqual([]);
  });

  it.each([0, 1.5, RECENT_CONSUMED + 1])('refuses consumedEvery %p: the recent entities must cover the gap', (every) => {
    expect(() => userVectors({ catalog, consumedEvery: every })).toThrow(ConfigError);
    expect(() => userVectors({ catalog, consumedEvery: every })).toThrow(`consumedEvery must be an integer from 1 to ${RECENT_CONSUMED}`);
  });
});

describe('a deferred request kept in store marks', () => {
  it('keeps its whole consumed set once the mark is read back from the store (typed JSON)', () => {
    const whole = requests.find((r) => r.version === 126)!;
    const mark: CandidateMark = { snapshotId: 's1', vector: whole.vector, version: 125, at: whole.at - 1, pending: { request: whole, since: 1 } };
    const serde = typedJsonSerde<CandidateMark>(); // the serde topologies/candidates.ts declares for `marks`
    const back = serde.deserialize(serde.serialize(mark)).pending!.request;
    expect(Buffer.isBuffer(back.consumed)).toBe(false); // what the store gives back
    expect(requestConsumed(back)).toEqual(whole.consumed);
    const lookup = consumedLookup(requestConsumed(back));
    expect(consumed.slice(0, 126).every((id) => lookup.has(id))).toBe(true);
  });
});
