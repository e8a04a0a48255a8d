/**
 * The implicit-ALS fold-in user factor (Hu, Koren, Volinsky 2008): the user
 * vector that implicit ALS would have trained for this user, with the
 * snapshot's entity factors held fixed.
 */
import { ConfigError } from '../../errors';
import { normalize, solveSpd } from '../math';
import type { Interaction } from '../signals';
import { replayHistory, type UserModel, type VectorLookup } from './user-model';

/**
 * Accumulates a Gram matrix YᵀY one row (entity vector) at a time, so a
 * snapshot's Gram is computed while its vectors stream in, without holding
 * them. O(d²/2) per row; sums in double precision.
 */
export class GramAccumulator {
  /** Upper triangle only until {@link result} mirrors it. */
  private readonly upper: Float64Array;
  private rows = 0;

  /** @throws RangeError when `dims` is not an integer ≥ 1. */
  constructor(readonly dims: number) {
    if (!Number.isInteger(dims) || dims < 1) throw new RangeError(`GramAccumulator: dims must be an integer ≥ 1, got ${dims}`);
    this.upper = new Float64Array(dims * dims);
  }

  /** Rows added so far. */
  get count(): number {
    return this.rows;
  }

  /** Adds one row `y` (yyᵀ to the sum). Throws `RangeError` when its length is not `dims`. */
  add(y: ArrayLike<number>): this {
    const d = this.dims;
    if (y.length !== d) throw new RangeError(`GramAccumulator: row of ${y.length} values, expected ${d}`);
    const g = this.upper;
    for (let i = 0; i < d; i++) {
      const yi = y[i]!;
      if (yi === 0) continue;
      const base = i * d;
      for (let j = i; j < d; j++) g[base + j] = g[base + j]! + yi * y[j]!;
    }
    this.rows++;
    return this;
  }

  /** Adds `n` rows stored row-major in `block` (length `n × dims`). */
  addRows(block: Float32Array, n: number): this {
    const d = this.dims;
    if (!Number.isInteger(n) || n < 0 || block.length !== n * d) {
      throw new RangeError(`GramAccumulator: block of ${block.length} values is not ${n} rows of ${d}`);
    }
    for (let r = 0; r < n; r++) this.add(block.subarray(r * d, (r + 1) * d));
    return this;
  }

  /** The full symmetric `dims × dims` matrix (row-major) of the rows added so far; a new array. */
  result(): Float64Array {
    const d = this.dims;
    const g = Float64Array.from(this.upper);
    for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) g[j * d + i] = g[i * d + j]!;
    return g;
  }
}

/**
 * YᵀY of `n` vectors of `d` dims stored row-major in `vectors` (an entity
 * matrix): the `d × d` symmetric matrix every fold-in of a snapshot shares.
 * Computed once per snapshot, row by row (O(n·d²/2), no n × n or copy of the
 * data). Throws `RangeError` when `vectors.length` is not `n × d`.
 */
export function gramMatrix(vectors: Float32Array, n: number, d: number): Float64Array {
  return new GramAccumulator(d).addRows(vectors, n).result();
}

/** One entity the user interacted with, all its interactions aggregated. */
export interface FoldInEntry {
  entityId: string;
  /** Net signed weight: the sum of the interactions' weights. Never 0 (such entries are dropped). */
  weight: number;
  /** Latest interaction time with the entity (epoch ms); the eviction order. */
  lastSeen: number;
  /** The entity's vector in the model's snapshot (a copy). */
  vector: Float32Array;
}

/**
 * Plain serializable state: the retained entities (at most `maxEntities`),
 * each with its net weight and vector, so that the solve needs no snapshot
 * look-up. Costs `maxEntities × dims × 4` bytes of vectors per user.
 */
export interface FoldInState {
  entries: FoldInEntry[];
  /** Interactions applied. */
  count: number;
}

/** Options of {@link FoldInModel}. */
export interface FoldInOptions {
  /** YᵀY of the snapshot, `d × d` row-major (see {@link gramMatrix}); `d` is the model's dims. */
  gram: Float64Array;
  /** Ridge regularisation λ. Finite, > 0 (it keeps the system positive definite). Default 0.1. */
  lambda?: number;
  /** Confidence slope α in cᵢ = 1 + α·|wᵢ|. Finite, ≥ 0. Default 10. */
  alpha?: number;
  /** Most entities retained per user; the least recently seen is evicted. Integer ≥ 1. Default 100. */
  maxEntities?: number;
}

