/**
 * `npm run bench:ann`: the HNSW index against exact brute-force search on a
 * clustered synthetic snapshot (gaussian clusters around random unit centres,
 * every vector unit-normalised), queries drawn from the same distribution.
 * Brute force is the anchor and the ground truth. Writes the result to
 * docs/BENCHMARKS.md.
 */
import { performance } from 'node:perf_hooks';
import type { Neighbour, NeighbourIndex } from '../src/vectors/index/ann-index';
import { BruteForceIndex } from '../src/vectors/index/brute-force';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HierarchicalNSW } from 'hnswlib-node';
import { HnswGraph } from '../src/vectors/index/hnsw-graph';
import { HnswIndex, hnswMemoryEstimate } from '../src/vectors/index/hnsw-index';
import { allocateMatrix } from '../src/vectors/index/simd';
import { CANDIDATES_EF_SEARCH, searchCandidates } from '../src/vectors/candidate-search';
import { machine, writeSection } from './common';
import { mulberry32 } from '../test/support/random';

const N = Number(process.env.BENCH_N ?? 100_000);
const DIMS = Number(process.env.BENCH_DIMS ?? 128);
const CLUSTERS = Number(process.env.BENCH_CLUSTERS ?? 1000);
const QUERIES = Number(process.env.BENCH_QUERIES ?? 1000);
/** Graph parameters to try (default: HnswIndex's). */
const GRAPH = {
  ...(process.env.BENCH_M ? { m: Number(process.env.BENCH_M) } : {}),
  ...(process.env.BENCH_EF_CONSTRUCTION ? { efConstruction: Number(process.env.BENCH_EF_CONSTRUCTION) } : {}),
};
const K = 100;
/** Per-query exclusions: the query's exact top EXCLUDED, as a user's recently consumed entities sit next to the user vector. */
const EXCLUDED = 50;
/** Spread of a cluster: the noise vector has about this norm before normalisation. */
const SPREAD = 0.7;

function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

function normaliseRows(m: Float32Array, dims: number): void {
  for (let off = 0; off < m.length; off += dims) {
    let s = 0;
    for (let j = 0; j < dims; j++) s += m[off + j]! * m[off + j]!;
    const inv = 1 / Math.sqrt(s);
    for (let j = 0; j < dims; j++) m[off + j]! *= inv;
  }
}

/** `count` unit vectors around `centres` (a row-major matrix of unit vectors), written into `m`. */
function clustered(count: number, centres: Float32Array, dims: number, seed: number, m: Float32Array = new Float32Array(count * dims)): Float32Array {
  const rand = mulberry32(seed);
  const g = gaussian(rand);
  const k = centres.length / dims;
  const sigma = SPREAD / Math.sqrt(dims);
  for (let i = 0; i < count; i++) {
    const c = Math.floor(rand() * k) * dims;
    for (let j = 0; j < dims; j++) m[i * dims + j] = centres[c + j]! + sigma * g();
  }
  normaliseRows(m, dims);
  return m;
}

function run(index: NeighbourIndex, queries: Float32Array, exclude?: (q: number) => (id: string) => boolean, efSearch?: number) {
  const results: Neighbour[][] = [];
  const options = efSearch === undefined ? undefined : { efSearch };
  for (let q = 0; q < 20; q++) index.search(queries.subarray(q * DIMS, (q + 1) * DIMS), K, exclude?.(q), options);
  const start = performance.now();
  for (let q = 0; q < QUERIES; q++) {
    results.push(index.search(queries.subarray(q * DIMS, (q + 1) * DIMS), K, exclude?.(q), options));
  }
  const seconds = (performance.now() - start) / 1000;
  return { results, qps: QUERIES / seconds };
}

function recall(found: Neighbour[][], truth: Neighbour[][]): number {
  let hits = 0;
  let total = 0;
  for (let q = 0; q < truth.length; q++) {
    const want = new Set(truth[q]!.map((n) => n.id));
    for (const n of found[q]!) if (want.has(n.id)) hits++;
    total += want.size;
  }
  return hits / total;
}

