/**
 * Ranking metrics per user, and bootstrap intervals over users.
 */
import { SeededRandom } from '../src/vectors/synthetic/random';

export const METRICS = ['recall@10', 'recall@50', 'ndcg@50'] as const;
export type MetricName = (typeof METRICS)[number];

/** Longest list any metric reads. */
export const LIST_LENGTH = 50;

/**
 * recall@k = |top k ∩ T| / |T| (T the user's test items; not capped at k, so
 * a user with more than k test items cannot reach 1), and NDCG@50 with binary
 * gains, normalised by the ideal ranking of min(|T|, 50) hits.
 */
export function userMetrics(list: readonly string[], test: ReadonlySet<string>): Record<MetricName, number> {
  let hits10 = 0;
  let hits50 = 0;
  let dcg = 0;
  for (let r = 0; r < Math.min(list.length, LIST_LENGTH); r++) {
    if (!test.has(list[r]!)) continue;
    if (r < 10) hits10++;
    hits50++;
    dcg += 1 / Math.log2(r + 2);
  }
  let idcg = 0;
  for (let r = 0; r < Math.min(test.size, LIST_LENGTH); r++) idcg += 1 / Math.log2(r + 2);
  return { 'recall@10': hits10 / test.size, 'recall@50': hits50 / test.size, 'ndcg@50': idcg === 0 ? 0 : dcg / idcg };
}

export type Interval = [number, number];

export function mean(xs: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < xs.length; i++) s += xs[i]!;
  return xs.length === 0 ? NaN : s / xs.length;
}

/**
 * Resamples users with replacement `rounds` times; the same resamples
 * (from `seed`) for every call with the same user count, so intervals of
 * different methods and their paired differences use identical draws.
 */
export class Bootstrap {
  private readonly draws: Int32Array[] = [];

  constructor(
    readonly users: number,
    readonly rounds: number,
    seed: number,
  ) {
    const random = new SeededRandom(seed);
    for (let b = 0; b < rounds; b++) this.draws.push(Int32Array.from({ length: users }, () => random.int(users)));
  }

  /** The 2.5% and 97.5% percentiles of the mean of `values` (one per user) over the resamples. */
  interval(values: ArrayLike<number>): Interval {
    if (values.length !== this.users) throw new RangeError(`bootstrap over ${this.users} users got ${values.length} values`);
    const means = this.draws.map((draw) => {
      let s = 0;
      for (let i = 0; i < draw.length; i++) s += values[draw[i]!]!;
      return s / draw.length;
    });
    means.sort((a, b) => a - b);
    const at = (q: number) => means[Math.min(means.length - 1, Math.max(0, Math.round(q * (means.length - 1))))]!;
    return [at(0.025), at(0.975)];
  }

  /** Mean and interval of the paired difference `a − b` per user. */
  difference(a: ArrayLike<number>, b: ArrayLike<number>): { mean: number; ci95: Interval } {
    const d = Float64Array.from({ length: a.length }, (_, i) => a[i]! - b[i]!);
    return { mean: mean(d), ci95: this.interval(d) };
  }
}
