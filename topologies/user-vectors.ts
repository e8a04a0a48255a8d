/**
 * Realtime user vectors and recommendation candidates (DESIGN.md): listens and
 * feedback keyed by user, the doorman's log broadcast to every task.
 */
import { avro, Groupings, StringSerde, TopologyBuilder, type Topology } from '../src';
import { typedJsonSerde } from '../src/runtime/serde/typed-json';
import { loadSchema, Topics } from '../src/vectors/contracts';
import type { FeedbackEvent, ListenEvent } from '../src/vectors/records';
import type { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import type { SignalWeights } from '../src/vectors/signals';
import type { UserState } from '../src/vectors/user-state';
import { CandidatesBolt, type CandidateMark, type CandidatesOptions } from './bolts/candidates-bolt';
import { UserStateBolt } from './bolts/user-state-bolt';

export interface UserVectorsOptions {
  catalog: SnapshotCatalog;
  name?: string;
  weights?: SignalWeights;
  historyCapacity?: number;
  candidates?: Omit<CandidatesOptions, 'catalog'>;
  /** Topic names (default: DESIGN.md's); tests use unique ones. */
  topics?: Partial<Record<'listens' | 'feedback' | 'control' | 'userVectors' | 'candidates', string>>;
}

const eventProblem = (key: string, e: { userId: string; entityId: string } | null) =>
  e === null ? 'a null value (tombstone) is not an event'
  : e.userId !== key ? `userId '${e.userId}' differs from the record key '${key}'; key events by userId`
  : e.entityId === '' ? 'entityId is empty'
  : undefined;

export function userVectors(o: UserVectorsOptions): Topology {
  const name = o.name ?? 'user-vectors';
  const t = { listens: Topics.listens, feedback: Topics.feedback, control: Topics.snapshotControl, userVectors: Topics.userVectors, candidates: Topics.candidates, ...o.topics };
  return new TopologyBuilder(name)
    .spout('listens', { topic: t.listens, value: avro<ListenEvent>(loadSchema('ListenEvent')), keyedBy: 'userId', validate: eventProblem })
    .spout('feedback', { topic: t.feedback, value: avro<FeedbackEvent>(loadSchema('FeedbackEvent')), keyedBy: 'userId', validate: eventProblem })
    .spout('control', { topic: t.control, value: avro(loadSchema('SnapshotControl')) })
    .store('users', { key: StringSerde, value: typedJsonSerde<UserState>() })
    .store('marks', { key: StringSerde, value: typedJsonSerde<CandidateMark>() })
    .bolt('user-state', () => new UserStateBolt({ catalog: o.catalog, topology: name, ...(o.weights ? { weights: o.weights } : {}), ...(o.historyCapacity ? { historyCapacity: o.historyCapacity } : {}) }), {
      inputs: [
        { from: 'listens', grouping: Groupings.fields('userId') },
        { from: 'feedback', grouping: Groupings.fields('userId') },
        { from: 'control', grouping: Groupings.all() },
      ],
      stores: ['users'],
      outputs: { 'user-vectors': { keyedBy: 'userId' }, updates: { keyedBy: 'userId' }, control: {} },
    })
    .bolt('candidates', () => new CandidatesBolt({ catalog: o.catalog, ...o.candidates }), {
      inputs: [{ from: 'user-state', stream: 'updates', grouping: Groupings.fields('userId') }],
      stores: ['marks'],
    })
    .sink('user-vectors-out', { topic: t.userVectors, from: 'user-state', stream: 'user-vectors', value: avro(loadSchema('UserVector')) })
    .sink('candidates-out', { topic: t.candidates, from: 'candidates', value: avro(loadSchema('Candidates')) })
    .sink('reports', { topic: t.control, from: 'user-state', stream: 'control', value: avro(loadSchema('SnapshotControl')) })
    .build();
}