/** Defaults of {@link FoldInOptions}; use the λ and α the snapshot was trained with when known. */
export const FOLD_IN_DEFAULTS = Object.freeze({ lambda: 0.1, alpha: 10, maxEntities: 100 });

/**
 * The fold-in model. With Y the snapshot's entity factors and, for each
 * retained entity i with net weight wᵢ, confidence cᵢ = 1 + α·|wᵢ| and
 * preference pᵢ = 1 if wᵢ > 0 else 0, the raw user factor is
 *
 *   x = (YᵀY + Σᵢ (cᵢ−1)·yᵢyᵢᵀ + λI)⁻¹ · Σᵢ cᵢ·pᵢ·yᵢ
 *
 * the minimiser of Σ_{all entities j} cⱼ(pⱼ − yⱼᵀx)² + λ|x|² where every
 * entity the user did not touch has c = 1, p = 0. Negative feedback adds
 * confidence to a 0 preference: it pulls the predicted score yᵢᵀx towards 0.
 * That moves the vector away from an entity it scores positively, but not
 * further from one it already scores negatively (least squares aims at the
 * target, it does not push past it).
 *
 * {@link vector} returns x normalised to unit length, for candidate search:
 * ranking entities by yᵀx or by yᵀ(x/|x|) is the same, and a unit vector is
 * comparable with the decayed model's. {@link solve} returns x itself, whose
 * scores are predicted preferences.
 *
 * A user with no positive net weight has x = 0 (nothing to aim at), so the
 * zero vector.
 */
export class FoldInModel implements UserModel<FoldInState> {
  readonly name = 'fold-in' as const;
  readonly dims: number;
  readonly lambda: number;
  readonly alpha: number;
  readonly maxEntities: number;
  private readonly gram: Float64Array;

  /**
   * @throws ConfigError when `gram` is not a square, finite, symmetric matrix,
   *   or `lambda`, `alpha` or `maxEntities` is out of range.
   */
  constructor(options: FoldInOptions) {
    const { gram, lambda = FOLD_IN_DEFAULTS.lambda, alpha = FOLD_IN_DEFAULTS.alpha, maxEntities = FOLD_IN_DEFAULTS.maxEntities } = options;
    if (!(gram instanceof Float64Array)) throw new ConfigError(`fold-in model 'gram' must be a Float64Array, got ${typeof gram}`);
    const d = Math.round(Math.sqrt(gram.length));
    if (d < 1 || d * d !== gram.length) {
      throw new ConfigError(`fold-in model 'gram' must be a d×d matrix, got ${gram.length} values (not a square)`);
    }
    for (let i = 0; i < d; i++) {
      for (let j = i; j < d; j++) {
        const a = gram[i * d + j]!;
        const b = gram[j * d + i]!;
        if (!Number.isFinite(a) || !Number.isFinite(b)) throw new ConfigError(`fold-in model 'gram' has a non-finite value at (${i}, ${j})`);
        if (Math.abs(a - b) > 1e-9 * Math.max(1, Math.abs(a), Math.abs(b))) {
          throw new ConfigError(`fold-in model 'gram' is not symmetric at (${i}, ${j}): ${a} vs ${b}`);
        }
      }
    }
    if (typeof lambda !== 'number' || !Number.isFinite(lambda) || lambda <= 0) {
      throw new ConfigError(`fold-in model 'lambda' must be a finite number > 0, got ${String(lambda)}`);
    }
    if (typeof alpha !== 'number' || !Number.isFinite(alpha) || alpha < 0) {
      throw new ConfigError(`fold-in model 'alpha' must be a finite number ≥ 0, got ${String(alpha)}`);
    }
    if (!Number.isInteger(maxEntities) || maxEntities < 1) {
      throw new ConfigError(`fold-in model 'maxEntities' must be an integer ≥ 1, got ${String(maxEntities)}`);
    }
    this.gram = Float64Array.from(gram);
    this.dims = d;
    this.lambda = lambda;
    this.alpha = alpha;
    this.maxEntities = maxEntities;
  }

  empty(): FoldInState {
    return { entries: [], count: 0 };
  }

