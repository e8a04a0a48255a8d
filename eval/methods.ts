/**
 * The recommenders compared: how each turns a user into a ranked list.
 */
import { searchCandidates } from '../src/vectors/candidate-search';
import { BruteForceIndex } from '../src/vectors/index/brute-force';
import type { NeighbourIndex } from '../src/vectors/index/ann-index';
import { gramMatrix } from '../src/vectors/models/fold-in';
import { LifetimeModel, type LifetimeVariant } from '../src/vectors/models/lifetime';
import { EntityMatrixBuilder, type EntityMatrix } from '../src/vectors/snapshot/entity-matrix';
import { SeededRandom } from '../src/vectors/synthetic/random';
import type { AlsModel } from './als';
import type { EvalEvent } from './data';
import { LIST_LENGTH } from './metrics';

/** The seven required methods and the lifetime model. */
export const METHOD_NAMES = ['random', 'popularity', 'stale-batch', 'ideal-batch', 'realtime-decayed', 'realtime-fold-in', 'lifetime-realtime'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/** What a ranked list is made from for one user. */
export interface UserContext {
  readonly userId: string;
  /** Excluded from every list: every entity touched before the test. */
  readonly seen: ReadonlySet<string>;
  /** Banned before the test (a subset of `seen`); honoured unless a variant drops negative signals. */
  readonly banned: Iterable<string>;
}

/** The batch model's entity factors as a snapshot matrix (float32, as published). */
export function alsMatrix(model: AlsModel, snapshotId: string): EntityMatrix {
  const d = model.factors;
  const b = new EntityMatrixBuilder({ snapshotId, dims: d, expectedCount: model.data.items.length });
  model.data.items.forEach((id, r) => b.add(id, 'TRACK', model.itemFactors.subarray(r * d, (r + 1) * d)));
  return b.build();
}

export function exactIndex(matrix: EntityMatrix): NeighbourIndex {
  return new BruteForceIndex({ ids: matrix.ids, matrix: matrix.data, dims: matrix.dims });
}

/** The batch model's factor of a user (float32), or undefined when the batch did not see the user. */
export function batchUserVector(model: AlsModel, userId: string): Float32Array | undefined {
  const u = model.data.userIndex.get(userId);
  if (u === undefined) return undefined;
  return Float32Array.from(model.userFactors.subarray(u * model.factors, (u + 1) * model.factors));
}

/** Entities by the number of users with positive net weight on them, most first (ties: first seen first). */
export function popularityOrder(model: AlsModel): string[] {
  const counts = new Float64Array(model.data.items.length);
  for (let k = 0; k < model.data.cols.length; k++) if (model.data.weights[k]! > 0) counts[model.data.cols[k]!]!++;
  return model.data.items
    .map((id, i) => [id, counts[i]!, i] as const)
    .sort((a, b) => b[1] - a[1] || a[2] - b[2])
    .map(([id]) => id);
}

/** The top of `order` without the user's excluded entities. */
export function fromOrder(order: readonly string[], user: UserContext, bans: boolean): string[] {
  const banned = bans ? new Set(user.banned) : undefined;
  const out: string[] = [];
  for (const id of order) {
    if (user.seen.has(id) || banned?.has(id)) continue;
    out.push(id);
    if (out.length === LIST_LENGTH) break;
  }
  return out;
}

/** `LIST_LENGTH` distinct entities of `universe` drawn uniformly, without the excluded. */
export function randomList(universe: readonly string[], user: UserContext, random: SeededRandom): string[] {
  const out = new Set<string>();
  const available = universe.filter((id) => !user.seen.has(id)).length;
  while (out.size < Math.min(LIST_LENGTH, available)) {
    const id = universe[random.int(universe.length)]!;
    if (!user.seen.has(id)) out.add(id);
  }
  return [...out];
}

/**
 * The candidates of a user vector as the product computes them
 * (`searchCandidates`, the API's and the candidates topology's), the seen
 * entities given as the recently consumed ones. `undefined` for a missing or
 * zero vector (the API answers no candidates then): the caller falls back.
 */
export function vectorList(index: NeighbourIndex, vector: Float32Array | undefined, user: UserContext, bans: boolean): string[] | undefined {
  if (vector === undefined || !vector.some((x) => x !== 0)) return undefined;
  return searchCandidates(index, vector, Math.min(LIST_LENGTH, index.size), bans ? user.banned : [], user.seen).map((n) => n.id);
}

export interface LifetimeSetting {
  variant: LifetimeVariant;
  priorWeight: number;
}

/**
 * Lifetime + realtime vectors: the batch factor of each user as x₀, folded
 * with the user's stream events in the snapshot's space (the batch entity
 * factors). `negatives` false drops negative events (skips, dislikes).
 */
export function lifetimeVectors(
  stale: AlsModel,
  matrix: EntityMatrix,
  stream: readonly EvalEvent[],
  users: readonly string[],
  setting: LifetimeSetting,
  negatives: boolean,
): Map<string, Float32Array> {
  const model = new LifetimeModel({
    gram: gramMatrix(matrix.data, matrix.count, matrix.dims),
    alpha: stale.alpha,
    priorWeight: setting.priorWeight,
    variant: setting.variant,
    maxEntities: 100,
  });
  const wanted = new Set(users);
  const states = new Map<string, ReturnType<LifetimeModel['empty']>>();
  for (const u of users) {
    const x0 = batchUserVector(stale, u);
    states.set(u, x0 ? model.around(x0) : model.empty());
  }
  for (const e of stream) {
    if (!wanted.has(e.userId) || e.weight === 0 || (e.weight < 0 && !negatives)) continue;
    const v = matrix.vectorOf(e.entityId);
    if (v) model.update(states.get(e.userId)!, { entityId: e.entityId, weight: e.weight, timestamp: e.timestamp }, v);
  }
  return new Map(users.map((u) => [u, model.vector(states.get(u)!)]));
}
