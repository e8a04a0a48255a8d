/**
 * The pure parts of `npm run bench:growth` (bench/growth.ts): which
 * configurations run, the shape of its JSON, its two charts and its section
 * of docs/BENCHMARKS.md.
 */
import { formatNumber, type ChartSpec } from './svg-chart';

export type Sweep = 'workers' | 'users';

export interface PlanOptions {
  /** Worker counts of the workers sweep, at `workerUsers` users. */
  workers: number[];
  workerUsers: number;
  /** User counts of the users sweep, at 1 worker. */
  users: number[];
  eventsPerUser: number;
  minEvents: number;
}

export interface GrowthConfig {
  /** Unique in a run, used in topic names: `w<workers>-u<users>`. */
  id: string;
  workers: number;
  users: number;
  events: number;
  /** The sweeps this configuration is a point of (1 worker at `workerUsers` is in both). */
  sweeps: Sweep[];
}

/** Events of a configuration: every user listens `eventsPerUser` times, and never fewer than `minEvents` in all. */
export const eventsFor = (users: number, o: Pick<PlanOptions, 'eventsPerUser' | 'minEvents'>) => Math.max(o.minEvents, o.eventsPerUser * users);

/**
 * The configurations to run: the workers sweep, then the users sweep; a
 * configuration in both (same workers and users) runs once and serves both.
 */
export function growthPlan(o: PlanOptions): GrowthConfig[] {
  const plan: GrowthConfig[] = [];
  const add = (workers: number, users: number, sweep: Sweep) => {
    const same = plan.find((c) => c.workers === workers && c.users === users);
    if (same) {
      if (!same.sweeps.includes(sweep)) same.sweeps.push(sweep);
      return;
    }
    plan.push({ id: `w${workers}-u${users}`, workers, users, events: eventsFor(users, o), sweeps: [sweep] });
  };
  for (const w of o.workers) add(w, o.workerUsers, 'workers');
  for (const u of o.users) add(1, u, 'users');
  return plan;
}

/**
 * A comma-separated list of integers ≥ 1 (`--workers 1,2,3`), in the order
 * given, repeats dropped; '' is the empty list (skip that sweep).
 * @throws Error naming the flag and the bad item.
 */
export function parseCounts(flag: string, text: string): number[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const out: number[] = [];
  for (const item of items) {
    const n = Number(item.replace(/_/g, ''));
    if (!/^[0-9_]+$/.test(item) || !Number.isSafeInteger(n) || n < 1)
      throw new Error(`--${flag} takes comma-separated integers ≥ 1, got '${item}' in '${text}'`);
    if (!out.includes(n)) out.push(n);
  }
  return out;
}

/** One measured configuration in the JSON. */
export interface GrowthRun extends GrowthConfig {
  /** Transaction commit (all events readable) → every input offset committed by the group. */
  seconds: number;
  updatesPerSec: number;
  updatesPerSecPerWorker: number;
  /** Raw kafkajs consume → produce of the same topic, after the workers stopped. */
  passthroughPerSec: number;
  /** updatesPerSec / passthroughPerSec. */
  ratio: number;
  /** Largest sum of the workers' VmRSS over samples every 500 ms, from start to stop. */
  peakRssMiB: number;
  /** Sum of each worker's own peak (VmHWM, the kernel's): ≥ peakRssMiB, the workers need not peak together. */
  sumOfPeaksMiB: number;
  /** Input records each worker took in (its share of the events; more when a record was retried). */
  recordsPerWorker: number[];
  /** Commit → the first record any worker took in (fetch wait). */
  firstRecordAfterMs: number;
  loadAverage: { before: number[]; after: number[] };
  at: string;
}

export interface GrowthResult {
  machine: string;
  settings: { entities: number; dims: number; partitions: number; guarantee: string; eventsPerUser: number; minEvents: number; workerUsers: number };
  runs: GrowthRun[];
}

const sweep = (result: GrowthResult, s: Sweep) =>
  result.runs.filter((r) => r.sweeps.includes(s)).sort((a, b) => (s === 'workers' ? a.workers - b.workers : a.users - b.users));

/** 10000 → "10k", 1000000 → "1M", 2500 → "2.5k". */
export function shortCount(n: number): string {
  if (n >= 1e6) return `${Number((n / 1e6).toPrecision(4))}M`;
  if (n >= 1e3) return `${Number((n / 1e3).toPrecision(4))}k`;
  return String(n);
}

