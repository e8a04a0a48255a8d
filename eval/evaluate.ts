/**
 * The evaluation: every method on every protocol of one dataset, with
 * per-user metrics, bootstrap intervals and paired differences to the stale
 * batch model.
 */
import { SeededRandom } from '../src/vectors/synthetic/random';
import { FoldInModel, gramMatrix } from '../src/vectors/models/fold-in';
import type { LifetimeVariant } from '../src/vectors/models/lifetime';
import { buildInteractions, trainAls, type AlsModel } from './als';
import { byTime, type Dataset, type EvalEvent } from './data';
import {
  alsMatrix,
  batchUserVector,
  exactIndex,
  fromOrder,
  lifetimeVectors,
  popularityOrder,
  randomList,
  vectorList,
  type LifetimeSetting,
  type MethodName,
  type UserContext,
} from './methods';
import { Bootstrap, mean, METRICS, userMetrics, type Interval, type MetricName } from './metrics';
import { globalSplit, perUserSplit, type ProtocolName, type Split } from './protocols';
import { runLifetime, runRealtime, type RealtimeFeed } from './realtime';

export interface AlsParams {
  factors: number;
  lambda: number;
  alpha: number;
  iterations: number;
}

export interface EvalConfig {
  dataset: Dataset;
  als: AlsParams;
  seed: number;
  /** Bootstrap resamples. */
  bootstrap: number;
  protocols: readonly ProtocolName[];
  /** λₚ values and variants the lifetime model is chosen among, on a held-out split. */
  priorWeights: readonly number[];
  lifetimeVariants: readonly LifetimeVariant[];
  /** Also train the batch models with negative interactions (two more trainings per protocol). */
  batchWithNegatives: boolean;
  /** Decay time constant of the realtime decayed model (the product's default when undefined). */
  tauMs?: number;
  log?: (line: string) => void;
}

/** One method's figures on one protocol. */
export interface MethodRow {
  dataset: string;
  protocol: ProtocolName;
  /** The base name, or `<base>/<variant>` for a variant row. */
  method: string;
  base: MethodName;
  variant: 'with-negatives' | 'no-negatives' | 'stream-only' | null;
  /** Whether negative signals (skips, dislikes; bans) reached the method. */
  negatives: 'used' | 'dropped' | 'n/a';
  users: number;
  'recall@10': number;
  'recall@50': number;
  'ndcg@50': number;
  ci95: Record<MetricName, Interval>;
  /** Paired difference to stale-batch over the same users (this − stale-batch). */
  vsStaleBatch: Record<'recall@50' | 'ndcg@50', { mean: number; ci95: Interval }> | null;
  /** Users who got the popularity list because the method gave them no vector (missing or zero). */
  fallbacks: number;
  note?: string;
}

export interface LifetimeChoice extends LifetimeSetting {
  /** How it was chosen. */
  on: string;
  /** recall@50 of every setting tried on the held-out split. */
  grid: { variant: LifetimeVariant; priorWeight: number; 'recall@50': number }[];
  /**
   * Users without new events, on the held-out split: recall@50 of x₀ (what
   * the model answers them) and of the ridge formula without events,
   * (YᵀY + λₚI)⁻¹λₚx₀, at the best ridge λₚ.
   */
  idle: { priorWeight: number; x0: number; ridgeFormula: number };
}

/** A paired difference between two methods over the same users (a − b). */
export interface PairedDifference {
  a: string;
  b: string;
  metric: 'recall@50' | 'ndcg@50';
  mean: number;
  ci95: Interval;
}

/** The comparisons the reading of the results rests on, beyond each method against stale-batch. */
export const PAIRS: readonly [string, string][] = [
  ['lifetime-realtime', 'ideal-batch'],
  ['realtime-fold-in', 'ideal-batch'],
  ['realtime-decayed', 'ideal-batch'],
  ['lifetime-realtime', 'realtime-fold-in'],
  ['lifetime-realtime', 'realtime-fold-in/stream-only'],
  ['realtime-fold-in', 'realtime-fold-in/stream-only'],
  ['realtime-decayed', 'realtime-decayed/no-negatives'],
  ['realtime-fold-in', 'realtime-fold-in/no-negatives'],
];

export interface ProtocolReport {
  protocol: ProtocolName;
  description: string;
  /** Users evaluated. */
  users: number;
  /** Users with enough training events (evaluated or not: those without a test item are not). */
  trainedUsers: number;
  events: { training: number; stream: number; test: number };
  testItemsPerUser: number;
  rows: MethodRow[];
  /** {@link PAIRS} on recall@50 and NDCG@50. */
  pairs: PairedDifference[];
  /**
   * Users without a stream event: the lifetime vector is their stale batch
   * vector, so their lifetime-realtime list must be the stale-batch list
   * (both with negatives dropped, so bans are the same): how many are.
   */
  quiet: { users: number; sameListAsStale: number };
  timings: Record<string, number>;
}

