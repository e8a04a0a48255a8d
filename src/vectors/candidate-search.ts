import type { ConsumedLookup } from './consumed';
import type { Neighbour, NeighbourIndex } from './index/ann-index';

/**
 * Which entities a user's candidates leave out, besides banned ones (always):
 * `consumed` every entity the user listened to (the compact consumed set),
 * `recent` only the last ones (RECENT_CONSUMED), `none` nothing more. Music
 * re-listening is legitimate, so it is the product's choice, per request.
 */
export type ExcludePolicy = 'consumed' | 'recent' | 'none';
export const EXCLUDE_POLICIES: readonly ExcludePolicy[] = ['consumed', 'recent', 'none'];
export const DEFAULT_EXCLUDE: ExcludePolicy = 'consumed';

/** A policy named by a user (a query parameter, an option); undefined when it is none of them. */
export function parseExcludePolicy(value: string): ExcludePolicy | undefined {
  return (EXCLUDE_POLICIES as readonly string[]).includes(value) ? (value as ExcludePolicy) : undefined;
}

/** Search effort of a candidates search before widening for exclusions (recall@100 0.99 on 100k × 128: docs/BENCHMARKS.md). */
export const CANDIDATES_EF_SEARCH = 100;

/**
 * A user's top-k candidates: the entities nearest to `vector` in `index`,
 * without `banned`, `recent` and (when given) `consumed` ones. It asks the
 * index for the top k + E (E = banned and recent entities) without a filter,
 * at a search effort of max(efSearch, k + E) + 4E, and drops the excluded
 * ones: the true top k of the rest is always within the true top k + E. A
 * filtered HNSW search does worse when the excluded entities are among the
 * nearest, as recently played ones are (with the 50 nearest of 100k
 * excluded, recall@100 0.937 at efSearch 200 against 0.957 this way:
 * docs/BENCHMARKS.md). A consumed set can hold thousands of entities, most of
 * them far from the user: rather than widening by all of them up front, the
 * search doubles its width while the consumed ones it meets leave fewer than
 * k, until it has k or has seen the whole index. The candidates topology and
 * the query API both search this way, so they give the same lists.
 */
export function searchCandidates(
  index: NeighbourIndex,
  vector: Float32Array,
  k: number,
  banned: Iterable<string>,
  recent: Iterable<string>,
  efSearch: number = CANDIDATES_EF_SEARCH,
  consumed?: ConsumedLookup,
): Neighbour[] {
  const excluded = new Set(banned);
  for (const id of recent) excluded.add(id);
  let wanted = Math.min(k + excluded.size, index.size);
  let effort = Math.max(efSearch, wanted) + 4 * excluded.size;
  for (;;) {
    // The entities kept are the tail of the list asked for, where an ANN search errs most: widen by four per excluded one.
    const hits = index.search(vector, wanted, undefined, { efSearch: effort });
    const out: Neighbour[] = [];
    let skipped = 0;
    for (const h of hits) {
      if (excluded.has(h.id)) continue;
      if (consumed?.has(h.id)) {
        skipped++;
        continue;
      }
      out.push(h);
      if (out.length === k) break;
    }
    if (out.length === k || wanted >= index.size || skipped === 0) return out;
    wanted = Math.min(index.size, 2 * wanted);
    effort = Math.max(effort, wanted) + 4 * skipped;
  }
}
