import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { HierarchicalNSW } from 'hnswlib-node';
import { ConfigError } from '../../errors';
import {
  checkEfSearch,
  checkQuery,
  checkVectorSet,
  type ExcludeFn,
  type Neighbour,
  type NeighbourIndex,
  type SearchOptions,
  type VectorSet,
} from './ann-index';
import { exactTopK } from './brute-force';

/** Graph and search parameters of an HnswIndex. The defaults reach recall@100 ≥ 0.95 on 100k × 128 clustered vectors (docs/BENCHMARKS.md). */
export interface HnswOptions {
  /** Links per node on the upper layers (2·M on the bottom layer). More: better recall, more memory, slower build. Default 16. */
  m?: number;
  /** Candidate list size while building. More: a better graph, slower build. Default 100 (half the build time of 200 for 100k × 128, recall@100 still 0.99: docs/BENCHMARKS.md). */
  efConstruction?: number;
  /** Candidate list size while searching; a search uses max(efSearch, k). More: better recall, fewer queries/s. Default 200. */
  efSearch?: number;
  /** Seed of the level generator, for reproducible graphs. Default 100. */
  seed?: number;
}

const DEFAULTS = { m: 16, efConstruction: 100, efSearch: 200, seed: 100 } as const;

// Plain JS run with `eval: true`: a worker needs no TypeScript loader that way.
// It builds exactly as the constructor does, then writes the graph to a file.
const BUILD_WORKER = `
const { parentPort, workerData: w } = require('node:worker_threads');
const { HierarchicalNSW } = require(w.hnswPath);
const graph = new HierarchicalNSW('ip', w.dims);
graph.initIndex(w.size, w.m, w.efConstruction, w.seed);
const v = new Array(w.dims).fill(0);
for (let r = 0; r < w.size; r++) {
  const off = r * w.dims;
  for (let j = 0; j < w.dims; j++) v[j] = w.matrix[off + j];
  graph.addPoint(v, r);
}
graph.writeIndexSync(w.file);
parentPort.postMessage('built');
`;

/**
 * Approximate top-k search on an HNSW graph (hnswlib, inner-product space).
 *
 * Exclusions are applied inside the graph search (hnswlib's filter), so the
 * result is still `k` long when enough entities are not excluded; should the
 * graph search come back short, the index answers that query exactly instead.
 *
 * Memory: hnswlib copies the vectors into native memory, outside the JS heap:
 * about `count × (4·dims + 8·M + 120)` bytes plus 2.6 MB of fixed locks (see
 * `hnswMemoryEstimate`); for 100k × 128 with M = 16 that is about 75 MiB.
 * The index also keeps a reference to the caller's `matrix` (4·dims bytes per
 * entity, not copied) for the exact fallback.
 *
 * Building runs synchronously on the calling thread (hnswlib-node has no
 * asynchronous build) and blocks its event loop: 70–90 s for 100k × 128 with
 * the defaults on the benchmark machine. Build in a worker thread where the
 * loop must keep running (Kafka consumer heartbeats).
 *
 * @throws NeighbourIndexError from the constructor on an empty set, a matrix
 *   whose length is not `ids.length × dims`, a duplicate id or a non-finite value.
 * @throws ConfigError on an option out of range.
 */
export class HnswIndex implements NeighbourIndex {
  readonly size: number;
  readonly dims: number;
  /** The options the graph was built with; `efSearch` is the initial value of the property. */
  readonly options: Readonly<Required<HnswOptions>>;
  private readonly ids: readonly string[];
  private readonly matrix: Float32Array;
  private readonly graph: HierarchicalNSW;
  /** hnswlib-node takes plain arrays only; one reused buffer avoids an allocation per call. */
  private readonly scratch: number[];
  private ef = 0;

  /**
   * Builds on the calling thread. For large sets use {@link HnswIndex.build},
   * which keeps the event loop free.
   */
  constructor(vectors: VectorSet, options: HnswOptions = {}, prebuilt?: HierarchicalNSW) {
    checkVectorSet('HNSW index', vectors);
    const o = {
      m: options.m ?? DEFAULTS.m,
      efConstruction: options.efConstruction ?? DEFAULTS.efConstruction,
      efSearch: options.efSearch ?? DEFAULTS.efSearch,
      seed: options.seed ?? DEFAULTS.seed,
    };
    for (const key of ['m', 'efConstruction', 'efSearch'] as const) {
      if (!Number.isInteger(o[key]) || o[key] < 2) throw new ConfigError(`HNSW option ${key} must be an integer ≥ 2, got ${o[key]}`);
    }
    if (!Number.isInteger(o.seed) || o.seed < 0) throw new ConfigError(`HNSW option seed must be a non-negative integer, got ${o.seed}`);
    this.options = o;
    this.ids = vectors.ids;
    this.matrix = vectors.matrix;
    this.dims = vectors.dims;
    this.size = vectors.ids.length;
    this.scratch = new Array<number>(this.dims).fill(0);

    if (prebuilt) {
      this.graph = prebuilt;
    } else {
      this.graph = new HierarchicalNSW('ip', this.dims);
      this.graph.initIndex(this.size, o.m, o.efConstruction, o.seed);
      for (let r = 0; r < this.size; r++) this.graph.addPoint(this.row(r), r);
    }
    this.efSearch = o.efSearch;
  }

