/**
 * The answers of the query API, computed from one user's state and one loaded
 * snapshot. Every answer is built from a single snapshot (invariant I6): the
 * user vector in that snapshot's space, and entity vectors and scores from
 * that snapshot's index, never a mix.
 */
import { DEFAULT_EXCLUDE, type ExcludePolicy, searchCandidates } from '../vectors/candidate-search';
import { consumedLookup, mergedConsumed } from '../vectors/consumed';
import type { LoadedSnapshot } from '../vectors/snapshot-catalog';
import { consumedOf, modelStateIn, newUserState, type UserState } from '../vectors/user-state';

/** Longest list a query may ask for. */
export const MAX_K = 1000;

export interface UserVectorAnswer {
  userId: string;
  snapshotId: string;
  vector: number[];
  /** The user state's version the vector was computed from. */
  version: number;
  updatedAt: number;
  eventCount: number;
}

export interface ScoredEntity {
  entityId: string;
  /** Inner product with the query vector in the answer's snapshot. */
  score: number;
}

export interface CandidatesAnswer {
  userId: string;
  snapshotId: string;
  userVectorVersion: number;
  items: ScoredEntity[];
}

export interface SimilarAnswer {
  entityId: string;
  snapshotId: string;
  items: ScoredEntity[];
}

/**
 * The user's vector in `space`. A user whose state predates the snapshot (no
 * model state for it yet) gets one computed from the retained history,
 * without touching the stored state.
 */
export function userVectorIn(state: UserState, space: LoadedSnapshot): Float32Array {
  return space.model.vector(modelStateIn(state, space));
}

/**
 * The state of a user with no event processed yet, when `space`'s batch user
 * factors know them: their vector is their x₀ (the lifetime vector), with no
 * version, events or consumed entities. Undefined otherwise.
 */
export function batchOnlyState(userId: string, space: LoadedSnapshot): UserState | undefined {
  return space.lifetime?.get(userId) ? newUserState(userId) : undefined;
}

export function userVectorAnswer(state: UserState, space: LoadedSnapshot): UserVectorAnswer {
  return {
    userId: state.userId,
    snapshotId: space.id,
    vector: Array.from(userVectorIn(state, space)),
    version: state.version,
    updatedAt: state.updatedAt,
    eventCount: state.eventCount,
  };
}

/**
 * Top-k entities for the user in `space`, without banned ones and, by
 * `exclude`, consumed or recent ones, as the candidates topology computes
 * them. An empty list for a user with no signal yet (zero vector).
 */
export function candidatesAnswer(state: UserState, space: LoadedSnapshot, k: number, exclude: ExcludePolicy = DEFAULT_EXCLUDE): CandidatesAnswer {
  const vector = userVectorIn(state, space);
  const consumed = exclude === 'consumed' ? consumedLookup(mergedConsumed(consumedOf(state))) : undefined;
  const items = vector.some((x) => x !== 0)
    ? searchCandidates(space.index, vector, k, state.banned, exclude === 'none' ? [] : state.recent, undefined, consumed)
    : [];
  return { userId: state.userId, snapshotId: space.id, userVectorVersion: state.version, items: items.map((n) => ({ entityId: n.id, score: n.score })) };
}

/** The k entities most similar to `entityId` in `space`, itself excluded; undefined when the snapshot has no such entity. */
export function similarAnswer(space: LoadedSnapshot, entityId: string, k: number): SimilarAnswer | undefined {
  const vector = space.matrix.vectorOf(entityId);
  if (!vector) return undefined;
  const items = space.index.size > 1 ? space.index.search(vector, Math.min(k, space.index.size - 1), (id) => id === entityId) : [];
  return { entityId, snapshotId: space.id, items: items.map((n) => ({ entityId: n.id, score: n.score })) };
}
