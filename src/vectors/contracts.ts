import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Topic names of docs/CONTRACTS.md. */
export const Topics = {
  listens: 'listens',
  feedback: 'feedback',
  snapshotControl: 'snapshot-control',
  userVectors: 'user-vectors',
  candidates: 'recommendation-candidates',
  /** User-vector changes, from the user-vectors topology to the candidates topology. */
  candidateRequests: 'candidate-requests',
  /** One topic per snapshot: reading it in full loads the snapshot, deleting it retires it. */
  entityVectors: (snapshotId: string) => `entity-vectors.${snapshotId}`,
  /** A snapshot's batch user factors, partitioned like the user topics; deleted with the snapshot. */
  userFactors: (snapshotId: string) => `user-factors.${snapshotId}`,
} as const;

/** Record types with a schema in `schemas/<Name>.avsc`. */
export type SchemaName = 'ListenEvent' | 'FeedbackEvent' | 'EntityVector' | 'UserFactor' | 'UserVector' | 'Candidates' | 'CandidateRequest' | 'SnapshotControl';

function findSchemasDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'schemas');
    if (existsSync(join(candidate, 'ListenEvent.avsc'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`schemas/ folder not found above ${__dirname}`);
}

const SCHEMAS_DIR = findSchemasDir();

/** The Avro schema text of a record type. */
export function loadSchema(name: SchemaName): string {
  return readFileSync(join(SCHEMAS_DIR, `${name}.avsc`), 'utf8');
}

/** The registry subject of a topic's values (TopicNameStrategy). */
export const valueSubject = (topic: string): string => `${topic}-value`;

/** Which schema each fixed topic carries. */
export const TopicSchemas: Record<string, SchemaName> = {
  [Topics.listens]: 'ListenEvent',
  [Topics.feedback]: 'FeedbackEvent',
  [Topics.snapshotControl]: 'SnapshotControl',
  [Topics.userVectors]: 'UserVector',
  [Topics.candidates]: 'Candidates',
  [Topics.candidateRequests]: 'CandidateRequest',
};

/** The schema of an entity-vectors topic, whatever its snapshot. */
export const ENTITY_VECTORS_SCHEMA: SchemaName = 'EntityVector';

export interface CoreTopicOptions {
  /** Partitions of the keyed topics; all of them must match for co-partitioning. Default 12. */
  partitions?: number;
  replicationFactor?: number;
}

/** The fixed topics of docs/CONTRACTS.md with their layout. */
export function coreTopicSpecs(options: CoreTopicOptions = {}) {
  const partitions = options.partitions ?? 12;
  const rf = options.replicationFactor ?? 1;
  return [
    { name: Topics.listens, partitions, replicationFactor: rf },
    { name: Topics.feedback, partitions, replicationFactor: rf },
    { name: Topics.userVectors, partitions, replicationFactor: rf, config: { 'cleanup.policy': 'compact' } },
    { name: Topics.candidates, partitions, replicationFactor: rf },
    // Keyed by userId like listens: the candidates topology's tasks line up with user-vectors' partitions.
    { name: Topics.candidateRequests, partitions, replicationFactor: rf },
    // One partition: the doorman's log must be totally ordered.
    { name: Topics.snapshotControl, partitions: 1, replicationFactor: rf, config: { 'cleanup.policy': 'compact' } },
  ];
}

/** Subjects and schemas of the fixed topics. */
export function coreSubjects() {
  return Object.entries(TopicSchemas).map(([topic, name]) => ({ subject: valueSubject(topic), schema: loadSchema(name) }));
}