/** Whether every step of `xs` multiplies by the same factor (within 1%). */
export function geometric(xs: number[]): boolean {
  const ratios = xs.slice(1).map((x, i) => x / xs[i]!);
  return ratios.every((q) => Math.abs(q / ratios[0]! - 1) < 0.01);
}

const listensRule = (s: Pick<PlanOptions, 'eventsPerUser' | 'minEvents'>) =>
  s.minEvents > 0 ? `listens = max(${formatNumber(s.minEvents)}, ${s.eventsPerUser} × users)` : `listens = ${s.eventsPerUser} × users`;

const settingsLine = (s: GrowthResult['settings']) => `${s.partitions} partitions, snapshot ${formatNumber(s.entities)} × ${s.dims}, ${s.guarantee}`;

/** docs/growth-workers.png: throughput and its ratio to the passthrough against worker processes; undefined without that sweep. */
export function workersChart(result: GrowthResult): ChartSpec | undefined {
  const runs = sweep(result, 'workers');
  if (runs.length === 0) return undefined;
  const users = runs[0]!.users;
  return {
    title: 'User-vector updates/s by worker processes',
    subtitle: `${formatNumber(users)} users, ${formatNumber(runs[0]!.events)} listens, ${settingsLine(result.settings)}`,
    footer: result.machine,
    categories: runs.map((r) => String(r.workers)),
    xLabel: 'worker processes (one application id, partitions shared)',
    leftLabel: 'updates/s',
    rightLabel: 'ours ÷ kafkajs passthrough (same run)',
    series: [
      { name: 'updates/s, all workers', values: runs.map((r) => r.updatesPerSec), axis: 'left' },
      { name: 'updates/s per worker', values: runs.map((r) => r.updatesPerSecPerWorker), axis: 'left', dashed: true },
      { name: 'ratio to passthrough', values: runs.map((r) => r.ratio), axis: 'right', format: (v) => v.toFixed(2) },
    ],
  };
}

/** docs/growth-users.png: throughput and peak RSS against users, at 1 worker; undefined without that sweep. */
export function usersChart(result: GrowthResult): ChartSpec | undefined {
  const runs = sweep(result, 'users');
  if (runs.length === 0) return undefined;
  const s = result.settings;
  return {
    title: 'User-vector updates/s and memory by users (1 worker)',
    subtitle: `${listensRule(s)}, ${settingsLine(s)}`,
    footer: result.machine,
    categories: runs.map((r) => shortCount(r.users)),
    // Categories are evenly spaced: a log scale only when each step multiplies by the same factor.
    xLabel: geometric(runs.map((r) => r.users)) && runs.length > 2 ? 'users (log scale)' : 'users',
    leftLabel: 'updates/s',
    rightLabel: 'peak RSS of the worker (MiB)',
    series: [
      { name: 'updates/s', values: runs.map((r) => r.updatesPerSec), axis: 'left' },
      { name: 'peak RSS (MiB)', values: runs.map((r) => r.peakRssMiB), axis: 'right' },
    ],
  };
}

/** The title of the section in docs/BENCHMARKS.md. */
export const SECTION_TITLE = 'How cost grows';

/** The line after which the section's text is the lead's, kept when the script rewrites the section. */
export const KEEP_MARKER = '<!-- bench:growth keeps everything below this line when it rewrites the section -->';

/** What is measured and how: the section's first paragraph. */
export const METHOD = `The user-vectors throughput run of \`npm run bench\` (same snapshot generation, same ListenEvents, same doorman activation, at-least-once by default), with ours as N worker processes of one application id (\`bench/uv-worker.ts\`, each with its own RocksDB state directory, started as \`tsx bench/uv-worker.ts\`), and at 1 worker with more users. The start is made fair for any N: the listens are written in one Kafka transaction left open until every worker runs with its final share of the partitions (snapshot loaded, group stable); read-committed consumers see none of them before (the records are those of \`npm run bench\`; each partition also holds the transaction's commit marker). The clock starts when the transaction commits and stops when the group's committed offsets reach the last record of every partition (state and outputs durable), so starting, joining and rebalancing are outside it, as \`npm run bench\` times from the first processed record. Anchor: the raw kafkajs passthrough (\`bench/common.ts\`) of the same topic in the same configuration, run after the workers stopped. Peak RSS: the largest sum of the workers' VmRSS (\`/proc/<pid>/status\`, sampled every 500 ms from start to stop; the tsx launchers not counted). Per worker: updates/s ÷ workers. Each configuration has its own topics (\`growth-<run>-w<N>-u<users>-*\`), deleted with their registry subjects when it ends; the configuration in both sweeps (1 worker at the workers sweep's users) runs once.`;

