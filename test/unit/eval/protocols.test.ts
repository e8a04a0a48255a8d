import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { datasetName, evalEvent, loadRatings, ratingEvent, type EvalEvent } from '../../../eval/data';
import { Bootstrap, userMetrics } from '../../../eval/metrics';
import { globalSplit, perUserSplit } from '../../../eval/protocols';

const listen = (userId: string, entityId: string, t: number, completion = 1): EvalEvent =>
  evalEvent({ eventId: `${userId}-${t}`, userId, entityId, msPlayed: 100 * completion, durationMs: 100, context: 't', timestamp: t });

describe('ratings as events', () => {
  it.each<[number, string, number, boolean]>([
    [5, 'listen', 1, true],
    [4, 'listen', 1, true],
    [3.5, 'listen', 0.375, false],
    [3, 'listen', 0.25, false],
    [2.5, 'listen', 0.125, false],
    [2, 'DISLIKE', -2, false],
    [0.5, 'DISLIKE', -2, false],
  ])('rating %s is a %s of weight %s (positive: %s)', (rating, kind, weight, positive) => {
    const e = evalEvent(ratingEvent(1, 'u', 'm', rating, 1000));
    expect('kind' in e.event ? e.event.kind : 'listen').toBe(kind);
    expect(e.weight).toBeCloseTo(weight, 12);
    expect(e.positive).toBe(positive);
  });

  it('reads a ratings file unsorted, sorted by time with ties in file order, seconds as ms', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-'));
    try {
      const file = join(dir, 'ratings.csv');
      writeFileSync(file, 'userId,movieId,rating,timestamp\n1,10,4.0,300\n1,11,2.0,100\n2,10,3.0,300\n2,12,5.0,200\n');
      const d = loadRatings(file);
      expect(d.events.map((e) => [e.userId, e.entityId, e.timestamp])).toEqual([
        ['u1', 'm11', 100_000],
        ['u2', 'm12', 200_000],
        ['u1', 'm10', 300_000],
        ['u2', 'm10', 300_000],
      ]);
      writeFileSync(file, 'user,item\n1,2\n');
      expect(() => loadRatings(file)).toThrow(/expected the header 'userId,movieId,rating,timestamp'/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('names a dataset after its folder when the file is ratings.csv', () => {
    expect(datasetName('/data/ml-latest-small/ratings.csv')).toBe('ml-latest-small');
    expect(datasetName('/tmp/my-log.csv')).toBe('my-log');
  });
});

describe('splits', () => {
  // u1: 12 events; u2: 4 events (3 training: too few to be evaluated).
  const events: EvalEvent[] = [];
  for (let i = 0; i < 10; i++) events.push(listen('u1', `e${i}`, 100 + i));
  events.push(listen('u1', 'e2', 200)); // a replay in the test period: seen before, not a test item
  events.push(listen('u1', 'e20', 201, 0.5)); // a partial play: not a test positive
  for (let i = 0; i < 4; i++) events.push(listen('u2', `e${i}`, 100 + i));
  events.sort((a, b) => a.timestamp - b.timestamp);

  it('per user: the first 70% (rounded) train, up to 85% stream, the rest test; test items are new positive entities', () => {
    const s = perUserSplit(events);
    // u1 has 12 events: 8 training, 2 stream (round(10.2) = 10), 2 test.
    expect(s.training.filter((e) => e.userId === 'u1').map((e) => e.entityId)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7']);
    expect(s.stream.filter((e) => e.userId === 'u1').map((e) => e.entityId)).toEqual(['e8', 'e9']);
    expect(s.test.filter((e) => e.userId === 'u1').map((e) => e.entityId)).toEqual(['e2', 'e20']);
    // No new positive entity in u1's test: nobody is evaluated; u2 has 3 training events (< 5).
    expect(s.users).toEqual([]);
    expect(s.trainedUsers).toBe(1);
    const withNew = perUserSplit([...events, listen('u1', 'e30', 300)]);
    expect(withNew.users).toEqual(['u1']);
    expect([...withNew.testItems.get('u1')!]).toEqual(['e30']);
    expect(withNew.seen.get('u1')!.has('e9')).toBe(true);
  });

  it('global: one cut for everybody at the 70% and 85% quantiles of time', () => {
    const s = globalSplit(events);
    const t1 = events[Math.floor(0.7 * events.length)]!.timestamp;
    expect(s.training.every((e) => e.timestamp < t1)).toBe(true);
    expect(s.training.length + s.stream.length + s.test.length).toBe(events.length);
    expect(s.test.every((e) => e.timestamp >= s.stream.at(-1)!.timestamp)).toBe(true);
  });
});

describe('metrics', () => {
  it('computes recall against all test items and NDCG against the ideal ranking', () => {
    const test = new Set(['a', 'b', 'c', 'd']);
    const list = ['a', 'x', 'b', ...Array.from({ length: 47 }, (_, i) => `y${i}`), 'c'];
    const m = userMetrics(list, test);
    expect(m['recall@10']).toBe(0.5);
    expect(m['recall@50']).toBe(0.5); // 'c' is 51st
    const ideal = 1 + 1 / Math.log2(3) + 1 / Math.log2(4) + 1 / Math.log2(5);
    expect(m['ndcg@50']).toBeCloseTo((1 + 1 / Math.log2(4)) / ideal, 12);
  });

  it('bootstraps the same resamples for the same seed, and intervals around the mean', () => {
    const values = Array.from({ length: 200 }, (_, i) => (i % 10) / 10);
    const a = new Bootstrap(200, 300, 9);
    expect(a.interval(values)).toEqual(new Bootstrap(200, 300, 9).interval(values));
    const [lo, hi] = a.interval(values);
    expect(lo).toBeLessThan(0.45);
    expect(hi).toBeGreaterThan(0.45);
    expect(hi - lo).toBeLessThan(0.15);
    const same = a.difference(values, values);
    expect(same).toEqual({ mean: 0, ci95: [0, 0] });
  });
});
