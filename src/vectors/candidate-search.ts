import type { Neighbour, NeighbourIndex } from './index/ann-index';

/** Search effort of a candidates search before widening for exclusions (recall@100 0.99 on 100k × 128: docs/BENCHMARKS.md). */
export const CANDIDATES_EF_SEARCH = 100;

/**
 * A user's top-k candidates: the entities nearest to `vector` in `index`,
 * without `banned` and `recent` ones. The search effort is `efSearch` plus one
 * per excluded entity, because excluded entities are often among the nearest
 * (recently played ones are) and a filtered HNSW search otherwise returns
 * worse neighbours in their place. The candidates topology and the query API
 * both search this way, so they give the same lists.
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
  return index.search(vector, Math.min(k, index.size), excluded.size ? (id) => excluded.has(id) : undefined, { efSearch: efSearch + excluded.size });
}
