import { mkdtempSync, rmSync } from 'node:fs';
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
import { HnswGraph } from './hnsw-graph';
import { type DotKernel, kernelFor } from './simd';

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
 * Approximate top-k search on an HNSW graph (hnswlib's, inner-product space).
 *
 * hnswlib builds the graph; the index then keeps only its links
 * ({@link HnswGraph}) and searches them in JavaScript against the caller's
 * `matrix`, so the vectors are held once (hnswlib's graph holds its own copy).
 * Exclusions are applied inside the graph search, so the result is still `k`
 * long when enough entities are not excluded; should the graph search come
 * back short, the index answers that query exactly instead.
 *
 * Memory: the links, about `count × (8·M + 12)` bytes (see
 * `hnswMemoryEstimate`; 13 MiB for 100k × 128 with M = 16), beside the
 * caller's `matrix`, which the index keeps a reference to (not copied).
 *
 * Building runs synchronously on the calling thread in the constructor and
 * blocks its event loop: 70–90 s for 100k × 128 with the defaults on the
 * benchmark machine. Build with {@link HnswIndex.build} (a worker thread)
 * where the loop must keep running (Kafka consumer heartbeats).
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
  private readonly graph: HnswGraph;
  /** SIMD distances when the matrix lives in WebAssembly memory (snapshots do: EntityMatrixBuilder). */
  private readonly kernel: DotKernel | undefined;
  private ef = 0;

  /**
   * Builds on the calling thread. For large sets use {@link HnswIndex.build},
   * which keeps the event loop free.
   * @param prebuilt the links of a graph hnswlib already built from these
   *   vectors, row r as node r ({@link HnswGraph.readFile} of its index file):
   *   nothing is built then.
   */
  constructor(vectors: VectorSet, options: HnswOptions = {}, prebuilt?: HnswGraph) {
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
    this.graph = prebuilt ?? buildHere(vectors, o);
    this.kernel = kernelFor(vectors.matrix, this.dims);
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
      return new HnswIndex(vectors, options, await HnswGraph.readFileAsync(file, vectors.ids.length));
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
    this.ef = ef;
  }

  /** `options.efSearch` applies to this search only; the index's own `efSearch` is unchanged afterwards. */
  search(query: Float32Array, k: number, exclude?: ExcludeFn, options?: SearchOptions): Neighbour[] {
    checkQuery('HNSW index', this.size, this.dims, query, k);
    const ef = options?.efSearch ?? this.ef;
    if (ef !== this.ef) checkEfSearch(ef);
    const ids = this.ids;
    const allowed = exclude === undefined ? undefined : (row: number) => !exclude(ids[row]!);
    const { nodes, distances } = this.graph.search(this.matrix, this.dims, query, k, ef, allowed, this.kernel);
    if (nodes.length < k) {
      // Short only if too few entities pass `exclude` or the graph search could
      // not reach enough of them; the exact scan settles which.
      return exactTopK(this.ids, this.matrix, this.dims, query, k, exclude);
    }
    const out: Neighbour[] = new Array(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      // 'ip' distance is 1 − ⟨q, v⟩.
      out[i] = { id: ids[nodes[i]!]!, score: 1 - distances[i]! };
    }
    return out;
  }
}

/** Builds the graph with hnswlib on this thread and keeps its links (hnswlib-node hands them over only through its index file). */
function buildHere(vectors: VectorSet, o: Required<HnswOptions>): HnswGraph {
  const size = vectors.ids.length;
  const graph = new HierarchicalNSW('ip', vectors.dims);
  graph.initIndex(size, o.m, o.efConstruction, o.seed);
  // hnswlib-node takes plain arrays only; one reused row avoids an allocation per point.
  const row = new Array<number>(vectors.dims).fill(0);
  for (let r = 0; r < size; r++) {
    const off = r * vectors.dims;
    for (let j = 0; j < vectors.dims; j++) row[j] = vectors.matrix[off + j]!;
    graph.addPoint(row, r);
  }
  const dir = mkdtempSync(join(tmpdir(), 'vectors-hnsw-'));
  try {
    const file = join(dir, 'index.bin');
    graph.writeIndexSync(file);
    return HnswGraph.readFile(file, size);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Memory of an HnswIndex of `count` entities with parameter `m`, in bytes,
 * beside the matrix it searches (not counted): per entity the bottom-layer
 * links (2·M slots and a count), where its upper layers start, a visited
 * mark, and the upper-layer links of the ~1/(M − 1) layers per entity above
 * the bottom one (M slots and a count each). The vectors are not in it: the
 * index reads them from the matrix.
 */
export function hnswMemoryEstimate(count: number, m: number = DEFAULTS.m): number {
  const bottom = 4 * (2 * m + 1);
  const upper = (4 * (m + 1)) / (m - 1);
  return Math.ceil(count * (bottom + upper + 4 + 4));
}