  /**
   * Adds the interaction's weight to the entity's net weight (O(k + d)); the
   * solve happens in {@link vector}. An entity whose net weight returns to 0
   * is dropped: it then weighs exactly as an entity never touched. A new
   * entity beyond `maxEntities` evicts the least recently seen one.
   */
  update(state: FoldInState, interaction: Interaction, entityVector: Float32Array): FoldInState {
    const { entityId, weight, timestamp } = interaction;
    if (entityVector.length !== this.dims) {
      throw new RangeError(`fold-in model of ${this.dims} dims: entity '${entityId}' has a vector of ${entityVector.length}`);
    }
    if (!Number.isFinite(weight) || !Number.isFinite(timestamp)) {
      throw new RangeError(`fold-in model: interaction with '${entityId}' has weight ${weight} and timestamp ${timestamp}; both must be finite`);
    }
    const { entries } = state;
    const at = entries.findIndex((e) => e.entityId === entityId);
    if (at >= 0) {
      const entry = entries[at]!;
      entry.weight += weight;
      entry.lastSeen = Math.max(entry.lastSeen, timestamp);
      entry.vector = Float32Array.from(entityVector);
      if (entry.weight === 0) entries.splice(at, 1);
    } else if (weight !== 0) {
      entries.push({ entityId, weight, lastSeen: timestamp, vector: Float32Array.from(entityVector) });
      if (entries.length > this.maxEntities) {
        let oldest = 0;
        for (let i = 1; i < entries.length; i++) if (entries[i]!.lastSeen < entries[oldest]!.lastSeen) oldest = i;
        entries.splice(oldest, 1);
      }
    }
    state.count++;
    return state;
  }

  fromHistory(history: readonly Interaction[], vectorOf: VectorLookup): FoldInState {
    return replayHistory(this, history, vectorOf);
  }

  /**
   * The raw (unnormalised) fold-in factor x, in double precision: yᵀx is the
   * predicted preference for an entity y. O(k·d² + d³).
   *
   * `prior`, when given, is a term r added to the right-hand side:
   * x = (YᵀY + Σᵢ (cᵢ−1)·yᵢyᵢᵀ + λI)⁻¹ · (r + Σᵢ cᵢ·pᵢ·yᵢ). It is how a fold-in
   * starts from a known factor instead of from zero (the lifetime model,
   * `lifetime.ts`); without it, or with r = 0 and no positive signal, the
   * result is the plain fold-in above.
   *
   * @throws RangeError when a retained vector's length or `prior`'s is not the
   *   model's dims, or the system is not positive definite (only with a `gram`
   *   that is not a Gram matrix).
   */
  solve(state: FoldInState, prior?: ArrayLike<number>): Float64Array {
    const d = this.dims;
    if (prior !== undefined && prior.length !== d) throw new RangeError(`fold-in model of ${d} dims: prior term has ${prior.length} values`);
    const a = Float64Array.from(this.gram);
    for (let i = 0; i < d; i++) a[i * d + i] = a[i * d + i]! + this.lambda;
    const b = prior === undefined ? new Float64Array(d) : Float64Array.from(prior);
    let anySignal = prior !== undefined && b.some((x) => x !== 0);
    for (const { entityId, weight, vector: y } of state.entries) {
      if (y.length !== d) throw new RangeError(`fold-in model of ${d} dims: retained entity '${entityId}' has a vector of ${y.length}`);
      const extra = this.alpha * Math.abs(weight);
      // Only the lower triangle is read by the Cholesky factorisation.
      if (extra !== 0) {
        for (let i = 0; i < d; i++) {
          const s = extra * y[i]!;
          if (s === 0) continue;
          for (let j = 0; j <= i; j++) a[i * d + j] = a[i * d + j]! + s * y[j]!;
        }
      }
      if (weight > 0) {
        anySignal = true;
        const c = 1 + extra;
        for (let i = 0; i < d; i++) b[i] = b[i]! + c * y[i]!;
      }
    }
    if (!anySignal) return new Float64Array(d);
    return solveSpd(a, b, d);
  }

  /** The unit-length fold-in factor (see the class notes), or the zero vector without positive signal. */
  vector(state: FoldInState): Float32Array {
    return normalize(this.solve(state));
  }
}
