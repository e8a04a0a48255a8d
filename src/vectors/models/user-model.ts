/**
 * The contract both user-vector models meet (docs/CONTRACTS.md, "User vectors").
 */
import type { Interaction } from '../signals';

/**
 * The user models: 'decayed' and 'fold-in' need only a snapshot's entity
 * vectors; 'lifetime' (`lifetime.ts`) also needs its batch user factors.
 */
export type UserModelName = 'decayed' | 'fold-in' | 'lifetime';

/** Looks up an entity's vector in one snapshot; `undefined` when the snapshot does not hold the entity. */
export type VectorLookup = (entityId: string) => Float32Array | undefined;

/**
 * A way of turning a user's interactions into a vector in one snapshot's
 * latent space. A model instance belongs to one snapshot (its dims, and for
 * fold-in that snapshot's Gram matrix); a state is only meaningful with the
 * model instance, and so the snapshot, that built it.
 *
 * States are plain serializable data (numbers, strings, arrays, typed
 * arrays): the runtime keeps them in a state store and restores them on
 * another instance. Models hold no per-user data themselves.
 *
 * Contract, for any model `m` and interactions `h`:
 * `m.fromHistory(h, lookup)` equals folding `m.update` over `h` in order,
 * starting from `m.empty()`, skipping interactions whose entity `lookup` does
 * not know.
 *
 * Errors: a `RangeError` when an entity vector's length is not the model's
 * dims, or an interaction's weight or timestamp is not finite. Both are
 * caller bugs (snapshots are validated, interactions come from
 * `interactionOf`); the state is left unchanged.
 */
export interface UserModel<S> {
  readonly name: UserModelName;
  /** Dimension of the latent space. */
  readonly dims: number;

  /** The state of a user without any signal; its {@link vector} is the zero vector. */
  empty(): S;

  /**
   * Adds one interaction with the entity whose vector (in this model's
   * snapshot) is `entityVector`. May mutate `state`; returns the state to keep.
   * Out-of-order interactions (older than ones already applied) are handled.
   * O(d) for decayed; O(k) bookkeeping for fold-in, whose cost is in {@link vector}.
   */
  update(state: S, interaction: Interaction, entityVector: Float32Array): S;

  /**
   * The state built from scratch from `history` in this model's space; used to
   * compute a user's vector in a newly staged snapshot. Interactions with
   * entities the snapshot does not hold are skipped.
   */
  fromHistory(history: readonly Interaction[], vectorOf: VectorLookup): S;

  /**
   * The user vector: unit length, or the zero vector when the state carries no
   * usable signal. A new array; `state` is not modified. O(d) for decayed;
   * O(k·d² + d³) for fold-in.
   */
  vector(state: S): Float32Array;
}

/**
 * {@link UserModel.fromHistory} as its contract defines it: `update` folded
 * over the history from `empty()`, unknown entities skipped. `start`, when
 * given, replaces `empty()` (a model whose users do not all start from
 * nothing, as the lifetime model's); it may be mutated.
 */
export function replayHistory<S>(model: UserModel<S>, history: readonly Interaction[], vectorOf: VectorLookup, start?: S): S {
  let state = start ?? model.empty();
  for (const interaction of history) {
    const v = vectorOf(interaction.entityId);
    if (v !== undefined) state = model.update(state, interaction, v);
  }
  return state;
}
