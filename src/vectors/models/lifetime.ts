/**
 * The lifetime + realtime user factor: the batch trainer's user factor x₀
 * (lifetime taste, trained up to a cut-off), with the events after the
 * cut-off folded in around it instead of from zero.
 */
import { ConfigError } from '../../errors';
import { normalize } from '../math';
import type { Interaction } from '../signals';
import { FOLD_IN_DEFAULTS, FoldInModel, type FoldInState } from './fold-in';
import { replayHistory, type UserModel, type VectorLookup } from './user-model';

/**
 * How x₀ enters the fold-in's right-hand side:
 * - `anchored`: A₀x₀ with A₀ = YᵀY + λₚI. The prior is the whole quadratic
 *   form of the fold-in around x₀: every entity's predicted score is held
 *   near x₀'s prediction; with no new events the formula gives x₀ itself.
 * - `ridge`: λₚx₀, the minimiser of Σⱼ cⱼ(pⱼ − yⱼᵀu)² + λₚ|u − x₀|² over
 *   the new events only. The entities of the lifetime taste count as
 *   untouched (p = 0) and are remembered through the prior alone, so recent
 *   events weigh still more. With no new events its formula would give
 *   (YᵀY + λₚI)⁻¹λₚx₀, which ranks differently from x₀ (and worse on
 *   MovieLens: docs/EVALUATION.md); the model answers x₀ then, as for
 *   `anchored`, and the formula applies from the first new event on.
 */
export type LifetimeVariant = 'anchored' | 'ridge';

/** Options of {@link LifetimeModel}. */
export interface LifetimeOptions {
  /** YᵀY of the snapshot, `d × d` row-major (`gramMatrix` in `fold-in.ts`). */
  gram: Float64Array;
  /** λₚ: how much the lifetime taste weighs against new events. Finite, > 0. Default 1 (with `ridge`, the evaluation's choice on MovieLens: docs/EVALUATION.md). */
  priorWeight?: number;
  /** Confidence slope α in cᵢ = 1 + α·|wᵢ|, as the batch trainer's. Finite, ≥ 0. Default 10. */
  alpha?: number;
  /** Most entities with events after the cut-off retained per user; the least recently seen is evicted. Default 100. */
  maxEntities?: number;
  /** Default `ridge` (see {@link priorWeight}). */
  variant?: LifetimeVariant;
}

/** Defaults of {@link LifetimeOptions}. */
export const LIFETIME_DEFAULTS = Object.freeze({
  priorWeight: 1,
  alpha: FOLD_IN_DEFAULTS.alpha,
  maxEntities: FOLD_IN_DEFAULTS.maxEntities,
  variant: 'ridge' as LifetimeVariant,
});

/**
 * Plain serializable state: the user's lifetime factor and cut-off, and the
 * fold-in state of the interactions after it.
 */
export interface LifetimeState {
  /**
   * x₀, the batch user factor as trained: raw, NOT unit length. Its length
   * sets how much the lifetime taste weighs against new events, so a
   * snapshot must carry the factors unnormalised. `null` for a user the
   * batch did not know (then the model is a plain fold-in with λ = λₚ).
   */
  lifetime: Float32Array | null;
  /** Interactions at or before this time (epoch ms) are already in x₀ and are skipped; `null`: none is. */
  cutoff: number | null;
  /** The interactions after the cut-off. */
  recent: FoldInState;
}

/**
 * With Y the snapshot's entity factors, A₀ = YᵀY + λₚI, and for each entity i
 * with events after the cut-off (net weight wᵢ, cᵢ = 1 + α·|wᵢ|, pᵢ = 1 if
 * wᵢ > 0 else 0):
 *
 *   u = (A₀ + Σᵢ (cᵢ−1)·yᵢyᵢᵀ)⁻¹ · (A₀x₀ + Σᵢ cᵢ·pᵢ·yᵢ)        (anchored)
 *   u = (A₀ + Σᵢ (cᵢ−1)·yᵢyᵢᵀ)⁻¹ · (λₚx₀ + Σᵢ cᵢ·pᵢ·yᵢ)        (ridge)
 *
 * the fold-in of `fold-in.ts` with a prior term (its `solve(state, prior)`),
 * whose bookkeeping it shares. A user with no new events (no entity with a
 * net weight after the cut-off) answers x₀ exactly, in either variant; one
 * with events moves from it towards them.
 *
 * {@link solve} returns u itself (its scores yᵀu are predicted preferences;
 * for a user with no new events, x₀ bit for bit). {@link vector} follows the
 * {@link UserModel} convention and returns u at unit length: candidates rank
 * by inner product, so the ranking is the same, and a unit vector is what the
 * candidate refresh (cosine moves) and the other models give.
 *
 * A state starts from {@link around} (x₀ known) or {@link empty} (x₀
 * unknown); {@link fromHistory} replays from `empty()` as the contract says,
 * {@link fromHistoryAround} from `around(x₀, cutoff)`.
 */