/**
 * hnswlib's own search as a NeighbourIndex, the way HnswIndex called it before
 * it kept only the links: the query copied into a plain array, exclusions by
 * hnswlib's filter (a call from native code into JavaScript per node).
 */
function nativeSearcher(graph: HierarchicalNSW, ids: string[]): NeighbourIndex {
  const q = new Array<number>(DIMS).fill(0);
  return {
    size: ids.length,
    dims: DIMS,
    search(query, k, exclude) {
      for (let j = 0; j < DIMS; j++) q[j] = query[j]!;
      const { neighbors, distances } = exclude === undefined ? graph.searchKnn(q, k) : graph.searchKnn(q, k, (row) => !exclude(ids[row]!));
      return neighbors.map((row, i) => ({ id: ids[row]!, score: 1 - distances[i]! }));
    },
  };
}

function main(): void {
  const g = gaussian(mulberry32(1));
  const centres = new Float32Array(CLUSTERS * DIMS).map(() => g());
  normaliseRows(centres, DIMS);
  // In WebAssembly memory, as a snapshot's matrix is (EntityMatrixBuilder): HnswIndex's distances then use SIMD.
  const matrix = clustered(N, centres, DIMS, 2, allocateMatrix(N * DIMS));
  const queries = clustered(QUERIES, centres, DIMS, 3);
  const ids = Array.from({ length: N }, (_, i) => `track:${i.toString(36)}`);
  const vectors = { ids, matrix, dims: DIMS };
  console.log(`${N} × ${DIMS}, ${CLUSTERS} clusters, ${QUERIES} queries, k = ${K}`);

  // hnswlib builds the graph (as HnswIndex does, with its options); its native
  // search of that graph is the anchor of HnswIndex's search of the same links.
  const { m, efConstruction, efSearch } = new HnswIndex({ ids: ids.slice(0, 1), matrix: matrix.subarray(0, DIMS), dims: DIMS }, GRAPH).options;
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  const t0 = performance.now();
  const native = new HierarchicalNSW('ip', DIMS);
  native.initIndex(N, m, efConstruction, 100);
  const row = new Array<number>(DIMS).fill(0);
  for (let r = 0; r < N; r++) {
    for (let j = 0; j < DIMS; j++) row[j] = matrix[r * DIMS + j]!;
    native.addPoint(row, r);
  }
  const buildSeconds = (performance.now() - t0) / 1000;
  global.gc?.();
  const nativeGrowth = process.memoryUsage().rss - rssBefore;
  const dir = mkdtempSync(join(tmpdir(), 'bench-ann-'));
  native.writeIndexSync(join(dir, 'index.bin'));
  const links = HnswGraph.readFile(join(dir, 'index.bin'), N);
  rmSync(dir, { recursive: true, force: true });
  const hnsw = new HnswIndex(vectors, GRAPH, links);
  console.log(
    `HNSW build (M=${m}, efConstruction=${efConstruction}): ${buildSeconds.toFixed(1)} s, hnswlib's graph RSS +${(nativeGrowth / 2 ** 20).toFixed(0)} MiB, its links ${(links.bytes / 2 ** 20).toFixed(0)} MiB`,
  );
  const nativeIndex = nativeSearcher(native, ids);

  const brute = new BruteForceIndex(vectors);
  const exact = run(brute, queries);
  console.log(`brute force: ${exact.qps.toFixed(1)} q/s`);

  const excludedSets = exact.results.map((r) => new Set(r.slice(0, EXCLUDED).map((n) => n.id)));
  const excluder = (q: number) => {
    const set = excludedSets[q]!;
    return (id: string) => set.has(id);
  };
  const exactExcluded = run(brute, queries, excluder);
  console.log(`brute force, ${EXCLUDED} excluded: ${exactExcluded.qps.toFixed(1)} q/s`);

  const rows: string[] = [`| exact brute force (anchor) | ${K} | — | 1.000 | ${exact.qps.toFixed(0)} | 1.0 |`];
  let defaults = { recall: 0, qps: 0 };
  const nativeQps = new Map<number, number>();
  const oursQps = new Map<number, number>();
  for (const ef of [100, 200, 400]) {
    native.setEf(ef);
    const n = run(nativeIndex, queries);
    nativeQps.set(ef, n.qps);
    const nRec = recall(n.results, exact.results);
    console.log(`hnswlib's own search, efSearch=${ef}: recall@${K} ${nRec.toFixed(4)}, ${n.qps.toFixed(0)} q/s`);
    rows.push(
      `| hnswlib's own search of the same graph (native, vectors copied into it), efSearch ${ef} | ${K} | — | ${nRec.toFixed(3)} | ${n.qps.toFixed(0)} | ${(n.qps / exact.qps).toFixed(1)} |`,
    );
    hnsw.efSearch = ef;
    const r = run(hnsw, queries);
    const rec = recall(r.results, exact.results);
    oursQps.set(ef, r.qps);
    if (ef === efSearch) defaults = { recall: rec, qps: r.qps };
    console.log(`HNSW efSearch=${ef}: recall@${K} ${rec.toFixed(4)}, ${r.qps.toFixed(0)} q/s`);
    rows.push(
      `| HNSW (\`HnswIndex\`), efSearch ${ef}${ef === efSearch ? ' (default)' : ''} | ${K} | — | ${rec.toFixed(3)} | ${r.qps.toFixed(0)} | ${(r.qps / exact.qps).toFixed(1)} |`,
    );
  }
  hnsw.efSearch = efSearch;
  native.setEf(efSearch);

  const nativeExcluded = run(nativeIndex, queries, excluder);
  console.log(
    `hnswlib's own search with ${EXCLUDED} excluded: recall@${K} ${recall(nativeExcluded.results, exactExcluded.results).toFixed(4)}, ${nativeExcluded.qps.toFixed(0)} q/s`,
  );
  const excluded = run(hnsw, queries, excluder);
  const excludedRecall = recall(excluded.results, exactExcluded.results);
  const leaked = excluded.results.some((r, q) => r.length !== K || r.some((n) => excludedSets[q]!.has(n.id)));
  if (leaked) throw new Error('HNSW returned an excluded id or fewer than k results');
  console.log(`HNSW with ${EXCLUDED} excluded: recall@${K} ${excludedRecall.toFixed(4)}, ${excluded.qps.toFixed(0)} q/s`);
  rows.push(
    `| exact brute force, ${EXCLUDED} nearest excluded | ${K} | ${EXCLUDED} | 1.000 | ${exactExcluded.qps.toFixed(0)} | ${(exactExcluded.qps / exact.qps).toFixed(1)} |`,
  );
  rows.push(
    `| hnswlib's own search (default efSearch), ${EXCLUDED} nearest excluded | ${K} | ${EXCLUDED} | ${recall(nativeExcluded.results, exactExcluded.results).toFixed(3)} | ${nativeExcluded.qps.toFixed(0)} | ${(nativeExcluded.qps / exact.qps).toFixed(1)} |`,
  );
  rows.push(
    `| HNSW (default), ${EXCLUDED} nearest excluded | ${K} | ${EXCLUDED} | ${excludedRecall.toFixed(3)} | ${excluded.qps.toFixed(0)} | ${(excluded.qps / exact.qps).toFixed(1)} |`,
  );
  // The candidates topology's search (searchCandidates: top k + E unfiltered at efSearch ≥ k + E, then drop the excluded).
  const candRun = (() => {
    const results: Neighbour[][] = [];
    const search = (q: number) => searchCandidates(hnsw, queries.subarray(q * DIMS, (q + 1) * DIMS), K, excludedSets[q]!, []);
    for (let q = 0; q < 20; q++) search(q);
    const start = performance.now();
    for (let q = 0; q < QUERIES; q++) results.push(search(q));
    return { results, qps: QUERIES / ((performance.now() - start) / 1000) };
  })();
  const candRecall = recall(candRun.results, exactExcluded.results);
  if (candRun.results.some((r, q) => r.length !== K || r.some((n) => excludedSets[q]!.has(n.id))))
    throw new Error('searchCandidates returned an excluded id or fewer than k results');
  console.log(
    `searchCandidates (efSearch ${CANDIDATES_EF_SEARCH}) with ${EXCLUDED} excluded: recall@${K} ${candRecall.toFixed(4)}, ${candRun.qps.toFixed(0)} q/s`,
  );
  rows.push(
    `| candidates topology's search (\`searchCandidates\`: top k + ${EXCLUDED} at efSearch max(${CANDIDATES_EF_SEARCH}, k + ${EXCLUDED}) + 4·${EXCLUDED}, excluded dropped), ${EXCLUDED} nearest excluded | ${K} | ${EXCLUDED} | ${candRecall.toFixed(3)} | ${candRun.qps.toFixed(0)} | ${(candRun.qps / exact.qps).toFixed(1)} |`,
  );

  const ratio = defaults.qps / exact.qps;
  console.log(`ratio HNSW ÷ brute force: ${ratio.toFixed(1)}`);
  const estimate = hnswMemoryEstimate(N, m);
  const speed = [100, 200, 400].map((ef) => `${(oursQps.get(ef)! / nativeQps.get(ef)!).toFixed(2)}`).join(' / ');

  writeSection(
    'ANN index: HNSW vs exact search',
    `Command: \`npm run bench:ann\` (BENCH_N=${N}, BENCH_DIMS=${DIMS}, BENCH_CLUSTERS=${CLUSTERS}, BENCH_QUERIES=${QUERIES}). Machine: ${machine()}. Anchor: exact brute-force search (\`BruteForceIndex\`, plain JS) in the same run, which is also the ground truth for recall.
${N} unit vectors of ${DIMS} floats in ${CLUSTERS} gaussian clusters (random unit centres, noise of norm ≈ ${SPREAD}, then normalised); ${QUERIES} queries drawn from the same clusters, not in the set; one query at a time on one thread, after 20 warm-up queries. Recall@${K}: share of the exact top ${K} found in the returned top ${K}, over all queries. "Excluded" runs pass an \`exclude\` that drops each query's ${EXCLUDED} exact nearest entities (as recently consumed ones would be), and are compared with the exact answer under the same exclusion.

| search | k | excluded | recall@${K} | queries/s | ratio to anchor |
| --- | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

HNSW (\`HnswIndex\`; graph built by hnswlib-node 3.0.0, space \`ip\`, M ${m}, efConstruction ${efConstruction}): build ${buildSeconds.toFixed(1)} s on one thread (blocking). hnswlib's graph took ${(nativeGrowth / 2 ** 20).toFixed(0)} MiB resident (with its own copy of the vectors); \`HnswIndex\` keeps only its links, ${(links.bytes / 2 ** 20).toFixed(0)} MiB (estimate \`hnswMemoryEstimate\`: ${(estimate / 2 ** 20).toFixed(0)} MiB), and searches them against the ${((N * DIMS * 4) / 2 ** 20).toFixed(0)} MiB matrix the snapshot holds anyway (in WebAssembly memory, with SIMD inner products: src/vectors/index/simd.ts). Its queries/s ÷ hnswlib's own search at efSearch 100 / 200 / 400: ${speed}.
Result: recall@${K} ${defaults.recall.toFixed(3)} at ${ratio.toFixed(1)}× the queries/s of exact search with the defaults. Target: recall@${K} ≥ 0.95.`,
  );
  if (defaults.recall < 0.95) {
    console.error(`recall@${K} ${defaults.recall.toFixed(4)} is below the 0.95 target`);
    process.exitCode = 1;
  }
}

main();
