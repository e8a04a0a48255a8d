/**
 * Realtime user vectors (docs/CONTRACTS.md): listens and feedback keyed by user, the
 * doorman's log broadcast to every task. Every change goes out as a user
 * vector and as a candidate request, which the candidates topology answers
 * off this update path.
 */
import { avro, Groupings, StringSerde, TopologyBuilder, type Topology } from '../src';
import { loadSchema, Topics } from '../src/vectors/contracts';
import { eventTimeWindow, timestampProblem, type EventTimeWindow } from '../src/vectors/event-time';
import type { FeedbackEvent, ListenEvent } from '../src/vectors/records';
import type { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import type { SignalWeights } from '../src/vectors/signals';
import { userStateSerde } from '../src/vectors/user-state-serde';
import { RECENT_CONSUMED } from '../src/vectors/user-state';
import { ConfigError } from '../src/errors';
import { REPORTS_STREAM } from './bolts/snapshot-follower';
import { UserStateBolt } from './bolts/user-state-bolt';

export interface UserVectorsOptions {
  catalog: SnapshotCatalog;
  name?: string;
  weights?: SignalWeights;
  /** Interactions kept per user to recompute the vector in a new snapshot (default DEFAULT_HISTORY_CAPACITY). */
  historyCapacity?: number;
  /** Bound of each user's consumed set, for candidates under exclude=consumed (default DEFAULT_CONSUMED_CAPACITY). */
  consumedCapacity?: number;
  /**
   * How often a candidate request carries the user's whole consumed set
   * (up to 40 KiB): 1 (default) in every request; N in 2..RECENT_CONSUMED,
   * only when the version is 1 modulo N, and the candidates topology keeps
   * the last one per user (CandidateRequest.consumedEvery). Fewer bytes per
   * update for users who consumed much; a candidates consumer that starts
   * from the latest requests excludes only the recent entities of a user
   * until that user's next whole set.
   * @throws ConfigError (from `userVectors`) for a value out of range.
   */
  consumedEvery?: number;
  /**
   * Event times accepted, around the wall clock (default: at most 365 days
   * old, at most 1 hour ahead; see {@link EventTimeWindow}). An event outside
   * goes to the dead-letter topic with code VEC_ERR_EVENT_TIME.
   * @throws ConfigError (from `userVectors`) for a bound that is not a number in range.
   */
  eventTime?: Partial<EventTimeWindow>;
  /** Topic names (default: docs/CONTRACTS.md's); tests use unique ones. */
  topics?: Partial<Record<'listens' | 'feedback' | 'control' | 'userVectors' | 'candidateRequests', string>>;
}

// The event-time window needs the wall clock, which validate has not: UserStateBolt checks it.
const eventProblem = (key: string, e: { userId: string; entityId: string; timestamp: number } | null) =>
  e === null
    ? 'a null value (tombstone) is not an event'
    : e.userId === ''
      ? 'userId is empty: every event must name its user; key it by that userId'
      : e.userId !== key
        ? `userId '${e.userId}' differs from the record key '${key}'; key events by userId`
        : e.entityId === ''
          ? 'entityId is empty'
          : timestampProblem(e.timestamp);

export function userVectors(o: UserVectorsOptions): Topology {
  const name = o.name ?? 'user-vectors';
  const consumedEvery = o.consumedEvery ?? 1;
  if (!Number.isInteger(consumedEvery) || consumedEvery < 1 || consumedEvery > RECENT_CONSUMED) {
    throw new ConfigError(
      `user-vectors option consumedEvery must be an integer from 1 to ${RECENT_CONSUMED} (the recent entities cover the gap), got ${consumedEvery}`,
    );
  }
  const eventTime = eventTimeWindow(o.eventTime, { maxAgeMs: 'eventTime.maxAgeMs', maxFutureMs: 'eventTime.maxFutureMs' });
  const t = {
    listens: Topics.listens,
    feedback: Topics.feedback,
    control: Topics.snapshotControl,
    userVectors: Topics.userVectors,
    candidateRequests: Topics.candidateRequests,
    ...o.topics,
  };
  return (
    new TopologyBuilder(name)
      .spout('listens', { topic: t.listens, value: avro<ListenEvent>(loadSchema('ListenEvent')), keyedBy: 'userId', validate: eventProblem })
      .spout('feedback', { topic: t.feedback, value: avro<FeedbackEvent>(loadSchema('FeedbackEvent')), keyedBy: 'userId', validate: eventProblem })
      .spout('control', { topic: t.control, value: avro(loadSchema('SnapshotControl')) })
      // A cached user is its serialized state (about 1.1 KiB for a light listener, up to 38 KiB for the heaviest): 500 a task.
      // 2,500 took ~100 MiB more at the switch's peak and was no faster (docs/BENCHMARKS.md, "Memory").
      // Binary (user-state-serde.ts): about half the changelog bytes of typed JSON; states written as JSON before still restore.
      // Read ahead: a batch's users in one RocksDB multi-get (about 15% less processing per event at 5,000/s, "Session 14").
      .store('users', { key: StringSerde, value: userStateSerde(), cacheEntries: 500, prefetch: ['listens', 'feedback'] })
      .bolt(
        'user-state',
        () =>
          new UserStateBolt({
            catalog: o.catalog,
            eventTime,
            ...(o.weights ? { weights: o.weights } : {}),
            ...(o.historyCapacity ? { historyCapacity: o.historyCapacity } : {}),
            ...(o.consumedCapacity ? { consumedCapacity: o.consumedCapacity } : {}),
            consumedEvery,
          }),
        {
          inputs: [
            { from: 'listens', grouping: Groupings.fields('userId') },
            { from: 'feedback', grouping: Groupings.fields('userId') },
            { from: 'control', grouping: Groupings.all() },
          ],
          stores: ['users'],
          outputs: { 'user-vectors': { keyedBy: 'userId' }, updates: { keyedBy: 'userId' }, [REPORTS_STREAM]: {} },
        },
      )
      .sink('user-vectors-out', { topic: t.userVectors, from: 'user-state', stream: 'user-vectors', value: avro(loadSchema('UserVector')) })
      .sink('candidate-requests-out', { topic: t.candidateRequests, from: 'user-state', stream: 'updates', value: avro(loadSchema('CandidateRequest')) })
      .sink('reports', { topic: t.control, from: 'user-state', stream: REPORTS_STREAM, value: avro(loadSchema('SnapshotControl')) })
      .build()
  );
}
