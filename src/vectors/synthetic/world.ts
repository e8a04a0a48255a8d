/**
 * A synthetic listening world: entities in a latent space, users whose taste
 * drifts between clusters of it, and the listening and feedback events they
 * produce. Pure and seeded (no I/O, no clock): the same options give the same
 * world, bit for bit. It backs the evaluation (`npm run eval`) and
 * `vectors generate` (src/app/tools/generate.ts), which writes a world to files.
 */
import { ConfigError } from '../../errors';
import type { FeedbackEvent, ListenEvent } from '../records';
import { EntityMatrixBuilder, type EntityMatrix } from '../snapshot/entity-matrix';
import { AliasTable, SeededRandom } from './random';

/** One event of the world: what the `listens` and `feedback` topics carry. */
export type WorldEvent = ListenEvent | FeedbackEvent;

/** How the world is made. Every field has a default ({@link WORLD_DEFAULTS}). */
export interface WorldOptions {
  /** Seed of every random draw. A safe integer. */
  seed: number;
  /** Users, ids `u0`, `u1`, …. Integer ≥ 1. */
  users: number;
  /** Entities (tracks), ids `e0`, `e1`, …. Integer ≥ clusters. */
  entities: number;
  /** Taste clusters the entities fall into. Integer ≥ 2. */
  clusters: number;
  /** Dimension of the true latent space. Integer ≥ 2. */
  dims: number;
  /** Mean sessions per user; counts are log-normal (a few very active users, many light ones). > 0. */
  sessionsPerUser: number;
  /** Mean plays per session (geometric). ≥ 1. */
  playsPerSession: number;
  /** Zipf exponent s of popularity: the entity of rank r is played ∝ 1/rˢ when picked by popularity. ≥ 0. */
  zipfExponent: number;
  /** Probability, at each session after a user's first, that their taste moves towards another cluster. In [0, 1]. */
  drift: number;
  /** Share of plays picked by popularity alone (charts, radio), not by taste: most skips come from these. In [0, 1]. */
  exploration: number;
  /** Share of plays that replay an entity the user listened to in full before. In [0, 1). */
  replay: number;
  /** Time of the world's start, epoch ms. */
  startTime: number;
  /** Length of the world in days; users are active in a window of it. > 0. */
  days: number;
  /**
   * Share of skips reported as a feedback SKIP instead of a short listen (the
   * product weighs both alike). Drawn from a stream of its own, so every other
   * event of the world is the same whatever this share. In [0, 1]; default 0.
   */
  skipFeedback: number;
  /**
   * Record each user's taste as of this time (epoch ms) in {@link World.tastes}
   * (users who played something by then): the ground truth a batch trainer
   * with this cut-off would approximate. No
   * random draws: the events do not change. Default: not recorded.
   */
  tastesAt?: number;
}

export const WORLD_DEFAULTS: Readonly<WorldOptions> = Object.freeze({
  seed: 1,
  users: 1000,
  entities: 3000,
  clusters: 24,
  dims: 16,
  sessionsPerUser: 12,
  playsPerSession: 8,
  zipfExponent: 0.9,
  drift: 0.2,
  exploration: 0.2,
  replay: 0.1,
  startTime: Date.UTC(2024, 0, 1),
  days: 120,
  skipFeedback: 0,
});

/** How a play's outcome follows from the user's current affinity a = tasteᵀv (plus noise) to the entity. */
export const WORLD_OUTCOMES = Object.freeze({
  /** a at or above: a full listen. */
  fullFrom: 0.45,
  /** a below: a skip (completion under 0.1); in between a partial play, completion rising with a. */
  skipBelow: 0.15,
  /** Standard deviation of the noise on a. */
  noise: 0.1,
  /** Probability of a LIKE after a full listen of an entity not liked yet. */
  like: 0.12,
  /** Probability of a DISLIKE after a skip. */
  dislike: 0.06,
  /** Probability of a BAN after a skip; a banned entity is never played again. */
  ban: 0.03,
  /** Sharpness of the choice within a cluster: entities are drawn ∝ √popularity · exp(sharpness · a). */
  sharpness: 3,
  /** Share of the taste that moves to the new cluster when it drifts. */
  driftStep: 0.6,
});

