/**
 * `vectors generate`: the evaluation's synthetic world (src/vectors/synthetic/world.ts)
 * written to files a person can publish and produce — a snapshot of the
 * true entity vectors (S1), optionally a second, retrained space of the same
 * entities (S2) to show a switch, the users' batch factors for each, and the
 * world's listens and feedback as an event file. Seeded: the same options
 * give the same bytes.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { once } from 'node:events';
import { ConfigError } from '../../errors';
import type { FeedbackKind } from '../../vectors/records';
import { EntityMatrixBuilder } from '../../vectors/snapshot/entity-matrix';
import { formatFloats, writeJsonlSnapshot } from '../../vectors/snapshot/formats';
import { isValidSnapshotId } from '../../vectors/snapshot/manifest';
import { generateWorld, retrainedSpace, worldMatrix, type World, type WorldOptions } from '../../vectors/synthetic/world';
import { CSV_COLUMNS, eventCsvLine, eventJsonLine, type EventFormat } from './event-file';

const DAY_MS = 24 * 60 * 60 * 1000;

/** What to generate. Everything but `out` has a small default that runs in about a second. */
export interface GenerateOptions {
  /** Directory to write into; created when missing. Files in it with the same names are replaced. */
  out: string;
  /** Seed of every random draw. Default 1. */
  seed?: number;
  /** Users `u0`…. Default 200. */
  users?: number;
  /** Entities (tracks) `e0`…. Default 1000. */
  items?: number;
  /** Dimension of the vectors. Default 16. */
  dims?: number;
  /** Taste clusters. Default items / 25, from 2 to 24. */
  clusters?: number;
  /** Events in the event file: the world is sized for it and cut to exactly this many (the earliest). Default 20,000. */
  events?: number;
  /** Days the world spans. Default 28. */
  days?: number;
  /**
   * End of the world's time, epoch ms. Default the start of the current UTC
   * day, so the events are recent enough for the topology's event-time window
   * (365 days); give it for files that are the same on any day.
   */
  endTime?: number;
  /** Write the users' batch factors (lifetime vectors) as of the cut-off, for `publish --users`. Default true. */
  userFactors?: boolean;
  /** Where the training cut-off falls, as a share of the events (the factors know the events before it). In (0, 1]. Default 0.5. */
  cutoffShare?: number;
  /** Also write S2: the same entities in a retrained (rotated, perturbed) space. Default true. */
  second?: boolean;
  /** Share of skips written as feedback SKIP rather than a short listen. Default 0.5. */
  skipFeedback?: number;
  /** Event file format. Default `jsonl`. */
  eventsFormat?: EventFormat;
  /** Snapshot ids of S1 and S2. Default `s1`, `s2`. */
  snapshotIds?: [string, string];
  /** Called as each file is done. */
  onProgress?: (p: GenerateProgress) => void;
}

export interface GenerateProgress {
  step: 'world' | 'snapshot' | 'users' | 'events' | 'manifest';
  /** The file just written (absent for `world`). */
  file?: string;
}

/** A snapshot file written, with what `publish` needs. */
export interface GeneratedSnapshot {
  id: string;
  file: string;
  count: number;
  dims: number;
  checksum: string;
  /** Its users' batch factors, when written: publish them with `--users FILE --cutoff <cutoff>`. */
  users?: { file: string; count: number };
}

export interface GeneratedEvents {
  file: string;
  format: EventFormat;
  count: number;
  listens: number;
  feedback: Record<FeedbackKind, number>;
  /** Users with at least one event. */
  users: number;
  /** Event time of the first and last event, epoch ms. */
  from: number;
  to: number;
}

/** What {@link generateWorldFiles} wrote; also in `world.json` in the directory (there without `dir`, and with file names relative to it). */
export interface GenerateResult {
  dir: string;
  /** `world.json`: the options and this result. */
  manifest: string;
  /** S1, then S2 when asked for. */
  snapshots: GeneratedSnapshot[];
  events: GeneratedEvents;
  /** Training cut-off of the user factors, epoch ms (events at or before it are in them); null without factors. */
  cutoff: number | null;
  /** The options as applied. */
  options: Required<Omit<GenerateOptions, 'onProgress' | 'out'>>;
}

