import { ConfigError, ErrorCodes, NeighbourIndexError } from '../../../../src/errors';
import type { NeighbourIndex, SearchOptions, VectorSet } from '../../../../src/vectors/index/ann-index';
import { BruteForceIndex } from '../../../../src/vectors/index/brute-force';
import type { HnswGraph } from '../../../../src/vectors/index/hnsw-graph';
import { HnswIndex } from '../../../../src/vectors/index/hnsw-index';
import { allocateMatrix } from '../../../../src/vectors/index/simd';
import { mulberry32 } from '../../../support/random';

function normaliseRows(m: Float32Array, dims: number): Float32Array {
  for (let off = 0; off < m.length; off += dims) {
    let s = 0;
    for (let j = 0; j < dims; j++) s += m[off + j]! ** 2;
    for (let j = 0; j < dims; j++) m[off + j]! /= Math.sqrt(s);
  }
  return m;
}

/** Unit vectors in gaussian clusters around random unit centres; `count` data rows followed by `queries` query rows. */
function clustered(count: number, queries: number, dims: number, clusters: number, seed: number) {
  const rand = mulberry32(seed);
  const g = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const centres = normaliseRows(Float32Array.from({ length: clusters * dims }, g), dims);
  const all = new Float32Array((count + queries) * dims);
  for (let i = 0; i < count + queries; i++) {
    const c = Math.floor(rand() * clusters) * dims;
    for (let j = 0; j < dims; j++) all[i * dims + j] = centres[c + j]! + (0.7 / Math.sqrt(dims)) * g();
  }
  normaliseRows(all, dims);
  const vectors: VectorSet = { ids: Array.from({ length: count }, (_, i) => `e${i}`), matrix: all.slice(0, count * dims), dims };
  const query = (q: number) => all.slice((count + q) * dims, (count + q + 1) * dims);
  return { vectors, query };
}

const dot = (v: VectorSet, id: string, q: Float32Array) => {
  const r = Number(id.slice(1));
  let s = 0;
  for (let j = 0; j < v.dims; j++) s += q[j]! * v.matrix[r * v.dims + j]!;
  return s;
};

/** The same vectors in WebAssembly memory, as snapshots hold them: HnswIndex then searches with SIMD distances. */
function inWasm(v: VectorSet): VectorSet {
  const matrix = allocateMatrix(v.matrix.length);
  matrix.set(v.matrix);
  return { ...v, matrix };
}

const implementations: [string, (v: VectorSet) => NeighbourIndex][] = [
  ['BruteForceIndex', (v) => new BruteForceIndex(v)],
  ['HnswIndex', (v) => new HnswIndex(v, { m: 8, efConstruction: 100, efSearch: 50 })],
  ['HnswIndex (SIMD)', (v) => new HnswIndex(inWasm(v), { m: 8, efConstruction: 100, efSearch: 50 })],
];

