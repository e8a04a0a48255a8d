/**
 * The bounded record of a user's recent interactions. A user vector is only
 * meaningful in its snapshot's space; when a new snapshot is staged, the
 * user's vector there is recomputed from this history
 * ({@link UserModel.fromHistory}).
 */
import { ConfigError } from '../errors';
import type { Interaction } from './signals';

/** Default number of interactions kept per user. */
export const DEFAULT_HISTORY_CAPACITY = 200;

/**
 * Plain serializable data: the retained interactions, oldest first by
 * timestamp (ties in arrival order), at most `capacity` of them.
 */
export interface InteractionHistory {
  capacity: number;
  items: Interaction[];
}

/**
 * An empty history keeping at most `capacity` interactions.
 *
 * @throws ConfigError when `capacity` is not an integer ≥ 1.
 */
export function emptyHistory(capacity: number = DEFAULT_HISTORY_CAPACITY): InteractionHistory {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new ConfigError(`history 'capacity' must be an integer ≥ 1, got ${capacity}`);
  }
  return { capacity, items: [] };
}

/**
 * Records `interaction` in `history` (mutated and returned). When full, the
 * interaction with the oldest timestamp goes: the history keeps the
 * `capacity` most recent by event time, which matters when events arrive out
 * of order, since the recent ones weigh most. An interaction older than every
 * retained one in a full history is therefore not kept. The caller's object is
 * copied, not aliased.
 */
export function recordInteraction(history: InteractionHistory, interaction: Interaction): InteractionHistory {
  const { items } = history;
  const full = items.length >= history.capacity;
  if (full && items.length > 0 && interaction.timestamp < items[0]!.timestamp) return history;
  // Events arrive almost in order: search for the slot from the end.
  let at = items.length;
  while (at > 0 && items[at - 1]!.timestamp > interaction.timestamp) at--;
  items.splice(at, 0, { entityId: interaction.entityId, weight: interaction.weight, timestamp: interaction.timestamp });
  if (items.length > history.capacity) items.splice(0, items.length - history.capacity);
  return history;
}
