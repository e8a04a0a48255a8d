/**
 * The evaluation's input: a time-ordered list of the product's own events
 * (listens and feedback), from a ratings CSV or from the synthetic world,
 * each with the signed weight the product gives it (src/vectors/signals.ts).
 */
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { FeedbackEvent, ListenEvent } from '../src/vectors/records';
import { DEFAULT_SIGNAL_WEIGHTS, interactionOf } from '../src/vectors/signals';
import { generateWorld, type WorldOptions } from '../src/vectors/synthetic/world';

export type ProductEvent = ListenEvent | FeedbackEvent;

/** One event with what the evaluation needs to know about it. */
export interface EvalEvent {
  readonly event: ProductEvent;
  readonly userId: string;
  readonly entityId: string;
  /** Epoch ms. */
  readonly timestamp: number;
  /** The product's signed weight (`interactionOf`); 0 for BAN / UNBAN. */
  readonly weight: number;
  /** A test positive: a full listen or a LIKE. */
  readonly positive: boolean;
  /** A BAN. */
  readonly ban: boolean;
}

export interface Dataset {
  /** `ml-latest-small`, `synthetic`, or the file's name. */
  readonly name: string;
  /** Every event, by timestamp; ties in the source's order. */
  readonly events: readonly EvalEvent[];
  /** How the source became events, one line for the report. */
  readonly mapping: string;
}

const FULL = DEFAULT_SIGNAL_WEIGHTS.fullListenCompletion;

export function evalEvent(event: ProductEvent): EvalEvent {
  const isFeedback = 'kind' in event;
  const weight = interactionOf(event)?.weight ?? 0;
  const positive = isFeedback ? event.kind === 'LIKE' : Math.min(1, event.msPlayed / event.durationMs) >= FULL;
  return { event, userId: event.userId, entityId: event.entityId, timestamp: event.timestamp, weight, positive, ban: isFeedback && event.kind === 'BAN' };
}

/** Nominal duration of a film read as a play, ms: only the completion matters. */
const NOMINAL_MS = 100_000;

export const RATING_MAPPING =
  'rating ≥ 4: a full listen (weight 1, a test positive); 2.5–3.5: a partial play of completion (rating − 2)/2, weight 0.5 × completion ' +
  '(0.125, 0.25, 0.375); ≤ 2: a DISLIKE (weight −2). Timestamps s → ms; sorted by time, ties in file order.';

/** The product event a MovieLens-style rating stands for (see {@link RATING_MAPPING}). */
export function ratingEvent(row: number, userId: string, entityId: string, rating: number, timestampMs: number): ProductEvent {
  const eventId = `r${row}`;
  if (rating <= 2) return { eventId, userId, entityId, kind: 'DISLIKE', surface: 'rating', timestamp: timestampMs };
  const completion = rating >= 4 ? 1 : (rating - 2) / 2;
  return { eventId, userId, entityId, msPlayed: Math.round(NOMINAL_MS * completion), durationMs: NOMINAL_MS, context: 'rating', timestamp: timestampMs };
}

/**
 * Reads a ratings CSV, `userId,movieId,rating,timestamp` (header line, Unix
 * seconds), as events. Users become `u<userId>`, movies `m<movieId>`.
 *
 * @throws Error naming the line of a malformed row.
 */
export function loadRatings(path: string): Dataset {
  const lines = readFileSync(path, 'utf8').split(/\r?\n/);
  const header = lines[0]?.trim().toLowerCase();
  if (header !== 'userid,movieid,rating,timestamp') {
    throw new Error(`${path}: expected the header 'userId,movieId,rating,timestamp', got '${lines[0]}'`);
  }
  const events: EvalEvent[] = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const [u, m, r, t] = line.split(',');
    const rating = Number(r);
    const seconds = Number(t);
    if (!u || !m || !Number.isFinite(rating) || !Number.isSafeInteger(seconds))
      throw new Error(`${path}: line ${i + 1} is not 'userId,movieId,rating,timestamp': '${line}'`);
    events.push(evalEvent(ratingEvent(i, `u${u}`, `m${m}`, rating, seconds * 1000)));
  }
  return { name: datasetName(path), events: byTime(events), mapping: RATING_MAPPING };
}

/** `ml-latest-small` for `…/ml-latest-small/ratings.csv`, else the file's name without extension. */
export function datasetName(path: string): string {
  const file = basename(path);
  return file === 'ratings.csv' ? basename(dirname(path)) : file.replace(/\.[^.]*$/, '');
}

/** Stable sort by timestamp (ties keep their order). */
export function byTime<T extends { timestamp: number }>(items: T[]): T[] {
  return items
    .map((x, i) => [x, i] as const)
    .sort((a, b) => a[0].timestamp - b[0].timestamp || a[1] - b[1])
    .map(([x]) => x);
}

export const WORLD_MAPPING =
  'the world’s own events: a listen of completion ≥ 0.8 is a full listen (weight 1, a test positive), 0.1–0.8 a partial play (0.5 × completion), ' +
  'below 0.1 a skip (−0.5); LIKE +2 (a test positive), DISLIKE −2, BAN excludes.';

export function loadWorld(options: Partial<WorldOptions>): Dataset {
  const world = generateWorld(options);
  return { name: 'synthetic', events: world.events.map(evalEvent), mapping: WORLD_MAPPING };
}