describe.each(implementations)('NeighbourIndex contract: %s', (_name, build) => {
  const { vectors, query } = clustered(2000, 20, 16, 20, 42);
  const index = build(vectors);

  it('knows its size and dims', () => {
    expect(index.size).toBe(2000);
    expect(index.dims).toBe(16);
  });

  it('returns k distinct ids, best first, scored with the inner product', () => {
    for (const k of [1, 10, 100]) {
      const q = query(k % 20);
      const result = index.search(q, k);
      expect(result).toHaveLength(k);
      expect(new Set(result.map((e) => e.id)).size).toBe(k);
      for (let i = 0; i < k; i++) {
        expect(result[i]!.score).toBeCloseTo(dot(vectors, result[i]!.id, q), 5);
        if (i > 0) expect(result[i]!.score).toBeLessThanOrEqual(result[i - 1]!.score + 1e-6);
      }
    }
  });

  it('finds a stored vector as its own nearest neighbour with score 1', () => {
    const own = vectors.matrix.slice(123 * 16, 124 * 16);
    expect(index.search(own, 1)[0]).toEqual({ id: 'e123', score: expect.closeTo(1, 5) });
  });

  it('works up to k = size', () => {
    const result = index.search(query(0), 2000);
    expect(new Set(result.map((e) => e.id)).size).toBe(2000);
  });

  const exclusions: [string, (nearest: Set<string>) => (id: string) => boolean, number][] = [
    ['the 20 nearest', (nearest) => (id) => nearest.has(id), 10],
    ['every other id', () => (id) => Number(id.slice(1)) % 2 === 1, 10],
    ['all but every 100th id (20 left)', () => (id) => Number(id.slice(1)) % 100 !== 0, 15],
    ['all but 7 ids: fewer than k are left', () => (id) => Number(id.slice(1)) >= 7, 10],
    ['everything', () => () => true, 10],
  ];

  it.each(exclusions)('excluding %s still returns k results when there are enough, none of them excluded', (_what, make, k) => {
    const exact = new BruteForceIndex(vectors);
    for (let q = 0; q < 5; q++) {
      const nearest = new Set(exact.search(query(q), 20).map((e) => e.id));
      const exclude = make(nearest);
      const left = vectors.ids.filter((id) => !exclude(id)).length;
      const result = index.search(query(q), k, exclude);
      expect(result).toHaveLength(Math.min(k, left));
      expect(result.filter((e) => exclude(e.id))).toEqual([]);
      if (left <= k) expect(new Set(result.map((e) => e.id))).toEqual(new Set(vectors.ids.filter((id) => !exclude(id))));
    }
  });

  it.each([
    ['at once', 0],
    ['after many calls', 300],
  ])('rethrows an exception thrown by exclude (%s) and stays usable', (_when, after) => {
    let calls = 0;
    const boom = new Error('exclusion store unavailable');
    const exclude = () => {
      if (++calls > after) throw boom;
      return true;
    };
    expect(() => index.search(query(1), 10, exclude)).toThrow(boom);
    expect(index.search(query(1), 10)).toHaveLength(10);
  });

  it.each([
    ['a query of the wrong dims', () => index.search(new Float32Array(15), 5), /query has 15 dims but the index holds 16-dim vectors/],
    ['a query that is not a Float32Array', () => index.search([0, 1] as unknown as Float32Array, 5), /query must be a Float32Array/],
    ['a query with NaN', () => index.search(new Float32Array(16).fill(NaN), 5), /query has a non-finite value NaN at position 0/],
    ['k = 0', () => index.search(query(0), 0), /k must be an integer in 1\.\.2000 \(the index size\), got 0/],
    ['k > size', () => index.search(query(0), 2001), /k must be an integer in 1\.\.2000 \(the index size\), got 2001; clamp it/],
    ['a fractional k', () => index.search(query(0), 2.5), /k must be an integer in 1\.\.2000/],
  ])('rejects %s with a clear NeighbourIndexError', (_what, call, message) => {
    expect(call).toThrow(NeighbourIndexError);
    expect(call).toThrow(message);
  });

  it.each([
    ['an empty set', { ids: [], matrix: new Float32Array(0), dims: 4 }, /cannot build an index over 0 vectors/],
    ['dims 0', { ids: ['a'], matrix: new Float32Array(0), dims: 0 }, /dims must be a positive integer, got 0/],
    ['a matrix of the wrong length', { ids: ['a', 'b'], matrix: new Float32Array(7), dims: 4 }, /matrix holds 7 floats but 2 ids × 4 dims need 8/],
    ['a duplicate id', { ids: ['a', 'b', 'a'], matrix: new Float32Array(6).fill(1), dims: 2 }, /entity id 'a' appears twice \(rows 0 and 2\)/],
    [
      'an infinite value',
      { ids: ['a', 'b'], matrix: Float32Array.from([1, 0, 0, Infinity]), dims: 2 },
      /vector of entity 'b' \(row 1\) has a non-finite value Infinity at position 1/,
    ],
  ])('refuses to build from %s with a clear NeighbourIndexError', (_what, bad, message) => {
    const attempt = () => build(bad);
    expect(attempt).toThrow(NeighbourIndexError);
    expect(attempt).toThrow(message);
    try {
      attempt();
    } catch (e) {
      expect((e as NeighbourIndexError).code).toBe(ErrorCodes.INDEX_ARGUMENT_INVALID);
      expect((e as NeighbourIndexError).retriable).toBe(false);
    }
  });
});

