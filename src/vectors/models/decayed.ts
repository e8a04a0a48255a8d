/**
 * The exponentially decayed user vector: u = normalise(Σ wᵢ·exp(−(t−tᵢ)/τ)·vᵢ).
 */
import { ConfigError } from '../../errors';
import { axpyInPlace, normalize, scaleInPlace } from '../math';
import type { Interaction } from '../signals';
import { replayHistory, type UserModel, type VectorLookup } from './user-model';

/** Default decay time constant τ: 7 days. An interaction's weight falls by e every τ. */
export const DEFAULT_TAU_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Below this rescaling factor everything accumulated so far is under double
 * precision next to the newest interaction (for any realistic number of
 * events), so it is dropped rather than carried on as subnormals.
 */
const FORGET_BELOW = 1e-200;

/**
 * Plain serializable state: `sum` is Σ wᵢ·exp(−(refTime−tᵢ)/τ)·vᵢ, the
 * unnormalised sum decayed to `refTime`, the latest interaction time applied.
 * Double precision because likes and dislikes can nearly cancel, and the
 * direction of a small difference of large sums needs the digits.
 */
export interface DecayedState {
  sum: Float64Array;
  /** Latest interaction time applied (epoch ms); meaningless while `count` is 0. */
  refTime: number;
  /** Interactions applied. */
  count: number;
}

/** Options of {@link DecayedModel}. */
export interface DecayedOptions {
  /** Dimension of the snapshot's space. Integer ≥ 1. */
  dims: number;
  /** Decay time constant τ in ms. Finite, > 0. Default {@link DEFAULT_TAU_MS}. */
  tauMs?: number;
}

/**
 * The decayed model. O(d) per interaction: the state keeps the sum decayed to
 * the latest interaction time, and moving that reference forward rescales the
 * sum by exp(−Δt/τ) ≤ 1, so nothing overflows however long the user lives.
 * An older interaction than the reference is added with its own factor
 * exp(−(refTime−t)/τ), which is exact: the result does not depend on arrival
 * order.
 *
 * Time does not change the direction: every term decays at the same rate, so
 * the user vector is the same at any later time until the next interaction,
 * and {@link vector} needs no clock.
 */
export class DecayedModel implements UserModel<DecayedState> {
  readonly name = 'decayed' as const;
  readonly dims: number;
  readonly tauMs: number;

  /** @throws ConfigError when `dims` is not an integer ≥ 1 or `tauMs` is not a finite number > 0. */
  constructor(options: DecayedOptions) {
    const { dims, tauMs = DEFAULT_TAU_MS } = options;
    if (!Number.isInteger(dims) || dims < 1) throw new ConfigError(`decayed model 'dims' must be an integer ≥ 1, got ${dims}`);
    if (typeof tauMs !== 'number' || !Number.isFinite(tauMs) || tauMs <= 0) {
      throw new ConfigError(`decayed model 'tauMs' must be a finite number of ms > 0, got ${String(tauMs)}`);
    }
    this.dims = dims;
    this.tauMs = tauMs;
  }

  empty(): DecayedState {
    return { sum: new Float64Array(this.dims), refTime: 0, count: 0 };
  }

  update(state: DecayedState, interaction: Interaction, entityVector: Float32Array): DecayedState {
    const { weight, timestamp } = interaction;
    if (entityVector.length !== this.dims || state.sum.length !== this.dims) {
      throw new RangeError(
        `decayed model of ${this.dims} dims: entity '${interaction.entityId}' has a vector of ${entityVector.length} and the state ${state.sum.length} dims`,
      );
    }
    if (!Number.isFinite(weight) || !Number.isFinite(timestamp)) {
      throw new RangeError(`decayed model: interaction with '${interaction.entityId}' has weight ${weight} and timestamp ${timestamp}; both must be finite`);
    }
    if (state.count === 0) {
      state.refTime = timestamp;
    } else if (timestamp > state.refTime) {
      const factor = Math.exp(-(timestamp - state.refTime) / this.tauMs);
      if (factor < FORGET_BELOW) state.sum.fill(0);
      else scaleInPlace(state.sum, factor);
      state.refTime = timestamp;
    }
    // For an older interaction the factor is < 1; for the newest it is exactly 1.
    axpyInPlace(state.sum, weight * Math.exp(-(state.refTime - timestamp) / this.tauMs), entityVector);
    state.count++;
    return state;
  }

  fromHistory(history: readonly Interaction[], vectorOf: VectorLookup): DecayedState {
    return replayHistory(this, history, vectorOf);
  }

  vector(state: DecayedState): Float32Array {
    return normalize(state.sum);
  }
}