  /**
   * Builds the graph in a worker thread and loads it back, so the calling
   * thread stays free: building 100k × 128 takes over a minute, and a Kafka
   * consumer blocked that long misses its heartbeats and loses its partitions.
   * Same result as the constructor for the same vectors, options and seed.
   * @throws as the constructor.
   */
  static async build(vectors: VectorSet, options: HnswOptions = {}): Promise<HnswIndex> {
    checkVectorSet('HNSW index', vectors);
    const m = options.m ?? DEFAULTS.m;
    const efConstruction = options.efConstruction ?? DEFAULTS.efConstruction;
    const seed = options.seed ?? DEFAULTS.seed;
    // Validate options before spending a thread on them.
    new HnswIndex({ ids: vectors.ids.slice(0, 1), matrix: vectors.matrix.subarray(0, vectors.dims), dims: vectors.dims }, options);
    const dir = await mkdtemp(join(tmpdir(), 'vectors-hnsw-'));
    const file = join(dir, 'index.bin');
    try {
      await new Promise<void>((resolve, reject) => {
        const worker = new Worker(BUILD_WORKER, {
          eval: true,
          workerData: {
            hnswPath: require.resolve('hnswlib-node'),
            dims: vectors.dims,
            size: vectors.ids.length,
            m,
            efConstruction,
            seed,
            matrix: vectors.matrix,
            file,
          },
        });
        worker.once('message', () => resolve());
        worker.once('error', reject);
        worker.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`HNSW build worker exited with code ${code}`))));
      });
      const graph = new HierarchicalNSW('ip', vectors.dims);
      await graph.readIndex(file);
      return new HnswIndex(vectors, options, graph);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Candidate list size of searches (see HnswOptions.efSearch); may be changed at any time to trade recall for speed. */
  get efSearch(): number {
    return this.ef;
  }

  set efSearch(ef: number) {
    checkEfSearch(ef);
    this.graph.setEf(ef);
    this.ef = ef;
  }

  /** `options.efSearch` applies to this search only; the index's own `efSearch` is unchanged afterwards. */
  search(query: Float32Array, k: number, exclude?: ExcludeFn, options?: SearchOptions): Neighbour[] {
    checkQuery('HNSW index', this.size, this.dims, query, k);
    const ef = options?.efSearch;
    if (ef === undefined || ef === this.ef) return this.searchAtCurrentEf(query, k, exclude);
    checkEfSearch(ef);
    // hnswlib keeps ef on the graph, not per query. A search is synchronous, so
    // setting it around this one is invisible to every other caller of the index.
    this.graph.setEf(ef);
    try {
      return this.searchAtCurrentEf(query, k, exclude);
    } finally {
      this.graph.setEf(this.ef);
    }
  }

  private searchAtCurrentEf(query: Float32Array, k: number, exclude: ExcludeFn | undefined): Neighbour[] {
    const q = this.scratch;
    for (let j = 0; j < this.dims; j++) q[j] = query[j]!;

    const { neighbors, distances } = exclude === undefined ? this.graph.searchKnn(q, k) : this.filtered(q, k, exclude);
    if (neighbors.length < k) {
      // Short only if too few entities pass `exclude` or the graph search could
      // not reach enough of them; the exact scan settles which.
      return exactTopK(this.ids, this.matrix, this.dims, query, k, exclude);
    }
    const out: Neighbour[] = new Array(neighbors.length);
    for (let i = 0; i < neighbors.length; i++) {
      // 'ip' distance is 1 − ⟨q, v⟩.
      out[i] = { id: this.ids[neighbors[i]!]!, score: 1 - distances[i]! };
    }
    return out;
  }

  /** Exclusions applied inside the graph search, by hnswlib's filter. */
  private filtered(q: number[], k: number, exclude: ExcludeFn) {
    // hnswlib-node calls the filter from native code, and a JS exception thrown
    // there aborts the process (FATAL ERROR, hnswlib-node 3.0.0): catch it,
    // refuse every further entity, and rethrow once the search is back.
    let failure: { error: unknown } | undefined;
    const ids = this.ids;
    const result = this.graph.searchKnn(q, k, (row) => {
      if (failure !== undefined) return false;
      try {
        return !exclude(ids[row]!);
      } catch (error) {
        failure = { error };
        return false;
      }
    });
    if (failure !== undefined) throw failure.error;
    return result;
  }

  private row(r: number): number[] {
    const v = this.scratch;
    const off = r * this.dims;
    for (let j = 0; j < this.dims; j++) v[j] = this.matrix[off + j]!;
    return v;
  }
}

/**
 * Native memory of an hnswlib index of `count` vectors of `dims` floats with
 * parameter `m`, in bytes, following hnswlib's allocations: per element the
 * bottom layer (vector, 2·M links, count, label), the upper-layer links of the
 * ~1/M elements that have them, a link-list pointer, a level, a mutex and a
 * label-map entry; plus 65,536 label locks and one visited list per concurrent search.
 */
export function hnswMemoryEstimate(count: number, dims: number, m: number = DEFAULTS.m): number {
  const bottom = 4 * dims + 4 * 2 * m + 4 + 8;
  const upper = ((4 * m + 4) * (1 / (m - 1))) | 0;
  const bookkeeping = 8 + 4 + 40 + 48;
  return count * (bottom + upper + bookkeeping + 2) + 65_536 * 40;
}