describe.each([
  ['in JavaScript', false],
  ['with SIMD (WebAssembly memory)', true],
])('HnswIndex against exact search on 5k × 32 clustered vectors, distances %s', (_how, simd) => {
  const QUERIES = 200;
  const { vectors, query } = clustered(5000, QUERIES, 32, 50, 7);
  const exact = new BruteForceIndex(vectors);
  const hnsw = new HnswIndex(simd ? inWasm(vectors) : vectors);

  function recallAt10(exclude?: (q: number) => (id: string) => boolean, options?: SearchOptions): number {
    let hits = 0;
    for (let q = 0; q < QUERIES; q++) {
      const want = new Set(exact.search(query(q), 10, exclude?.(q)).map((e) => e.id));
      for (const e of hnsw.search(query(q), 10, exclude?.(q), options)) if (want.has(e.id)) hits++;
    }
    return hits / (10 * QUERIES);
  }

  it('reaches recall@10 ≥ 0.95 with the default options', () => {
    expect(hnsw.options).toEqual({ m: 16, efConstruction: 100, efSearch: 200, seed: 100 });
    expect(recallAt10()).toBeGreaterThanOrEqual(0.95);
  });

  it('reaches recall@10 ≥ 0.95 when each query excludes its 10 exact nearest', () => {
    const nearest = Array.from({ length: QUERIES }, (_, q) => new Set(exact.search(query(q), 10).map((e) => e.id)));
    expect(recallAt10((q) => (id) => nearest[q]!.has(id))).toBeGreaterThanOrEqual(0.95);
  });

  it('trades recall for speed through efSearch, which can change after the build', () => {
    hnsw.efSearch = 10;
    const low = recallAt10();
    hnsw.efSearch = 200;
    expect(recallAt10()).toBeGreaterThan(low);
    expect(() => (hnsw.efSearch = 1)).toThrow(ConfigError);
  });

  it('takes a search effort per search, leaving the index its own', () => {
    const atDefault = recallAt10();
    expect(recallAt10(undefined, { efSearch: 10 })).toBeLessThan(atDefault);
    expect(hnsw.efSearch).toBe(200);
    expect(recallAt10()).toBe(atDefault);
    expect(() => hnsw.search(query(0), 10, undefined, { efSearch: 1 })).toThrow(ConfigError);
    expect(() => new BruteForceIndex(vectors).search(query(0), 10, undefined, { efSearch: 1.5 })).toThrow(/efSearch must be an integer ≥ 2, got 1.5/);
  });

  it('answers exactly when the graph search comes back short', () => {
    const exclude = (id: string) => id.endsWith('7');
    const graph = (hnsw as unknown as { graph: HnswGraph }).graph;
    const search = jest.spyOn(graph, 'search').mockReturnValueOnce({ nodes: Int32Array.of(1, 2), distances: Float64Array.of(0.1, 0.2) });
    try {
      expect(hnsw.search(query(3), 10, exclude)).toEqual(exact.search(query(3), 10, exclude));
      expect(search).toHaveBeenCalledTimes(1);
    } finally {
      search.mockRestore();
    }
    expect(hnsw.search(query(3), 10)).toHaveLength(10);
  });

  it.each([
    [{ m: 1 }, /HNSW option m must be an integer ≥ 2, got 1/],
    [{ efConstruction: 0 }, /HNSW option efConstruction must be an integer ≥ 2, got 0/],
    [{ efSearch: 2.5 }, /HNSW option efSearch must be an integer ≥ 2, got 2.5/],
    [{ seed: -1 }, /HNSW option seed must be a non-negative integer, got -1/],
  ])('rejects options %p with a ConfigError', (options, message) => {
    const small = clustered(10, 0, 4, 2, 1).vectors;
    expect(() => new HnswIndex(small, options)).toThrow(ConfigError);
    expect(() => new HnswIndex(small, options)).toThrow(message);
  });
});

describe('HnswIndex.build (worker thread)', () => {
  it('builds in a worker thread the same graph the constructor builds', async () => {
    const dims = 16;
    const n = 3000;
    const matrix = new Float32Array(n * dims);
    let x = 12345;
    for (let i = 0; i < matrix.length; i++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      matrix[i] = ((x >>> 8) & 0xffff) / 0xffff - 0.5;
    }
    for (let r = 0; r < n; r++) {
      let s = 0;
      for (let j = 0; j < dims; j++) s += matrix[r * dims + j]! ** 2;
      for (let j = 0; j < dims; j++) matrix[r * dims + j]! /= Math.sqrt(s);
    }
    const vectors = { ids: Array.from({ length: n }, (_, i) => `e${i}`), matrix, dims };
    const built = await HnswIndex.build(vectors, { efConstruction: 400 });
    const direct = new HnswIndex(vectors, { efConstruction: 400 });
    // A snapshot's matrix lives in WebAssembly memory; the worker gets a copy of it all the same.
    const builtFromWasm = await HnswIndex.build(inWasm(vectors), { efConstruction: 400 });
    for (let q = 0; q < 20; q++) {
      const query = matrix.subarray(q * dims, (q + 1) * dims);
      expect(built.search(query, 10)).toEqual(direct.search(query, 10));
      expect(builtFromWasm.search(query, 10).map((n) => n.id)).toEqual(direct.search(query, 10).map((n) => n.id));
    }
  });
});