/** A generated world: the true entity vectors and the events, in time order. */
export interface World {
  readonly options: Readonly<WorldOptions>;
  readonly dims: number;
  /** Entity ids in row order. */
  readonly entityIds: readonly string[];
  /** The true entity vectors, unit length, row-major (`entityIds.length × dims`). */
  readonly vectors: Float32Array;
  /** The cluster of each entity. */
  readonly clusterOf: Int32Array;
  /** The probability of each entity when a play is picked by popularity; sums to 1. */
  readonly popularity: Float64Array;
  /** Each entity's duration, ms. */
  readonly durationMs: Int32Array;
  readonly userIds: readonly string[];
  /** Every event, by timestamp; ties in the order they were generated (a LIKE after its listen). */
  readonly events: readonly WorldEvent[];
  /** With {@link WorldOptions.tastesAt}: each user's taste then. */
  readonly tastes?: WorldTastes;
}

/** The users' tastes at one time (see {@link WorldOptions.tastesAt}). */
export interface WorldTastes {
  /** Epoch ms. */
  readonly at: number;
  /** Unit vectors, row-major (`userIds.length × dims`), in the world's space; rows of users not yet active are 0. */
  readonly vectors: Float32Array;
  /** 1 where the user played something at or before `at`, else 0. */
  readonly known: Uint8Array;
}

function checkOptions(o: WorldOptions): void {
  const rules: [keyof WorldOptions, boolean, string][] = [
    ['seed', Number.isSafeInteger(o.seed), 'a safe integer'],
    ['users', Number.isInteger(o.users) && o.users >= 1, 'an integer ≥ 1'],
    ['clusters', Number.isInteger(o.clusters) && o.clusters >= 2, 'an integer ≥ 2'],
    ['entities', Number.isInteger(o.entities) && o.entities >= o.clusters, `an integer ≥ clusters (${o.clusters})`],
    ['dims', Number.isInteger(o.dims) && o.dims >= 2, 'an integer ≥ 2'],
    ['sessionsPerUser', Number.isFinite(o.sessionsPerUser) && o.sessionsPerUser > 0, 'a number > 0'],
    ['playsPerSession', Number.isFinite(o.playsPerSession) && o.playsPerSession >= 1, 'a number ≥ 1'],
    ['zipfExponent', Number.isFinite(o.zipfExponent) && o.zipfExponent >= 0, 'a number ≥ 0'],
    ['drift', o.drift >= 0 && o.drift <= 1, 'a number in [0, 1]'],
    ['exploration', o.exploration >= 0 && o.exploration <= 1, 'a number in [0, 1]'],
    ['replay', o.replay >= 0 && o.replay < 1, 'a number in [0, 1)'],
    ['startTime', Number.isSafeInteger(o.startTime), 'an integer number of epoch ms'],
    ['days', Number.isFinite(o.days) && o.days > 0, 'a number > 0'],
    ['skipFeedback', o.skipFeedback >= 0 && o.skipFeedback <= 1, 'a number in [0, 1]'],
    ['tastesAt', o.tastesAt === undefined || Number.isFinite(o.tastesAt), 'a finite number of epoch ms'],
  ];
  for (const [field, ok, expected] of rules) {
    if (!ok) throw new ConfigError(`synthetic world option '${field}' must be ${expected}, got ${String(o[field])}`);
  }
}

function unitInPlace(v: Float64Array): Float64Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  if (n > 0) for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