export interface EvalReport {
  dataset: string;
  mapping: string;
  events: number;
  config: { als: AlsParams; seed: number; bootstrap: number; tauMs: number | null };
  lifetime: LifetimeChoice;
  protocols: ProtocolReport[];
  seconds: number;
}

const SNAPSHOT_ID = 'eval-stale';

/** Per-user lists of one method (undefined: the method had no vector for the user). */
type Lists = Map<string, string[] | undefined>;

export async function runEvaluation(config: EvalConfig): Promise<EvalReport> {
  const started = performance.now();
  const log = config.log ?? (() => {});
  const { dataset } = config;
  const train = (events: readonly EvalEvent[], negatives: boolean) => trainAls(buildInteractions(events, { negatives }), { ...config.als, seed: config.seed });

  // λₚ and the variant are chosen once per dataset on a split held out from every protocol's test: the per-user protocol's pre-test events, split again.
  const t0 = performance.now();
  const lifetime = chooseLifetime(perUserSplit(dataset.events), config, train);
  log(`lifetime setting: ${lifetime.variant}, λₚ = ${lifetime.priorWeight} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const protocols: ProtocolReport[] = [];
  for (const name of config.protocols) {
    const split = name === 'per-user' ? perUserSplit(dataset.events) : globalSplit(dataset.events);
    log(`${dataset.name} ${name}: ${split.users.length} users; ${split.description}`);
    protocols.push(await evaluateSplit(split, config, lifetime, train, log));
  }
  return {
    dataset: dataset.name,
    mapping: dataset.mapping,
    events: dataset.events.length,
    config: { als: config.als, seed: config.seed, bootstrap: config.bootstrap, tauMs: config.tauMs ?? null },
    lifetime,
    protocols,
    seconds: (performance.now() - started) / 1000,
  };
}

function contexts(split: Split, negatives = true): Map<string, UserContext> {
  return new Map(split.users.map((u) => [u, { userId: u, seen: split.seen.get(u)!, banned: negatives ? split.banned.get(u)! : [] }]));
}

/**
 * Chooses the lifetime model's variant and λₚ by recall@50 on a held-out
 * split: each user's training and stream events (never the test), split again
 * 70/15/15 per user, with its own batch model.
 */
function chooseLifetime(outer: Split, config: EvalConfig, train: (e: readonly EvalEvent[], negatives: boolean) => AlsModel): LifetimeChoice {
  const inner = perUserSplit(byTime([...outer.training, ...outer.stream]));
  const stale = train(inner.training, false);
  const matrix = alsMatrix(stale, 'eval-validation');
  const index = exactIndex(matrix);
  const users = contexts(inner);
  const grid: LifetimeChoice['grid'] = [];
  for (const variant of config.lifetimeVariants) {
    for (const priorWeight of config.priorWeights) {
      const vectors = lifetimeVectors(stale, matrix, inner.stream, inner.users, { variant, priorWeight }, true);
      const recall = inner.users.map((u) => userMetrics(vectorList(index, vectors.get(u), users.get(u)!, true) ?? [], inner.testItems.get(u)!)['recall@50']);
      grid.push({ variant, priorWeight, 'recall@50': mean(recall) });
    }
  }
  const best = grid.reduce((a, b) => (b['recall@50'] > a['recall@50'] ? b : a));
  const ridge = grid.filter((g) => g.variant === 'ridge').reduce((a, b) => (b['recall@50'] > a['recall@50'] ? b : a), { priorWeight: 1, 'recall@50': -1 });
  const idleRecall = (vectorOf: (u: string) => Float32Array | undefined) =>
    mean(inner.users.map((u) => userMetrics(vectorList(index, vectorOf(u), users.get(u)!, true) ?? [], inner.testItems.get(u)!)['recall@50']));
  const shrink = new FoldInModel({ gram: gramMatrix(matrix.data, matrix.count, matrix.dims), lambda: ridge.priorWeight, alpha: stale.alpha });
  const idle = {
    priorWeight: ridge.priorWeight,
    x0: idleRecall((u) => batchUserVector(stale, u)),
    ridgeFormula: idleRecall((u) => {
      const x0 = batchUserVector(stale, u);
      return (
        x0 &&
        Float32Array.from(
          shrink.solve(
            shrink.empty(),
            x0.map((x) => ridge.priorWeight * x),
          ),
        )
      );
    }),
  };
  return {
    variant: best.variant,
    priorWeight: best.priorWeight,
    on: `held out: each user's pre-test events split again 70/15/15 (${inner.users.length} users), best recall@50`,
    grid,
    idle,
  };
}