function resolveOptions(o: GenerateOptions): GenerateResult['options'] {
  const items = o.items ?? 1000;
  const r = {
    seed: o.seed ?? 1,
    users: o.users ?? 200,
    items,
    dims: o.dims ?? 16,
    clusters: o.clusters ?? Math.min(24, Math.max(2, Math.floor(items / 25))),
    events: o.events ?? 20_000,
    days: o.days ?? 28,
    endTime: o.endTime ?? Math.floor(Date.now() / DAY_MS) * DAY_MS,
    userFactors: o.userFactors ?? true,
    cutoffShare: o.cutoffShare ?? 0.5,
    second: o.second ?? true,
    skipFeedback: o.skipFeedback ?? 0.5,
    eventsFormat: o.eventsFormat ?? 'jsonl',
    snapshotIds: o.snapshotIds ?? ['s1', 's2'],
  };
  const rules: [string, boolean, string][] = [
    ['events', Number.isSafeInteger(r.events) && r.events >= 1, 'an integer ≥ 1'],
    ['endTime', Number.isSafeInteger(r.endTime), 'an integer number of epoch ms'],
    ['cutoffShare', r.cutoffShare > 0 && r.cutoffShare <= 1, 'a number in (0, 1]'],
    ['eventsFormat', r.eventsFormat === 'jsonl' || r.eventsFormat === 'csv', 'jsonl or csv'],
    [
      'snapshotIds',
      r.snapshotIds.length === 2 && r.snapshotIds.every(isValidSnapshotId) && r.snapshotIds[0] !== r.snapshotIds[1],
      'two different snapshot ids',
    ],
  ];
  for (const [name, ok, expected] of rules) {
    if (!ok) throw new ConfigError(`generate: option '${name}' must be ${expected}, got ${JSON.stringify((r as Record<string, unknown>)[name])}`);
  }
  return r;
}

/** The world's options for `o` at a given session count (world.ts checks the ranges and names a bad one). */
function worldOptions(o: GenerateResult['options'], sessionsPerUser: number, tastesAt?: number): Partial<WorldOptions> {
  return {
    seed: o.seed,
    users: o.users,
    entities: o.items,
    clusters: o.clusters,
    dims: o.dims,
    days: o.days,
    startTime: o.endTime - Math.round(o.days * DAY_MS),
    sessionsPerUser,
    skipFeedback: o.skipFeedback,
    ...(tastesAt !== undefined ? { tastesAt } : {}),
  };
}

/**
 * A world with at least `o.events` events (fewer only when it cannot grow), sized by
 * sessions per user: a first guess from the mean plays per session, raised
 * until it is enough. Deterministic: the guesses depend only on the options.
 */
function sizedWorld(o: GenerateResult['options']): { world: World; sessionsPerUser: number } {
  const perSession = 8 * 1.05; // WORLD_DEFAULTS.playsPerSession, plus ~5% feedback
  let sessionsPerUser = Math.max(0.5, (1.15 * o.events) / (o.users * perSession));
  let world = generateWorld(worldOptions(o, sessionsPerUser));
  for (let i = 0; i < 6 && world.events.length < o.events; i++) {
    sessionsPerUser *= Math.max(1.1, (1.1 * o.events) / Math.max(1, world.events.length));
    world = generateWorld(worldOptions(o, sessionsPerUser));
  }
  return { world, sessionsPerUser };
}

/**
 * Generates a synthetic world and writes it to `o.out`:
 *
 * - `snapshot-<s1>.jsonl`: the true entity vectors (JSONL, as `vectors publish` reads);
 * - `users-<s1>.jsonl`: each user's taste at the cut-off, as `publish --users` reads (unless `userFactors: false`);
 * - `snapshot-<s2>.jsonl`, `users-<s2>.jsonl`: the same in a retrained space (unless `second: false`);
 * - `events.jsonl` (or `events.csv`): the listens and feedback, by event time (docs/TOOLS.md);
 * - `world.json`: the options and what was written.
 *
 * @throws ConfigError naming an option out of range.
 */