function gaussian(random: SeededRandom, d: number, scale: number): Float64Array {
  const v = new Float64Array(d);
  for (let i = 0; i < d; i++) v[i] = random.normal() * scale;
  return v;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Generates a world. Entities: unit vectors around random cluster centres,
 * popularity Zipf over a random ranking. Users: each is active in a window of
 * the world's time, with log-normal many sessions; a taste is a mixture of
 * cluster centres (two clusters to begin with) plus a personal offset, and
 * between sessions it may drift towards another cluster. A play is a replay,
 * a popularity pick, or a taste pick (a cluster by the taste's mixture, an
 * entity of it by √popularity and affinity); its outcome follows the current
 * affinity ({@link WORLD_OUTCOMES}): full listen (sometimes a LIKE), partial
 * play, or skip (sometimes a DISLIKE or a BAN).
 *
 * Memory is O(events); about `users × sessionsPerUser × playsPerSession`
 * listens plus ~5% feedback.
 *
 * @throws ConfigError naming the first option out of range.
 */
export function generateWorld(options: Partial<WorldOptions> = {}): World {
  const o: WorldOptions = { ...WORLD_DEFAULTS, ...options };
  checkOptions(o);
  const random = new SeededRandom(o.seed);
  const d = o.dims;
  const k = o.clusters;
  const n = o.entities;

  const centres = Array.from({ length: k }, () => unitInPlace(gaussian(random, d, 1)));
  const vectors = new Float32Array(n * d);
  const clusterOf = new Int32Array(n);
  const durationMs = new Int32Array(n);
  const members: number[][] = Array.from({ length: k }, () => []);
  for (let e = 0; e < n; e++) {
    const c = e < k ? e : random.int(k); // every cluster has at least one entity
    clusterOf[e] = c;
    members[c]!.push(e);
    const v = gaussian(random, d, 0.5 / Math.sqrt(d));
    for (let i = 0; i < d; i++) v[i] = v[i]! + centres[c]![i]!;
    vectors.set(unitInPlace(v), e * d);
    durationMs[e] = 120_000 + random.int(300_000);
  }
  const rank = random.shuffle(Array.from({ length: n }, (_, i) => i));
  const popularity = new Float64Array(n);
  let popTotal = 0;
  rank.forEach((e, r) => {
    popularity[e] = 1 / Math.pow(r + 1, o.zipfExponent);
    popTotal += popularity[e]!;
  });
  for (let e = 0; e < n; e++) popularity[e] = popularity[e]! / popTotal;
  const byPopularity = new AliasTable(popularity);
  const clusterMass = new Float64Array(k);
  for (let e = 0; e < n; e++) clusterMass[clusterOf[e]!] = clusterMass[clusterOf[e]!]! + popularity[e]!;

  const span = o.days * DAY_MS;
  const logSigma = 0.8;
  const logMu = Math.log(o.sessionsPerUser) - (logSigma * logSigma) / 2;
  const pSessionEnd = 1 / o.playsPerSession;
  const out = WORLD_OUTCOMES;
  const raw: WorldEvent[] = [];
  const userIds: string[] = [];
  let seq = 0;
  const eventId = () => `w${o.seed}-${seq++}`;
  // A stream of its own: reporting skips as feedback changes no other draw.
  const skipRandom = new SeededRandom((o.seed ^ 0x5bd1e995) >>> 0);
  const tastes = o.tastesAt === undefined ? undefined : { at: o.tastesAt, vectors: new Float32Array(o.users * d), known: new Uint8Array(o.users) };

  for (let u = 0; u < o.users; u++) {
    const userId = `u${u}`;
    userIds.push(userId);
    const sessions = Math.max(1, Math.round(Math.exp(logMu + logSigma * random.normal())));
    const from = o.startTime + random.next() * 0.8 * span;
    const length = (o.startTime + span - from) * (0.2 + 0.8 * random.next());
    const starts = Array.from({ length: sessions }, () => Math.floor(from + random.next() * length)).sort((a, b) => a - b);

    const mix = new Float64Array(k);
    const first = random.pick(clusterMass);
    let second = random.pick(clusterMass);
    if (second === first) second = (first + 1 + random.int(k - 1)) % k;
    mix[first] = 0.65;
    mix[second] = 0.35;
    const offset = gaussian(random, d, 0.4 / Math.sqrt(d));
    const taste = new Float64Array(d);
    const retaste = () => {
      taste.set(offset);
      for (let c = 0; c < k; c++) if (mix[c]! > 0) for (let i = 0; i < d; i++) taste[i] = taste[i]! + mix[c]! * centres[c]![i]!;
      unitInPlace(taste);
    };
    retaste();
    const affinity = (e: number) => {
      let s = 0;
      for (let i = 0; i < d; i++) s += taste[i]! * vectors[e * d + i]!;
      return s;
    };
    const loved: number[] = [];
    const liked = new Set<number>();
    const banned = new Set<number>();

    for (let s = 0; s < sessions; s++) {
      if (s > 0 && random.chance(o.drift)) {
        const next = random.pick(clusterMass);
        for (let c = 0; c < k; c++) mix[c] = mix[c]! * (1 - out.driftStep);
        mix[next] = mix[next]! + out.driftStep;
        retaste();
      }
      let t = starts[s]!;
      do {
        let e: number;
        const roll = random.next();
        if (roll < o.replay && loved.length > 0) e = loved[random.int(loved.length)]!;
        else if (roll < o.replay + o.exploration) e = byPopularity.draw(random);
        else {
          const pool = members[random.pick(mix)]!;
          e = pool[random.pick(pool.map((x) => Math.sqrt(popularity[x]!) * Math.exp(out.sharpness * affinity(x))))]!;
        }
        if (banned.has(e)) continue;
        const a = affinity(e) + out.noise * random.normal();
        const completion = a >= out.fullFrom ? 1 : a < out.skipBelow ? 0.1 * random.next() : 0.1 + (0.7 * (a - out.skipBelow)) / (out.fullFrom - out.skipBelow);
        const msPlayed = Math.round(durationMs[e]! * completion);
        t += msPlayed + 1000;
        // The taste only changes between sessions: as of `at` it is that of the user's last play by then.
        if (tastes && t <= tastes.at) {
          tastes.vectors.set(taste, u * d);
          tastes.known[u] = 1;
        }
        const entityId = `e${e}`;
        if (completion < 0.1 && o.skipFeedback > 0 && skipRandom.chance(o.skipFeedback)) {
          raw.push({ eventId: eventId(), userId, entityId, kind: 'SKIP', surface: 'synthetic', timestamp: t });
        } else {
          raw.push({ eventId: eventId(), userId, entityId, msPlayed, durationMs: durationMs[e]!, context: 'synthetic', timestamp: t });
        }
        if (completion === 1) {
          loved.push(e);
          if (!liked.has(e) && random.chance(out.like)) {
            liked.add(e);
            raw.push({ eventId: eventId(), userId, entityId, kind: 'LIKE', surface: 'synthetic', timestamp: t + 1000 });
          }
        } else if (completion < 0.1) {
          if (random.chance(out.ban)) {
            banned.add(e);
            raw.push({ eventId: eventId(), userId, entityId, kind: 'BAN', surface: 'synthetic', timestamp: t + 1000 });
          } else if (random.chance(out.dislike)) {
            raw.push({ eventId: eventId(), userId, entityId, kind: 'DISLIKE', surface: 'synthetic', timestamp: t + 1000 });
          }
        }
        t += 2000 + random.int(10_000);
      } while (!random.chance(pSessionEnd));
    }
  }
  // Stable: ties keep generation order.
  const order = raw.map((_, i) => i).sort((x, y) => raw[x]!.timestamp - raw[y]!.timestamp || x - y);
  const events = order.map((i) => raw[i]!);
  return {
    options: Object.freeze(o),
    dims: d,
    entityIds: Array.from({ length: n }, (_, e) => `e${e}`),
    vectors,
    clusterOf,
    popularity,
    durationMs,
    userIds,
    events,
    ...(tastes ? { tastes } : {}),
  };
}

/** The world's true entity vectors as a snapshot matrix (every entity a TRACK). */
export function worldMatrix(world: World, snapshotId: string): EntityMatrix {
  const b = new EntityMatrixBuilder({ snapshotId, dims: world.dims, expectedCount: world.entityIds.length });
  world.entityIds.forEach((id, r) => b.add(id, 'TRACK', world.vectors.subarray(r * world.dims, (r + 1) * world.dims)));
  return b.build();
}

/** A second vector space for the same world: what retraining the model would give. */
export interface RetrainedSpace {
  readonly dims: number;
  /** The entity vectors in the new space, unit length, row-major, in the world's row order. */
  readonly vectors: Float32Array;
  /** Maps a vector of the world's space into the new one (the rotation alone, no noise). */
  map(v: ArrayLike<number>): Float32Array;
}

/**
 * The world's entities in another space, as a retrained model would place
 * them: a random rotation of the true space (factor models are identified
 * only up to one, so a retrain lands anywhere) plus noise of relative size
 * `noise` per entity. Same ids, same neighbourhoods roughly, but a vector of
 * one space means nothing in the other: what a snapshot switch is for.
 * Seeded and pure.
 */
export function retrainedSpace(world: World, options: { seed: number; noise?: number }): RetrainedSpace {
  const noise = options.noise ?? 0.05;
  if (!(noise >= 0) || !Number.isFinite(noise)) throw new ConfigError(`retrained space: noise must be a finite number ≥ 0, got ${noise}`);
  const random = new SeededRandom(options.seed);
  const d = world.dims;
  // A random orthogonal matrix: Gram–Schmidt on Gaussian rows.
  const q: Float64Array[] = [];
  while (q.length < d) {
    const row = gaussian(random, d, 1);
    for (const prev of q) {
      let dot = 0;
      for (let i = 0; i < d; i++) dot += row[i]! * prev[i]!;
      for (let i = 0; i < d; i++) row[i] = row[i]! - dot * prev[i]!;
    }
    let n = 0;
    for (const x of row) n += x * x;
    if (n > 1e-12) q.push(unitInPlace(row));
  }
  const map = (v: ArrayLike<number>): Float32Array => {
    const out = new Float32Array(d);
    for (let r = 0; r < d; r++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += q[r]![i]! * v[i]!;
      out[r] = s;
    }
    return out;
  };
  const n = world.entityIds.length;
  const vectors = new Float32Array(n * d);
  const scratch = new Float64Array(d);
  for (let e = 0; e < n; e++) {
    const rotated = map(world.vectors.subarray(e * d, (e + 1) * d));
    for (let i = 0; i < d; i++) scratch[i] = rotated[i]! + (noise * random.normal()) / Math.sqrt(d);
    vectors.set(unitInPlace(scratch), e * d);
  }
  return { dims: d, vectors, map };
}
