import { BruteForceIndex } from '../../../../src/vectors/index/brute-force';
import { mulberry32 } from '../../../support/random';

/** The obvious answer: score every row, sort by score (ties: lower row), drop excluded, take k. */
function naiveTopK(ids: string[], matrix: Float32Array, dims: number, query: Float32Array, k: number, exclude?: (id: string) => boolean) {
  const all = ids.map((id, r) => {
    let s = 0;
    for (let j = 0; j < dims; j++) s += query[j]! * matrix[r * dims + j]!;
    return { id, row: r, score: s };
  });
  all.sort((a, b) => b.score - a.score || a.row - b.row);
  return all.filter((e) => !exclude?.(e.id)).slice(0, k);
}

describe('BruteForceIndex against a naive sort', () => {
  const cases = [
    { n: 1, dims: 1, k: 1, exclusion: 'none' },
    { n: 7, dims: 3, k: 7, exclusion: 'none' },
    { n: 50, dims: 5, k: 1, exclusion: 'none' },
    { n: 200, dims: 16, k: 10, exclusion: 'none' },
    { n: 200, dims: 17, k: 200, exclusion: 'none' },
    { n: 500, dims: 32, k: 25, exclusion: 'every third' },
    { n: 500, dims: 32, k: 25, exclusion: 'the exact top 10' },
    { n: 100, dims: 8, k: 30, exclusion: 'all but 12' },
    { n: 100, dims: 8, k: 5, exclusion: 'all' },
  ] as const;

  it.each(cases)('n=$n dims=$dims k=$k, excluding $exclusion', ({ n, dims, k, exclusion }) => {
    const rand = mulberry32(n * 31 + dims * 7 + k);
    const matrix = Float32Array.from({ length: n * dims }, () => rand() * 2 - 1);
    const ids = Array.from({ length: n }, (_, i) => `e${i}`);
    const index = new BruteForceIndex({ ids, matrix, dims });
    for (let q = 0; q < 5; q++) {
      const query = Float32Array.from({ length: dims }, () => rand() * 2 - 1);
      const top10 = new Set(naiveTopK(ids, matrix, dims, query, 10).map((e) => e.id));
      const exclude = {
        none: undefined,
        'every third': (id: string) => Number(id.slice(1)) % 3 === 0,
        'the exact top 10': (id: string) => top10.has(id),
        'all but 12': (id: string) => Number(id.slice(1)) >= 12,
        all: () => true,
      }[exclusion];

      const got = index.search(query, k, exclude);
      const want = naiveTopK(ids, matrix, dims, query, k, exclude);
      expect(got.map((e) => e.id)).toEqual(want.map((e) => e.id));
      got.forEach((e, i) => expect(e.score).toBeCloseTo(want[i]!.score, 6));
    }
  });

  it('breaks ties by row: equal vectors come back in the order they were given', () => {
    const dims = 4;
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const row = [0.5, 0.5, 0.5, 0.5];
    const matrix = Float32Array.from([...row, ...row, 1, 0, 0, 0, ...row, ...row]);
    const index = new BruteForceIndex({ ids, matrix, dims });
    expect(index.search(Float32Array.from(row), 4).map((e) => e.id)).toEqual(['a', 'b', 'd', 'e']);
    expect(index.search(Float32Array.from(row), 2).map((e) => e.id)).toEqual(['a', 'b']);
    expect(index.search(Float32Array.from(row), 3, (id) => id === 'b').map((e) => e.id)).toEqual(['a', 'd', 'e']);
  });

  it('asks exclude only about rows that would enter the top k', () => {
    const dims = 2;
    const n = 1000;
    // Ascending scores in row order: every row would enter, the worst case; descending: only the first k would.
    const matrix = Float32Array.from({ length: n * dims }, (_, i) => (i % 2 === 0 ? (n - Math.floor(i / 2)) / n : 0));
    const ids = Array.from({ length: n }, (_, i) => `e${i}`);
    const asked: string[] = [];
    const result = new BruteForceIndex({ ids, matrix, dims }).search(Float32Array.from([1, 0]), 5, (id) => {
      asked.push(id);
      return false;
    });
    expect(result.map((e) => e.id)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
    expect(asked).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
  });
});