export class LifetimeModel implements UserModel<LifetimeState> {
  readonly name = 'lifetime' as const;
  readonly dims: number;
  readonly priorWeight: number;
  readonly variant: LifetimeVariant;
  private readonly foldIn: FoldInModel;
  private readonly gram: Float64Array;

  /** @throws ConfigError when `gram` is not a square, finite, symmetric matrix, or an option is out of range. */
  constructor(options: LifetimeOptions) {
    const {
      gram,
      priorWeight = LIFETIME_DEFAULTS.priorWeight,
      alpha = LIFETIME_DEFAULTS.alpha,
      maxEntities = LIFETIME_DEFAULTS.maxEntities,
      variant = LIFETIME_DEFAULTS.variant,
    } = options;
    if (typeof priorWeight !== 'number' || !Number.isFinite(priorWeight) || priorWeight <= 0) {
      throw new ConfigError(`lifetime model 'priorWeight' must be a finite number > 0, got ${String(priorWeight)}`);
    }
    if (variant !== 'anchored' && variant !== 'ridge')
      throw new ConfigError(`lifetime model 'variant' must be 'anchored' or 'ridge', got '${String(variant)}'`);
    // The fold-in checks gram, alpha and maxEntities; its λ is λₚ, so its matrix is A₀ + Σ(cᵢ−1)yᵢyᵢᵀ.
    this.foldIn = new FoldInModel({ gram, lambda: priorWeight, alpha, maxEntities });
    this.gram = Float64Array.from(gram);
    this.dims = this.foldIn.dims;
    this.priorWeight = priorWeight;
    this.variant = variant;
  }

  /** A user the batch did not know: no lifetime factor, no cut-off. */
  empty(): LifetimeState {
    return { lifetime: null, cutoff: null, recent: this.foldIn.empty() };
  }

  /**
   * A user whose batch factor is `x0` (copied), trained on events up to
   * `cutoff` (epoch ms; `null` when the caller feeds only later events).
   *
   * @throws RangeError when `x0` does not have the model's dims or a value is not finite.
   */
  around(x0: ArrayLike<number>, cutoff: number | null = null): LifetimeState {
    if (x0.length !== this.dims) throw new RangeError(`lifetime model of ${this.dims} dims: lifetime factor has ${x0.length} values`);
    const lifetime = Float32Array.from(x0);
    if (!lifetime.every(Number.isFinite)) throw new RangeError('lifetime model: the lifetime factor has a non-finite value');
    if (cutoff !== null && !Number.isFinite(cutoff)) throw new RangeError(`lifetime model: cut-off must be finite epoch ms or null, got ${cutoff}`);
    return { lifetime, cutoff, recent: this.foldIn.empty() };
  }

  /** Adds an interaction after the cut-off (one at or before it is already in x₀: the state is returned unchanged). */
  update(state: LifetimeState, interaction: Interaction, entityVector: Float32Array): LifetimeState {
    if (state.cutoff !== null && interaction.timestamp <= state.cutoff) return state;
    state.recent = this.foldIn.update(state.recent, interaction, entityVector);
    return state;
  }

  fromHistory(history: readonly Interaction[], vectorOf: VectorLookup): LifetimeState {
    return replayHistory(this, history, vectorOf);
  }

  /** The state of a user with batch factor `x0` and cut-off `cutoff` after `history` (interactions up to the cut-off skipped). */
  fromHistoryAround(x0: ArrayLike<number>, cutoff: number | null, history: readonly Interaction[], vectorOf: VectorLookup): LifetimeState {
    return replayHistory(this, history, vectorOf, this.around(x0, cutoff));
  }

  /**
   * u, raw, in double precision (see the class notes). O(k·d² + d³); O(d)
   * for a user without new events.
   */
  solve(state: LifetimeState): Float64Array {
    const x0 = state.lifetime;
    if (x0 === null) return this.foldIn.solve(state.recent);
    if (x0.length !== this.dims) throw new RangeError(`lifetime model of ${this.dims} dims: lifetime factor has ${x0.length} values`);
    if (state.recent.entries.length === 0) return Float64Array.from(x0);
    return this.foldIn.solve(state.recent, this.priorTerm(x0));
  }

  /** u at unit length, or the zero vector when u is zero. */
  vector(state: LifetimeState): Float32Array {
    return normalize(this.solve(state));
  }

  /** A₀x₀ = YᵀYx₀ + λₚx₀ (anchored) or λₚx₀ (ridge). */
  private priorTerm(x0: Float32Array): Float64Array {
    const d = this.dims;
    const r = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = this.priorWeight * x0[i]!;
      if (this.variant === 'anchored') for (let j = 0; j < d; j++) s += this.gram[i * d + j]! * x0[j]!;
      r[i] = s;
    }
    return r;
  }
}