export async function generateWorldFiles(options: GenerateOptions): Promise<GenerateResult> {
  const o = resolveOptions(options);
  const dir = resolve(options.out);
  const progress = options.onProgress ?? (() => undefined);
  const { world: sized, sessionsPerUser } = sizedWorld(o);
  const events = sized.events.slice(0, o.events);
  const cutoff = o.userFactors ? events[Math.max(0, Math.ceil(o.cutoffShare * events.length) - 1)]!.timestamp : null;
  // Recording tastes draws nothing: this is the same world, with the users' tastes at the cut-off.
  const world = cutoff === null ? sized : generateWorld(worldOptions(o, sessionsPerUser, cutoff));
  progress({ step: 'world' });
  await mkdir(dir, { recursive: true });

  const [id1, id2] = o.snapshotIds;
  const snapshots: GeneratedSnapshot[] = [];
  const s1 = join(dir, `snapshot-${id1}.jsonl`);
  const written1 = await writeJsonlSnapshot(s1, worldMatrix(world, id1));
  progress({ step: 'snapshot', file: s1 });
  snapshots.push({
    id: id1,
    file: s1,
    count: written1.count,
    dims: world.dims,
    checksum: written1.checksum,
    ...(await writeUsers(world, id1, dir, (v) => v, progress)),
  });

  if (o.second) {
    const space = retrainedSpace(world, { seed: (o.seed ^ 0x2545f491) >>> 0 });
    const b = new EntityMatrixBuilder({ snapshotId: id2, dims: world.dims, expectedCount: world.entityIds.length });
    world.entityIds.forEach((id, r) => b.add(id, 'TRACK', space.vectors.subarray(r * world.dims, (r + 1) * world.dims)));
    const s2 = join(dir, `snapshot-${id2}.jsonl`);
    const written2 = await writeJsonlSnapshot(s2, b.build());
    progress({ step: 'snapshot', file: s2 });
    snapshots.push({
      id: id2,
      file: s2,
      count: written2.count,
      dims: world.dims,
      checksum: written2.checksum,
      ...(await writeUsers(world, id2, dir, space.map, progress)),
    });
  }

  const eventsFile = join(dir, `events.${o.eventsFormat}`);
  const written = await writeEvents(eventsFile, o.eventsFormat, events);
  progress({ step: 'events', file: eventsFile });

  const manifest = join(dir, 'world.json');
  const result: GenerateResult = { dir, manifest, snapshots, events: written, cutoff, options: o };
  // File names relative to the directory: the same world is the same bytes wherever it is written.
  const { dir: _dir, ...portable } = result;
  await writeFile(manifest, `${JSON.stringify(portable, (k, v: unknown) => (k === 'file' || k === 'manifest' ? relative(dir, v as string) : v), 2)}\n`);
  progress({ step: 'manifest', file: manifest });
  return result;
}

async function writeUsers(
  world: World,
  snapshotId: string,
  dir: string,
  map: (v: Float32Array) => Float32Array,
  progress: (p: GenerateProgress) => void,
): Promise<{ users?: { file: string; count: number } }> {
  const tastes = world.tastes;
  if (!tastes) return {};
  const d = world.dims;
  const lines: string[] = [];
  world.userIds.forEach((userId, u) => {
    if (tastes.known[u]) lines.push(`{"userId":${JSON.stringify(userId)},"vector":[${formatFloats(map(tastes.vectors.subarray(u * d, (u + 1) * d)))}]}\n`);
  });
  const file = join(dir, `users-${snapshotId}.jsonl`);
  await writeFile(file, lines.join(''));
  progress({ step: 'users', file });
  return { users: { file, count: lines.length } };
}

async function writeEvents(file: string, format: EventFormat, events: World['events']): Promise<GeneratedEvents> {
  const feedback: Record<FeedbackKind, number> = { LIKE: 0, UNLIKE: 0, DISLIKE: 0, SKIP: 0, BAN: 0, UNBAN: 0 };
  const users = new Set<string>();
  let listens = 0;
  const out = createWriteStream(file);
  const line = format === 'csv' ? eventCsvLine : eventJsonLine;
  let chunk = format === 'csv' ? `${CSV_COLUMNS.join(',')}\n` : '';
  for (const e of events) {
    users.add(e.userId);
    if ('kind' in e) feedback[e.kind]++;
    else listens++;
    chunk += line(e);
    if (chunk.length >= 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return {
    file,
    format,
    count: events.length,
    listens,
    feedback,
    users: users.size,
    from: events[0]?.timestamp ?? 0,
    to: events[events.length - 1]?.timestamp ?? 0,
  };
}
