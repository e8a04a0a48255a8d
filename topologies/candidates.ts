/**
 * Recommendation candidates (docs/CONTRACTS.md "Candidates"), off the update path: the
 * user-vectors topology writes a request per user-vector change; this topology,
 * its own consumer group, answers them with top-K lists at its own pace. A
 * participating topology of the doorman: a snapshot activates only once its
 * index is built here too.
 */
import { avro, Groupings, StringSerde, TopologyBuilder, type Topology } from '../src';
import { ConfigError } from '../src/errors';
import { typedJsonSerde } from '../src/runtime/serde/typed-json';
import { CANDIDATES_EF_SEARCH, type ExcludePolicy } from '../src/vectors/candidate-search';
import { refreshPolicy, type CandidateMark, type RefreshPolicy } from '../src/vectors/candidate-refresh';
import { loadSchema, Topics } from '../src/vectors/contracts';
import { checkEfSearch } from '../src/vectors/index/ann-index';
import type { CandidateRequest } from '../src/vectors/records';
import type { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import { CandidatesBolt, wholeConsumedSerde } from './bolts/candidates-bolt';
import { REPORTS_STREAM } from './bolts/snapshot-follower';

export interface CandidatesTopologyOptions {
  catalog: SnapshotCatalog;
  /** Topology name, consumer group and doorman member. Default `candidates`. */
  name?: string;
  /** List length. Default 100. */
  k?: number;
  /** What lists leave out besides banned entities: every consumed entity (default), the recent ones, or none. */
  exclude?: ExcludePolicy;
  /**
   * HNSW search effort of candidate refreshes, widened by one per excluded
   * entity (`searchCandidates`). Default CANDIDATES_EF_SEARCH (100); recall in
   * docs/BENCHMARKS.md, "ANN index".
   */
  efSearch?: number;
  /** When a user's list is recomputed; defaults in DEFAULT_REFRESH_POLICY (minIntervalMs 5000). */
  refresh?: Partial<RefreshPolicy>;
  /** Topic names (default: docs/CONTRACTS.md's); tests use unique ones. */
  topics?: Partial<Record<'candidateRequests' | 'control' | 'candidates', string>>;
}

const requestProblem = (key: string, r: CandidateRequest | null) =>
  r === null
    ? 'a null value (tombstone) is not a candidate request'
    : r.userId !== key
      ? `userId '${r.userId}' differs from the record key '${key}'; key requests by userId`
      : undefined;

/** @throws ConfigError on an option out of range (k, efSearch, refresh). */
export function candidates(o: CandidatesTopologyOptions): Topology {
  const name = o.name ?? 'candidates';
  const t = { candidateRequests: Topics.candidateRequests, control: Topics.snapshotControl, candidates: Topics.candidates, ...o.topics };
  const k = o.k ?? 100;
  if (!Number.isInteger(k) || k < 1) throw new ConfigError(`candidates option k must be a positive integer, got ${k}`);
  const efSearch = o.efSearch ?? CANDIDATES_EF_SEARCH;
  checkEfSearch(efSearch);
  const refresh = refreshPolicy(o.refresh);
  // Store `consumed`: the last whole consumed set per user, from writers that send it in every N-th request only (CandidateRequest.consumedEvery).
  // Store `marks`: a mark holds the list's vector (and a deferred request's); 500 per task took ~40–90 MiB off the
  // process's switch peak against 2,500, at no cost to the catch-up rate (docs/BENCHMARKS.md, "Memory").
  return new TopologyBuilder(name)
    .spout('requests', {
      topic: t.candidateRequests,
      value: avro<CandidateRequest>(loadSchema('CandidateRequest')),
      keyedBy: 'userId',
      validate: requestProblem,
    })
    .spout('control', { topic: t.control, value: avro(loadSchema('SnapshotControl')) })
    .store('marks', { key: StringSerde, value: typedJsonSerde<CandidateMark>(), cacheEntries: 500 })
    .store('consumed', { key: StringSerde, value: wholeConsumedSerde, cacheEntries: 250 })
    .bolt('candidates', () => new CandidatesBolt({ catalog: o.catalog, k, efSearch, refresh, ...(o.exclude ? { exclude: o.exclude } : {}) }), {
      inputs: [
        { from: 'requests', grouping: Groupings.fields('userId') },
        { from: 'control', grouping: Groupings.all() },
      ],
      stores: ['marks', 'consumed'],
      outputs: { default: { keyedBy: 'userId' }, [REPORTS_STREAM]: {} },
    })
    .sink('candidates-out', { topic: t.candidates, from: 'candidates', value: avro(loadSchema('Candidates')) })
    .sink('reports', { topic: t.control, from: 'candidates', stream: REPORTS_STREAM, value: avro(loadSchema('SnapshotControl')) })
    .build();
}
