import type { Neighbour, NeighbourIndex } from './index/ann-index';

/** Search effort of a candidates search before widening for exclusions (recall@100 0.99 on 100k × 128: docs/BENCHMARKS.md). */
export const CANDIDATES_EF_SEARCH = 100;

/**
 * A user's top-k candidates: the entities nearest to `vector` in `index`,
 * without `banned` and `recent` ones. It asks the index for the top k + E
 * (E excluded entities) without a filter, at a search effort of
 * max(efSearch, k + E) + 4E, and drops the excluded ones: the true top k of the rest is always
 * within the true top k + E. A filtered HNSW search does worse when the
 * excluded entities are among the nearest, as recently played ones are
 * (with the 50 nearest of 100k excluded, recall@100 0.937 at efSearch 200 against 0.957 this way: docs/BENCHMARKS.md). The
 * candidates topology and the query API both search this way, so they give
 * the same lists.
 */
export function searchCandidates(
  index: NeighbourIndex,
  vector: Float32Array,
  k: number,
  banned: Iterable<string>,
  recent: Iterable<string>,
  efSearch: number = CANDIDATES_EF_SEARCH,
): Neighbour[] {
  const excluded = new Set(banned);
  for (const id of recent) excluded.add(id);
  const wanted = Math.min(k + excluded.size, index.size);
  // The entities kept are the tail of the list asked for, where an ANN search errs most: widen by four per excluded one.
  const hits = index.search(vector, wanted, undefined, { efSearch: Math.max(efSearch, wanted) + 4 * excluded.size });
  const out: Neighbour[] = [];
  for (const h of hits) {
    if (excluded.has(h.id)) continue;
    out.push(h);
    if (out.length === k) break;
  }
  return out;
}