async function evaluateSplit(
  split: Split,
  config: EvalConfig,
  lifetime: LifetimeSetting,
  train: (e: readonly EvalEvent[], negatives: boolean) => AlsModel,
  log: (line: string) => void,
): Promise<ProtocolReport> {
  const timings: Record<string, number> = {};
  const time = async <T>(what: string, f: () => T | Promise<T>): Promise<T> => {
    const t = performance.now();
    const r = await f();
    timings[what] = (performance.now() - t) / 1000;
    log(`  ${what}: ${timings[what]!.toFixed(1)} s`);
    return r;
  };
  const beforeTest = [...split.training, ...split.stream];
  const stale = await time('ALS stale', () => train(split.training, false));
  const ideal = await time('ALS ideal', () => train(beforeTest, false));
  const staleMatrix = alsMatrix(stale, SNAPSHOT_ID);
  const staleIndex = exactIndex(staleMatrix);
  const idealIndex = exactIndex(alsMatrix(ideal, 'eval-ideal'));
  const users = contexts(split);
  const usersNoNegatives = contexts(split, false);
  const popularity = popularityOrder(ideal);
  const lists = new Map<string, { base: MethodName; variant: MethodRow['variant']; negatives: MethodRow['negatives']; lists: Lists; note?: string }>();
  const add = (
    base: MethodName,
    variant: MethodRow['variant'],
    negatives: MethodRow['negatives'],
    f: (u: UserContext) => string[] | undefined,
    note?: string,
  ) => {
    const byUser: Lists = new Map();
    for (const u of split.users) byUser.set(u, f((negatives === 'dropped' ? usersNoNegatives : users).get(u)!));
    lists.set(variant ? `${base}/${variant}` : base, { base, variant, negatives, lists: byUser, ...(note ? { note } : {}) });
  };

  const random = new SeededRandom(config.seed);
  const universe = ideal.data.items;
  add('random', null, 'n/a', (u) => randomList(universe, u, random), 'uniform over the entities of training and stream');
  add('popularity', null, 'n/a', (u) => fromOrder(popularity, u, true), 'users with positive weight, training and stream');
  add('stale-batch', null, 'dropped', (u) => vectorList(staleIndex, batchUserVector(stale, u.userId), u, true), 'ALS on training, positive interactions');
  add('ideal-batch', null, 'dropped', (u) => vectorList(idealIndex, batchUserVector(ideal, u.userId), u, true), 'ALS retrained on training + stream');
  if (config.batchWithNegatives) {
    const staleNeg = await time('ALS stale with negatives', () => train(split.training, true));
    const idealNeg = await time('ALS ideal with negatives', () => train(beforeTest, true));
    const staleNegIndex = exactIndex(alsMatrix(staleNeg, 'eval-stale-neg'));
    const idealNegIndex = exactIndex(alsMatrix(idealNeg, 'eval-ideal-neg'));
    add(
      'stale-batch',
      'with-negatives',
      'used',
      (u) => vectorList(staleNegIndex, batchUserVector(staleNeg, u.userId), u, true),
      'negative net weights in training as p = 0, c = 1 + α|w|',
    );
    add(
      'ideal-batch',
      'with-negatives',
      'used',
      (u) => vectorList(idealNegIndex, batchUserVector(idealNeg, u.userId), u, true),
      'negative net weights in training as p = 0, c = 1 + α|w|',
    );
  }

  for (const model of ['decayed', 'fold-in'] as const) {
    const run = await time(`topology ${model}`, () =>
      runRealtime(model, staleMatrix, { lambda: stale.lambda, alpha: stale.alpha, ...(config.tauMs ? { tauMs: config.tauMs } : {}) }, split),
    );
    const base: MethodName = model === 'decayed' ? 'realtime-decayed' : 'realtime-fold-in';
    const of = (feed: RealtimeFeed) => (u: UserContext) => {
      const s = run.users.get(feed)!.get(u.userId);
      return vectorList(run.space.index, s?.vector, { ...u, banned: s?.banned ?? [] }, true);
    };
    const via = `user-vectors topology (TopologyTestDriver, ${run.events} events piped), snapshot = stale ALS entity factors`;
    add(base, null, 'used', of('history'), `${via}; training events streamed before the snapshot, then the stream`);
    add(base, 'no-negatives', 'dropped', of('history-positive'), `${via}; as the main row without skips, dislikes and bans`);
    add(base, 'stream-only', 'used', of('stream'), `${via}; only the events after the cut-off`);
  }

  await time('lifetime', async () => {
    for (const negatives of [true, false]) {
      const run = await runLifetime(staleMatrix, (u) => batchUserVector(stale, u), { alpha: stale.alpha, ...lifetime }, split, negatives);
      const note = `user-vectors topology (TopologyTestDriver, ${run.events} stream events piped) on a snapshot carrying the stale ALS user factors (lifetime model, ${lifetime.variant}, λₚ = ${lifetime.priorWeight})`;
      add(
        'lifetime-realtime',
        negatives ? null : 'no-negatives',
        negatives ? 'used' : 'dropped',
        (u) => vectorList(staleIndex, run.vectors.get(u.userId), u, negatives),
        note,
      );
    }
  });

  const { rows, pairs } = await time('metrics', () => score(split, config, lists, (u) => fromOrder(popularity, users.get(u)!, true)));
  const streamed = new Set(split.stream.map((e) => e.userId));
  const quietUsers = split.users.filter((u) => !streamed.has(u));
  const staleLists = lists.get('stale-batch')!.lists;
  const lifetimeLists = lists.get('lifetime-realtime/no-negatives')!.lists;
  const same = quietUsers.filter((u) => JSON.stringify(staleLists.get(u)) === JSON.stringify(lifetimeLists.get(u))).length;
  let testItems = 0;
  for (const s of split.testItems.values()) testItems += s.size;
  return {
    protocol: split.protocol,
    description: split.description,
    users: split.users.length,
    trainedUsers: split.trainedUsers,
    events: { training: split.training.length, stream: split.stream.length, test: split.test.length },
    testItemsPerUser: testItems / Math.max(1, split.users.length),
    rows: rows.map((r) => ({ ...r, dataset: config.dataset.name })),
    pairs,
    quiet: { users: quietUsers.length, sameListAsStale: same },
    timings,
  };
}

