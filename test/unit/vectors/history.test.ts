import { ConfigError } from '../../../src/errors';
import { emptyHistory, recordInteraction, DEFAULT_HISTORY_CAPACITY } from '../../../src/vectors/history';
import type { Interaction } from '../../../src/vectors/signals';

const at = (timestamp: number, entityId = `e${timestamp}`): Interaction => ({ entityId, weight: 1, timestamp });
const times = (h: { items: Interaction[] }) => h.items.map((i) => i.timestamp);

describe('InteractionHistory', () => {
  it('defaults to 200 interactions', () => {
    expect(emptyHistory()).toEqual({ capacity: DEFAULT_HISTORY_CAPACITY, items: [] });
    expect(DEFAULT_HISTORY_CAPACITY).toBe(200);
  });

  it.each([0, -1, 1.5, NaN])('refuses capacity %p', (capacity) => {
    expect(() => emptyHistory(capacity)).toThrow(ConfigError);
    expect(() => emptyHistory(capacity)).toThrow(/history 'capacity' must be an integer ≥ 1/);
  });

  it.each<[string, number, number[], number[]]>([
    ['in order, under capacity', 5, [1, 2, 3], [1, 2, 3]],
    ['in order, dropping the oldest', 3, [1, 2, 3, 4, 5], [3, 4, 5]],
    ['out of order, kept sorted by time', 5, [3, 1, 2], [1, 2, 3]],
    ['a late event among retained ones evicts the oldest', 3, [1, 3, 4, 2], [2, 3, 4]],
    ['a late event older than every retained one is not kept', 3, [2, 3, 4, 1], [2, 3, 4]],
    ['ties keep arrival order', 4, [1, 1, 1], [1, 1, 1]],
    ['capacity 1 keeps the latest', 1, [5, 7, 6], [7]],
  ])('%s', (_label, capacity, arrivals, kept) => {
    const h = emptyHistory(capacity);
    for (const t of arrivals) expect(recordInteraction(h, at(t))).toBe(h);
    expect(times(h)).toEqual(kept);
    expect(h.items.length).toBeLessThanOrEqual(capacity);
  });

  it('keeps ties in arrival order and copies what it is given', () => {
    const h = emptyHistory(3);
    const first = at(1, 'a');
    recordInteraction(h, first);
    recordInteraction(h, at(1, 'b'));
    first.weight = 99;
    expect(h.items.map((i) => [i.entityId, i.weight])).toEqual([
      ['a', 1],
      ['b', 1],
    ]);
  });

  it('is plain JSON-serialisable data', () => {
    const h = emptyHistory(2);
    recordInteraction(h, at(1));
    expect(JSON.parse(JSON.stringify(h))).toEqual(h);
  });
});
