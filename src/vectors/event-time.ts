import { ConfigError, EventTimeError } from '../errors';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The event times the user-vectors topology accepts, relative to the wall
 * clock. A user's state follows the latest event time it has seen (the
 * decayed model decays towards it, `updatedAt` is the maximum), so one event
 * far in the future would weigh every later event down to nothing and put a
 * date Avro readers cannot represent in `updatedAt`.
 */
export interface EventTimeWindow {
  /**
   * How far an event may lie behind the wall clock, ms; `Infinity` for no
   * bound. Default 365 days: far longer than a listens topic is usually
   * retained, so replaying it from the start never dead-letters history, while
   * a timestamp in seconds or 0 (both read as 1970) is still refused.
   */
  maxAgeMs: number;
  /**
   * How far an event may lie ahead of the wall clock, ms. Default 1 hour:
   * the broker's own default bound on record timestamps
   * (`log.message.timestamp.after.max.ms`, Kafka 4), so what Kafka accepts
   * as a record timestamp is accepted here too, and device clock skew passes.
   */
  maxFutureMs: number;
}

/** 365 days behind, 1 hour ahead: see {@link EventTimeWindow}. */
export const DEFAULT_EVENT_TIME_WINDOW: Readonly<EventTimeWindow> = Object.freeze({ maxAgeMs: 365 * DAY, maxFutureMs: HOUR });

/**
 * The window with defaults filled in.
 * @throws ConfigError when `maxAgeMs` is not a number > 0 or `maxFutureMs` not a number ≥ 0 (`names` gives the option names to cite).
 */
export function eventTimeWindow(
  partial: Partial<EventTimeWindow> = {},
  names: Record<keyof EventTimeWindow, string> = { maxAgeMs: 'maxAgeMs', maxFutureMs: 'maxFutureMs' },
): EventTimeWindow {
  const w = { ...DEFAULT_EVENT_TIME_WINDOW, ...partial };
  if (typeof w.maxAgeMs !== 'number' || !(w.maxAgeMs > 0)) {
    throw new ConfigError(`${names.maxAgeMs} must be a number of ms > 0 (Infinity: no bound), got '${String(w.maxAgeMs)}'`);
  }
  if (typeof w.maxFutureMs !== 'number' || !(w.maxFutureMs >= 0)) {
    throw new ConfigError(`${names.maxFutureMs} must be a number of ms ≥ 0, got '${String(w.maxFutureMs)}'`);
  }
  return w;
}

/** The problem with an event's timestamp that needs no clock, or undefined. */
export function timestampProblem(timestamp: number): string | undefined {
  return Number.isSafeInteger(timestamp) && timestamp >= 0 ? undefined : `timestamp must be a non-negative integer (epoch milliseconds), got ${timestamp}`;
}

/**
 * Refuses an event whose time lies outside `window` around `now`.
 * @throws EventTimeError naming the event, its time, the bound it broke and what to do.
 */
export function checkEventTime(event: { eventId: string; userId: string; timestamp: number }, now: number, window: EventTimeWindow): void {
  const { timestamp } = event;
  // Every event passes through here: the message is built only for one that is refused.
  if (timestamp - now > window.maxFutureMs) {
    throw new EventTimeError(
      `${describeEvent(event)}, ${duration(timestamp - now)} ahead of the wall clock (${iso(now)}); events more than ${duration(window.maxFutureMs)} ahead are refused, ` +
        "since the user's state would follow that time and weigh every later event down to nothing. " +
        'Fix the producer: its clock, or the unit (epoch milliseconds, not microseconds); or raise --opt max-event-future-ms.',
    );
  }
  if (now - timestamp > window.maxAgeMs) {
    throw new EventTimeError(
      `${describeEvent(event)}, ${duration(now - timestamp)} older than the wall clock (${iso(now)}); events older than ${duration(window.maxAgeMs)} are refused. ` +
        'Fix the producer if the timestamp is in seconds or 0 (both read as 1970; send epoch milliseconds); ' +
        'to replay older history, raise --opt max-event-age-ms.',
    );
  }
}

function describeEvent(event: { eventId: string; userId: string; timestamp: number }): string {
  return `event '${event.eventId}' of user '${event.userId}' has timestamp ${event.timestamp} (${iso(event.timestamp)})`;
}

function iso(ms: number): string {
  const d = new Date(ms);
  return Number.isNaN(d.getTime()) ? 'not a representable date' : d.toISOString();
}

/** A length of time, exact in ms and, from a minute on, roughly in whole days, hours or minutes. */
function duration(ms: number): string {
  if (ms >= DAY) return `${ms} ms (${plural(Math.floor(ms / DAY), 'day')})`;
  if (ms >= HOUR) return `${ms} ms (${Math.floor(ms / HOUR)} h)`;
  if (ms >= MINUTE) return `${ms} ms (${Math.floor(ms / MINUTE)} min)`;
  return `${ms} ms`;
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