function score(
  split: Split,
  config: EvalConfig,
  lists: Map<string, { base: MethodName; variant: MethodRow['variant']; negatives: MethodRow['negatives']; lists: Lists; note?: string }>,
  fallback: (u: string) => string[],
): { rows: MethodRow[]; pairs: PairedDifference[] } {
  const bootstrap = new Bootstrap(split.users.length, config.bootstrap, config.seed + 1);
  const perUser = new Map<string, Record<MetricName, Float64Array>>();
  const fallbacks = new Map<string, number>();
  for (const [name, m] of lists) {
    const values = Object.fromEntries(METRICS.map((k) => [k, new Float64Array(split.users.length)])) as Record<MetricName, Float64Array>;
    let missing = 0;
    split.users.forEach((u, i) => {
      let list = m.lists.get(u);
      if (list === undefined) {
        missing++;
        list = fallback(u);
      }
      const r = userMetrics(list, split.testItems.get(u)!);
      for (const k of METRICS) values[k][i] = r[k];
    });
    perUser.set(name, values);
    fallbacks.set(name, missing);
  }
  const stale = perUser.get('stale-batch')!;
  const pairs: PairedDifference[] = [];
  for (const [a, b] of PAIRS) {
    const va = perUser.get(a);
    const vb = perUser.get(b);
    if (!va || !vb) continue;
    for (const metric of ['recall@50', 'ndcg@50'] as const) pairs.push({ a, b, metric, ...bootstrap.difference(va[metric], vb[metric]) });
  }
  const rows = [...lists].map(([name, m]): MethodRow => {
    const v = perUser.get(name)!;
    return {
      dataset: '',
      protocol: split.protocol,
      method: name,
      base: m.base,
      variant: m.variant,
      negatives: m.negatives,
      users: split.users.length,
      'recall@10': mean(v['recall@10']),
      'recall@50': mean(v['recall@50']),
      'ndcg@50': mean(v['ndcg@50']),
      ci95: Object.fromEntries(METRICS.map((k) => [k, bootstrap.interval(v[k])])) as Record<MetricName, Interval>,
      vsStaleBatch:
        name === 'stale-batch'
          ? null
          : { 'recall@50': bootstrap.difference(v['recall@50'], stale['recall@50']), 'ndcg@50': bootstrap.difference(v['ndcg@50'], stale['ndcg@50']) },
      fallbacks: fallbacks.get(name)!,
      ...(m.note ? { note: m.note } : {}),
    };
  });
  return { rows, pairs };
}
