/**
 * The fault schedule of a chaos run: derived from the seed alone (and the
 * run's size), printed before the run, so a run can be repeated exactly.
 * Faults run one after the other: each waits for its planned time and for
 * the system to have recovered from the previous one.
 */
import { mulberry32 } from '../support/random';
import type { PoisonKind } from './generator';

export type FaultKind =
  /** kill -9 of a random instance while it processes; restarted after `downMs`, with or without its local state. */
  | 'kill-processing'
  /** kill -9 of an instance, restarted, and killed again `afterStartMs` after the restart (joining the group, restoring its stores). */
  | 'kill-restore'
  /** S2 is published; `afterStageMs` after it is staged, kill -9 of a member instance (loading, shadowing, reporting); S2 must still activate. */
  | 'kill-switch'
  /** S2 is published and activated, without a fault (when 'kill-switch' is not among the kinds: every run switches mid-stream). */
  | 'switch'
  /** A peer killed and restarted `times` times, `gapMs` apart (a crash-looping pod), while its peers keep processing. */
  | 'peer-restarts'
  /** SIGTERM of every user-vectors instance in turn, each started again once it exited (a rolling deployment). */
  | 'rolling-restart'
  /** The broker dies (SIGKILL) and stays down for `downMs`, then starts again and recovers its logs. */
  | 'broker-restart'
  /** The registry stops for `downMs`; meanwhile producers write a schema version the workers have not seen. */
  | 'registry-restart'
  /** Poison records: every kind in `poison`, on random partitions. */
  | 'poison';

export interface Fault {
  index: number;
  kind: FaultKind;
  /** Planned start, ms after streaming began. */
  atMs: number;
  /** Role of the instance to hit (kills), chosen by the seed; the instance is chosen among the role's instances. */
  target?: 'doorman' | 'user-vectors' | 'user-vectors-alos' | 'candidates';
  /** Index of the instance among its role's (modulo their count). */
  instance?: number;
  downMs?: number;
  afterStartMs?: number;
  afterStageMs?: number;
  times?: number;
  gapMs?: number;
  wipeState?: boolean;
  poison?: PoisonKind[];
}

export interface ScheduleOptions {
  seed: number;
  /** Streaming time the faults are spread over, ms. */
  durationMs: number;
  /** Time between two fault starts, ms (more when recovery takes longer). */
  spacingMs: number;
  /** Whether an ALOS user-vectors application runs (a kill target too). */
  alos: boolean;
  /** Kinds that must appear (each once at least, when the duration allows). Default: all. */
  kinds?: FaultKind[];
}

export const ALL_FAULT_KINDS: FaultKind[] = [
  'kill-processing',
  'kill-restore',
  'kill-switch',
  'peer-restarts',
  'rolling-restart',
  'broker-restart',
  'registry-restart',
  'poison',
];

const POISON: PoisonKind[] = ['not-avro', 'foreign-schema', 'invalid-record', 'oversize', 'far-future'];

/**
 * Plans the faults: every kind in `kinds` once (when the duration has room),
 * further slots filled with kills, broker/registry restarts and poison in
 * seeded proportions; 'kill-switch' (the S2 switch) sits in the middle.
 */
export function planSchedule(o: ScheduleOptions): Fault[] {
  const rng = mulberry32(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + rng() * (hi - lo));
  const kinds = o.kinds ?? ALL_FAULT_KINDS;
  const slots = Math.max(kinds.length, Math.floor(o.durationMs / o.spacingMs));
  const others = kinds.filter((k) => k !== 'kill-switch' && k !== 'switch');
  const filler: FaultKind[] = ['kill-processing', 'kill-processing', 'kill-restore', 'peer-restarts', 'broker-restart', 'registry-restart', 'poison'].filter(
    (k) => kinds.includes(k as FaultKind),
  ) as FaultKind[];
  const order: FaultKind[] = [...others];
  while (order.length < slots - 1) order.push(pick(filler.length ? filler : others));
  // Fisher-Yates with the seeded generator.
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  // Every run switches to S2 mid-stream, with a kill during the switch when that kind is asked for.
  order.splice(Math.floor(order.length / 2), 0, kinds.includes('kill-switch') ? 'kill-switch' : 'switch');

  const workers: Fault['target'][] = o.alos
    ? ['user-vectors', 'user-vectors', 'user-vectors-alos', 'candidates']
    : ['user-vectors', 'user-vectors', 'candidates'];
  const step = o.durationMs / order.length;
  return order.map((kind, index) => {
    const f: Fault = { index: index + 1, kind, atMs: Math.round(index * step + rng() * step * 0.3) };
    switch (kind) {
      case 'kill-processing':
        f.target = pick([...workers, 'doorman']);
        f.instance = between(0, 7);
        f.downMs = between(0, 4000);
        f.wipeState = rng() < 0.4;
        break;
      case 'kill-restore':
        f.target = pick(workers);
        f.instance = between(0, 7);
        f.afterStartMs = between(300, 3000);
        f.wipeState = rng() < 0.5;
        break;
      case 'kill-switch':
        f.target = pick(['user-vectors', 'user-vectors', 'candidates', 'doorman'] as const);
        f.instance = between(0, 7);
        f.afterStageMs = between(0, 3000);
        break;
      case 'peer-restarts':
        f.target = pick(workers);
        f.instance = between(0, 7);
        f.times = 3;
        f.gapMs = between(1500, 3500);
        break;
      case 'broker-restart':
        f.downMs = between(2000, 8000);
        break;
      case 'registry-restart':
        f.downMs = between(4000, 10000);
        break;
      case 'poison': {
        const extra = POISON.filter(() => rng() < 0.3);
        f.poison = [...POISON, ...extra];
        break;
      }
      case 'rolling-restart':
      case 'switch':
        break;
    }
    return f;
  });
}

/** One line per fault, for the log and the report. */
export function describeFault(f: Fault): string {
  const parts: string[] = [];
  if (f.target) parts.push(`${f.target}#${f.instance}`);
  if (f.downMs !== undefined) parts.push(`down ${(f.downMs / 1000).toFixed(1)} s`);
  if (f.afterStartMs !== undefined) parts.push(`killed again ${(f.afterStartMs / 1000).toFixed(1)} s after restart`);
  if (f.afterStageMs !== undefined) parts.push(`killed ${(f.afterStageMs / 1000).toFixed(1)} s after S2 staged`);
  if (f.times !== undefined) parts.push(`${f.times}× every ${((f.gapMs ?? 0) / 1000).toFixed(1)} s`);
  if (f.wipeState !== undefined) parts.push(f.wipeState ? 'restarted without its disk' : 'restarted with its disk');
  if (f.poison) parts.push(f.poison.join(', '));
  return `#${f.index} t+${(f.atMs / 1000).toFixed(0)} s ${f.kind}${parts.length ? ` (${parts.join('; ')})` : ''}`;
}
