import { ConfigError } from '../errors';
import { cosine, norm } from './math';
import type { CandidateRequest } from './records';

/** The last candidate list computed for a user: what the next request is compared with. */
export interface CandidateMark {
  snapshotId: string;
  /** The user vector the list was computed from. */
  vector: Float32Array;
  /** The request's version (the user state's version) the list was computed for. */
  version: number;
  /** Event time of that request, epoch ms. */
  at: number;
  /**
   * The latest request that came too soon after the list (rate limit), kept
   * so that it is answered once minIntervalMs has passed even if the user
   * sends nothing more (the trailing edge); `since` is the wall-clock time it
   * was deferred.
   */
  pending?: { request: CandidateRequest; since: number };
}

/** When a user's candidate list is recomputed (docs/CONTRACTS.md "Candidates": when the vector moved enough or time passed, not on every event). */
export interface RefreshPolicy {
  /** The vector moved enough when its cosine to the last list's vector is below 1 − minMove. */
  minMove: number;
  /** A list older than this (event time, ms) is recomputed even if the vector did not move. */
  maxAgeMs: number;
  /**
   * At most one list per user in this much event time (ms), however much the
   * vector moves, except when the bans or the snapshot changed: it bounds the
   * ANN searches a very active user can cost.
   */
  minIntervalMs: number;
}

export const DEFAULT_REFRESH_POLICY: Readonly<RefreshPolicy> = { minMove: 0.01, maxAgeMs: 3_600_000, minIntervalMs: 5000 };

/**
 * The policy with defaults for what is not given.
 * @throws ConfigError naming an option that is not a finite number ≥ 0 (minMove also ≤ 2, the largest cosine distance).
 */
export function refreshPolicy(options: Partial<RefreshPolicy> = {}): RefreshPolicy {
  const p = { ...DEFAULT_REFRESH_POLICY, ...options };
  for (const key of ['minMove', 'maxAgeMs', 'minIntervalMs'] as const) {
    if (!Number.isFinite(p[key]) || p[key] < 0) throw new ConfigError(`candidates option ${key} must be a finite number ≥ 0, got ${p[key]}`);
  }
  if (p.minMove > 2) throw new ConfigError(`candidates option minMove must be at most 2 (cosine distance), got ${p.minMove}`);
  return p;
}

/**
 * What to do with a request:
 * - `refresh`: compute a new list;
 * - `stale`: the last list was computed for this version or a later one in the
 *   same snapshot (a redelivered or replayed request);
 * - `no-direction`: the vector is zero, nothing is similar to it;
 * - `too-soon`: less than minIntervalMs since the last list;
 * - `unchanged`: the vector did not move enough and the list is not old enough.
 */
export type RefreshDecision = 'refresh' | 'stale' | 'no-direction' | 'too-soon' | 'unchanged';

/**
 * Decides whether `request` earns a new list, given the user's last `mark`.
 * A first list, a new snapshot and a change of bans (`force`) always do;
 * otherwise the vector must have moved more than minMove, or the list be
 * maxAgeMs old, and minIntervalMs must have passed.
 *
 * A version at or below the mark's counts as stale only in the mark's own
 * snapshot: after a switch, a replayed request in the new snapshot still
 * replaces a list of the old one.
 */
export function refreshDecision(
  request: Pick<CandidateRequest, 'snapshotId' | 'vector' | 'version' | 'at' | 'force'>,
  mark: CandidateMark | undefined,
  policy: RefreshPolicy,
): RefreshDecision {
  const sameSnapshot = mark !== undefined && mark.snapshotId === request.snapshotId;
  if (sameSnapshot && request.version <= mark.version) return 'stale';
  if (norm(request.vector) === 0) return 'no-direction';
  if (!sameSnapshot || request.force) return 'refresh';
  const age = request.at - mark.at;
  if (age < policy.minIntervalMs) return 'too-soon';
  if (age >= policy.maxAgeMs || cosine(mark.vector, request.vector) < 1 - policy.minMove) return 'refresh';
  return 'unchanged';
}
