/**
 * Turning listening and feedback events into signed interaction weights, the
 * only input the user-vector models see.
 */
import { ConfigError, RecordValidationError } from '../errors';
import { Topics } from './contracts';
import type { FeedbackEvent, ListenEvent } from './records';

/**
 * One signed signal of a user about an entity. Positive weight pulls the user
 * vector towards the entity, negative pushes it away. Plain data: it is kept
 * in the user's history and replayed into a new snapshot's space.
 */
export interface Interaction {
  entityId: string;
  /** Signed strength; never 0 when produced by {@link interactionOf}. */
  weight: number;
  /** Event time, epoch milliseconds. */
  timestamp: number;
}

/**
 * How much each kind of event counts. A listen's completion is
 * `min(1, msPlayed / durationMs)`:
 * - completion ≥ `fullListenCompletion` → `fullListen`;
 * - completion < `skipCompletion` → `skip` (a skip by listening, same as feedback SKIP);
 * - otherwise → `partialPlay × completion`.
 *
 * Feedback: LIKE → `like`, DISLIKE → `dislike`, SKIP → `skip`, UNLIKE →
 * `unlike`; BAN and UNBAN carry no weight (they are exclusions, kept apart
 * from the vector).
 *
 * UNLIKE is an event of its own, applied once at its time, not the erasure of
 * the earlier LIKE: the history may no longer hold that like, and "I no longer
 * like this" is itself news. With the default `unlike = -like`, the fold-in
 * model sees the entity's net weight return to 0 (exactly as if never liked);
 * the decayed model keeps a net negative that is small for an unlike right
 * after the like and approaches a dislike's for a like long past, because the
 * like has decayed and the unlike has not.
 */
export interface SignalWeights {
  /** Weight of a listen with completion ≥ `fullListenCompletion`. > 0. Default 1. */
  readonly fullListen: number;
  /** Completion from which a listen counts as full. In (0, 1]. Default 0.8. */
  readonly fullListenCompletion: number;
  /** A partial play weighs `partialPlay × completion`. ≥ 0. Default 0.5. */
  readonly partialPlay: number;
  /** Completion below which a listen counts as a skip. In [0, fullListenCompletion). Default 0.1. */
  readonly skipCompletion: number;
  /** Weight of a skip, by listening or by feedback. < 0. Default -0.5. */
  readonly skip: number;
  /** Weight of a LIKE. > 0. Default 2. */
  readonly like: number;
  /** Weight of a DISLIKE. < 0. Default -2. */
  readonly dislike: number;
  /** Weight of an UNLIKE. < 0. Default -2 (cancels one LIKE; see above). */
  readonly unlike: number;
}

/** The defaults documented on {@link SignalWeights}. */
export const DEFAULT_SIGNAL_WEIGHTS: SignalWeights = Object.freeze({
  fullListen: 1.0,
  fullListenCompletion: 0.8,
  partialPlay: 0.5,
  skipCompletion: 0.1,
  skip: -0.5,
  like: 2.0,
  dislike: -2.0,
  unlike: -2.0,
});

type Rule = [keyof SignalWeights, (v: number, w: SignalWeights) => boolean, string];

const RULES: Rule[] = [
  ['fullListen', (v) => v > 0, 'a number > 0'],
  ['fullListenCompletion', (v) => v > 0 && v <= 1, 'a number in (0, 1]'],
  ['partialPlay', (v) => v >= 0, 'a number ≥ 0'],
  ['skipCompletion', (v, w) => v >= 0 && v < w.fullListenCompletion, 'a number in [0, fullListenCompletion)'],
  ['skip', (v) => v < 0, 'a number < 0'],
  ['like', (v) => v > 0, 'a number > 0'],
  ['dislike', (v) => v < 0, 'a number < 0'],
  ['unlike', (v) => v < 0, 'a number < 0'],
];

/**
 * The defaults with `overrides` applied, validated and frozen.
 *
 * @throws ConfigError naming the first field that is not a finite number in its range.
 */
export function signalWeights(overrides: Partial<SignalWeights> = {}): SignalWeights {
  const w: SignalWeights = { ...DEFAULT_SIGNAL_WEIGHTS, ...overrides };
  for (const [field, ok, expected] of RULES) {
    const v = w[field];
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v, w)) {
      throw new ConfigError(`signal weight '${field}' must be ${expected}, got ${String(v)}`);
    }
  }
  return Object.freeze(w);
}

function isFeedback(event: ListenEvent | FeedbackEvent): event is FeedbackEvent {
  return 'kind' in event;
}

/** The weight of a listen, from its completion. */
function listenWeight(e: ListenEvent, w: SignalWeights): number {
  if (!Number.isFinite(e.durationMs) || e.durationMs <= 0) {
    throw new RecordValidationError(Topics.listens, `event '${e.eventId}': durationMs must be > 0 to compute a completion, got ${e.durationMs}`);
  }
  if (!Number.isFinite(e.msPlayed) || e.msPlayed < 0) {
    throw new RecordValidationError(Topics.listens, `event '${e.eventId}': msPlayed must be ≥ 0, got ${e.msPlayed}`);
  }
  // Replays and seeks can report more than the duration.
  const completion = Math.min(1, e.msPlayed / e.durationMs);
  if (completion >= w.fullListenCompletion) return w.fullListen;
  if (completion < w.skipCompletion) return w.skip;
  return w.partialPlay * completion;
}

/**
 * The interaction an event contributes to the user's vector, or `undefined`
 * when it contributes none: BAN / UNBAN (exclusions, handled apart from the
 * vector) and a partial play whose weight is 0 (`partialPlay` 0, or nothing
 * played with `skipCompletion` 0).
 *
 * @throws RecordValidationError for a listen whose `durationMs` is not > 0 or
 *   whose `msPlayed` is negative, for a feedback kind this version does not
 *   know, or for a non-finite timestamp: bad input goes to the dead-letter
 *   topic, it is never dropped silently.
 */
export function interactionOf(event: ListenEvent | FeedbackEvent, weights: SignalWeights = DEFAULT_SIGNAL_WEIGHTS): Interaction | undefined {
  const topic = isFeedback(event) ? Topics.feedback : Topics.listens;
  if (!Number.isFinite(event.timestamp)) {
    throw new RecordValidationError(topic, `event '${event.eventId}': timestamp must be a finite number of epoch ms, got ${event.timestamp}`);
  }
  let weight: number;
  if (isFeedback(event)) {
    switch (event.kind) {
      case 'LIKE':
        weight = weights.like;
        break;
      case 'DISLIKE':
        weight = weights.dislike;
        break;
      case 'UNLIKE':
        weight = weights.unlike;
        break;
      case 'SKIP':
        weight = weights.skip;
        break;
      case 'BAN':
      case 'UNBAN':
        return undefined;
      default:
        throw new RecordValidationError(topic, `event '${event.eventId}': unknown feedback kind '${String((event as { kind: unknown }).kind)}'`);
    }
  } else {
    weight = listenWeight(event, weights);
  }
  if (weight === 0) return undefined;
  return { entityId: event.entityId, weight, timestamp: event.timestamp };
}
