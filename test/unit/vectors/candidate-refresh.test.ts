import { ConfigError } from '../../../src/errors';
import { DEFAULT_REFRESH_POLICY, refreshDecision, refreshPolicy, type CandidateMark, type RefreshDecision } from '../../../src/vectors/candidate-refresh';

const v = (...xs: number[]) => Float32Array.from(xs);
const mark: CandidateMark = { snapshotId: 's1', vector: v(1, 0), version: 10, at: 100_000 };
const policy = refreshPolicy({ minMove: 0.01, maxAgeMs: 60_000, minIntervalMs: 5000 });
// cos(0.2 rad) ≈ 0.980: moved by more than minMove; cos(0.1 rad) ≈ 0.995: not.
const turned = (rad: number) => v(Math.cos(rad), Math.sin(rad));

describe('refreshDecision', () => {
  const cases: [
    string,
    { snapshotId?: string; vector?: Float32Array; version?: number; at?: number; force?: boolean },
    CandidateMark | undefined,
    RefreshDecision,
  ][] = [
    ['the first request of a user', {}, undefined, 'refresh'],
    ['a zero vector', { vector: v(0, 0) }, undefined, 'no-direction'],
    ['a new snapshot, 1 ms after the last list', { snapshotId: 's2', at: 100_001 }, mark, 'refresh'],
    ['a new snapshot at a version already listed in the old one', { snapshotId: 's2', version: 9 }, mark, 'refresh'],
    ['changed bans, 1 ms after the last list', { force: true, at: 100_001 }, mark, 'refresh'],
    ['the version of the last list', { version: 10, force: true, at: 999_999 }, mark, 'stale'],
    ['an older version', { version: 3, vector: turned(1) }, mark, 'stale'],
    ['a vector that moved, 4,999 ms after the last list', { vector: turned(0.2), at: 104_999 }, mark, 'too-soon'],
    ['a vector that moved, 5,000 ms after the last list', { vector: turned(0.2), at: 105_000 }, mark, 'refresh'],
    ['a vector that barely moved, 59 s after the last list', { vector: turned(0.1), at: 159_999 }, mark, 'unchanged'],
    ['a vector that barely moved, maxAgeMs after the last list', { vector: turned(0.1), at: 160_000 }, mark, 'refresh'],
    ['an event time before the last list', { vector: turned(1), at: 50_000 }, mark, 'too-soon'],
  ];
  it.each(cases)('%s → %s', (_what, r, m, expected) => {
    const request = { snapshotId: 's1', vector: v(1, 0), version: 11, at: 100_000, force: false, ...r };
    expect(refreshDecision(request, m, policy)).toBe(expected);
  });

  it('refreshes on every move when minIntervalMs is 0', () => {
    const eager = refreshPolicy({ minIntervalMs: 0 });
    expect(refreshDecision({ snapshotId: 's1', vector: turned(0.2), version: 11, at: mark.at, force: false }, mark, eager)).toBe('refresh');
  });
});

describe('refreshPolicy', () => {
  it('fills in the defaults', () => {
    expect(refreshPolicy()).toEqual(DEFAULT_REFRESH_POLICY);
    expect(refreshPolicy({ minIntervalMs: 0 })).toEqual({ ...DEFAULT_REFRESH_POLICY, minIntervalMs: 0 });
  });

  it.each([
    [{ minMove: -0.1 }, /minMove must be a finite number ≥ 0, got -0.1/],
    [{ minMove: 3 }, /minMove must be at most 2 \(cosine distance\), got 3/],
    [{ maxAgeMs: Number.POSITIVE_INFINITY }, /maxAgeMs must be a finite number ≥ 0, got Infinity/],
    [{ minIntervalMs: Number.NaN }, /minIntervalMs must be a finite number ≥ 0, got NaN/],
  ])('refuses %p with a ConfigError', (options, message) => {
    expect(() => refreshPolicy(options)).toThrow(ConfigError);
    expect(() => refreshPolicy(options)).toThrow(message);
  });
});