const n0 = (v: number) => formatNumber(Math.round(v));

function table(runs: GrowthRun[]): string {
  const head =
    '| workers | users | listens | updates/s | per worker | kafkajs passthrough | ours ÷ passthrough | peak RSS, all workers (MiB) | sum of worker peaks (MiB) | seconds |';
  const rule = '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |';
  const rows = runs.map(
    (r) =>
      `| ${r.workers} | ${n0(r.users)} | ${n0(r.events)} | ${n0(r.updatesPerSec)} | ${n0(r.updatesPerSecPerWorker)} | ${n0(r.passthroughPerSec)} | **${r.ratio.toFixed(2)}** | ${n0(r.peakRssMiB)} | ${n0(r.sumOfPeaksMiB)} | ${r.seconds.toFixed(1)} |`,
  );
  return [head, rule, ...rows].join('\n');
}

/**
 * The section's body: command, method, settings, the two tables and the
 * images (names relative to docs/), then `kept`: the lead's explanation
 * from the previous version of the section, or a placeholder.
 */
export function growthSection(result: GrowthResult, images: { workers?: string; users?: string }, kept: string | undefined): string {
  const s = result.settings;
  const when = result.runs.map((r) => r.at.slice(0, 10)).sort();
  const loads = result.runs.flatMap((r) => [...r.loadAverage.before.slice(0, 1), ...r.loadAverage.after.slice(0, 1)]);
  const measured = when.length
    ? ` Machine: ${result.machine}; ${when[0]}${when[when.length - 1] !== when[0] ? ` to ${when[when.length - 1]}` : ''}, load average (1 min) ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} at the starts and ends of the configurations.`
    : '';
  const parts = [
    `Command: \`npm run bench:growth\` (defaults: \`--workers 1,2,3 --worker-users 100000 --users 10000,100000,1000000 --events-per-user 2 --min-events 200000 --entities 100000 --dims 128 --partitions 12\`; \`--replot\` redraws the figures and this section from \`docs/benchmarks-growth.json\`).${measured} Settings: ${settingsLine(s)}; ${listensRule(s)}. Machine-readable: \`docs/benchmarks-growth.json\`.`,
    METHOD,
  ];
  const bySweep = (w: Sweep) => result.runs.filter((r) => r.sweeps.includes(w)).sort((a, b) => (w === 'workers' ? a.workers - b.workers : a.users - b.users));
  const workers = bySweep('workers');
  const users = bySweep('users');
  if (workers.length === 0 && users.length === 0)
    parts.push('_Not run yet: `npm run bench:growth` writes the tables and the figures (`growth-workers.png`, `growth-users.png`) here._');
  if (workers.length) parts.push(`### By worker processes (${formatNumber(workers[0]!.users)} users)\n\n${table(workers)}`);
  if (images.workers) parts.push(`![updates/s and ratio to the passthrough by worker processes](${images.workers})`);
  if (users.length) parts.push(`### By users (1 worker)\n\n${table(users)}`);
  if (images.users) parts.push(`![updates/s and peak RSS by users](${images.users})`);
  parts.push(KEEP_MARKER);
  parts.push(kept?.trim() || '_Explanation: to be written from a run on a quiet machine._');
  return parts.join('\n\n');
}

/** The text after {@link KEEP_MARKER} in a previous version of the section (from the whole BENCHMARKS.md text), if any. */
export function keptText(markdown: string): string | undefined {
  const start = markdown.indexOf(`\n## ${SECTION_TITLE}\n`);
  if (start === -1) return undefined;
  const next = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, next === -1 ? undefined : next);
  const at = section.indexOf(KEEP_MARKER);
  return at === -1 ? undefined : section.slice(at + KEEP_MARKER.length).trim();
}
