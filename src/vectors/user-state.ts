import { addConsumed, type ConsumedSet, DEFAULT_CONSUMED_CAPACITY, emptyConsumed } from './consumed';
import { recordInteraction, emptyHistory, type InteractionHistory } from './history';
import type { UserModel, VectorLookup } from './models/user-model';
import type { FeedbackEvent, ListenEvent } from './records';
import { DEFAULT_SIGNAL_WEIGHTS, interactionOf, type Interaction, type SignalWeights } from './signals';

/** How many recent event ids a user keeps to drop redelivered events. */
export const SEEN_EVENTS = 64;
/** How many recently consumed entities a user keeps, to exclude from candidates. */
export const RECENT_CONSUMED = 50;

/**
 * Everything kept per user (docs/CONTRACTS.md "User vectors"): a bounded history of
 * interactions (enough to compute the user in a new snapshot's space), one
 * model state per live snapshot, banned entities, recently consumed entities,
 * counters and a version. Plain data, for a state store.
 */
export interface UserState {
  userId: string;
  history: InteractionHistory;
  /** Model state per live snapshot id. */
  spaces: Record<string, unknown>;
  banned: string[];
  recent: string[];
  /**
   * Every entity the user listened to, compact and bounded (consumed.ts),
   * for candidates under `exclude=consumed`. Absent in states written before
   * it existed: read it with {@link consumedOf}.
   */
  consumed?: ConsumedSet;
  seen: string[];
  eventCount: number;
  /** Increases by one with every change. */
  version: number;
  /** Latest event time applied, epoch ms. */
  updatedAt: number;
}

/** The user's consumed set (empty for a state from before consumed sets were kept). */
export function consumedOf(state: UserState): ConsumedSet {
  return state.consumed ?? emptyConsumed();
}

/** A snapshot's space as a user update needs it. */
export interface Space {
  id: string;
  model: UserModel<unknown>;
  vectorOf: VectorLookup;
  /**
   * The state of a user new to this space, from their history: when the
   * snapshot carries batch user factors, around the user's x₀ (the lifetime
   * model); otherwise (absent) `model.fromHistory`.
   */
  startState?(userId: string, history: readonly Interaction[]): unknown;
}

export function newUserState(userId: string, historyCapacity?: number): UserState {
  return {
    userId,
    history: emptyHistory(historyCapacity),
    spaces: {},
    banned: [],
    recent: [],
    consumed: emptyConsumed(),
    seen: [],
    eventCount: 0,
    version: 0,
    updatedAt: 0,
  };
}

/** The user's model state in `space`: the one kept, or one computed from the history (around x₀ when the space has user factors). `state` is not changed. */
export function modelStateIn(state: UserState, space: Space): unknown {
  return (
    state.spaces[space.id] ??
    (space.startState ? space.startState(state.userId, state.history.items) : space.model.fromHistory(state.history.items, space.vectorOf))
  );
}

/** Makes sure the user has a state in `space`, computing it from the history when missing. Returns true when it computed one. */
export function ensureSpace(state: UserState, space: Space): boolean {
  if (state.spaces[space.id] !== undefined) return false;
  state.spaces[space.id] = modelStateIn(state, space);
  return true;
}

/** Drops the states of snapshots that are no longer live. */
export function pruneSpaces(state: UserState, live: ReadonlySet<string>): void {
  for (const id of Object.keys(state.spaces)) if (!live.has(id)) delete state.spaces[id];
}

function pushBounded(list: string[], item: string, cap: number): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
  list.push(item);
  if (list.length > cap) list.splice(0, list.length - cap);
}

/**
 * Applies one listen or feedback event to the user, in every live space.
 * Returns false for an event already applied (same eventId recently): Kafka
 * may deliver an event twice, and counting it twice would move the vector twice.
 *
 * BAN adds the entity to the user's banned set, UNBAN removes it; both are
 * kept apart from the vector. Other events become a signed interaction
 * (signals.ts): LIKE pulls the vector towards the entity, DISLIKE and SKIP push
 * it away.
 */
export function applyEvent(
  state: UserState,
  event: ListenEvent | FeedbackEvent,
  spaces: readonly Space[],
  weights: SignalWeights = DEFAULT_SIGNAL_WEIGHTS,
  consumedCapacity: number = DEFAULT_CONSUMED_CAPACITY,
): boolean {
  if (state.seen.includes(event.eventId)) return false;
  // First what can throw (a malformed event): the state must be untouched then,
  // since the store may hand out the cached object itself.
  const isBan = 'kind' in event && (event.kind === 'BAN' || event.kind === 'UNBAN');
  const interaction = isBan ? undefined : interactionOf(event, weights);
  pushBounded(state.seen, event.eventId, SEEN_EVENTS);
  for (const space of spaces) ensureSpace(state, space);
  if ('kind' in event && event.kind === 'BAN') {
    if (!state.banned.includes(event.entityId)) state.banned.push(event.entityId);
  } else if ('kind' in event && event.kind === 'UNBAN') {
    state.banned = state.banned.filter((e) => e !== event.entityId);
  } else {
    if (!('kind' in event)) {
      pushBounded(state.recent, event.entityId, RECENT_CONSUMED);
      state.consumed = addConsumed(consumedOf(state), event.entityId, consumedCapacity);
    }
    if (interaction) {
      recordInteraction(state.history, interaction);
      for (const space of spaces) {
        const v = space.vectorOf(interaction.entityId);
        if (v) state.spaces[space.id] = space.model.update(state.spaces[space.id], interaction, v);
      }
    }
  }
  state.eventCount++;
  state.version++;
  state.updatedAt = Math.max(state.updatedAt, event.timestamp);
  return true;
}
