import { IllegalTransitionError } from '../../errors';

/**
 * The phases of a snapshot, as the doorman records them.
 *
 * ```
 *   ┌──────────────────────restage──────────────────┐
 *   ▼                                               │
 * STAGED ──activate──▶ ACTIVE ──supersede──▶ READY ─┼─retire──▶ RETIRED
 *   │                    │  ▲                  │    │
 *   │ abort              │  └────reinstate─────┘    │
 *   ▼                    │ rollback                 │
 * FAILED ──retire──▶     ▼                          │
 *                   ROLLED_BACK ────────────────────┘ (and ──retire──▶ RETIRED)
 * ```
 *
 * READY is a loaded snapshot that is not active: the one an ACTIVATE replaced.
 * It stays queryable, and can be reinstated by a rollback, until retired.
 * A ROLLED_BACK snapshot (its topic kept) can be staged again (`restage`,
 * `vectors rollforward`): workers load it and report afresh, and the doorman
 * activates it under the same rule as any staged snapshot (I1).
 */
export type Phase = 'STAGED' | 'ACTIVE' | 'READY' | 'FAILED' | 'ROLLED_BACK' | 'RETIRED';

export type LifecycleEvent = 'activate' | 'abort' | 'supersede' | 'rollback' | 'reinstate' | 'retire' | 'restage';

export const PHASES: readonly Phase[] = ['STAGED', 'ACTIVE', 'READY', 'FAILED', 'ROLLED_BACK', 'RETIRED'];
export const EVENTS: readonly LifecycleEvent[] = ['activate', 'abort', 'supersede', 'rollback', 'reinstate', 'retire', 'restage'];

const TRANSITIONS: Readonly<Record<Phase, Partial<Record<LifecycleEvent, Phase>>>> = {
  STAGED: { activate: 'ACTIVE', abort: 'FAILED' },
  ACTIVE: { supersede: 'READY', rollback: 'ROLLED_BACK' },
  READY: { reinstate: 'ACTIVE', retire: 'RETIRED' },
  FAILED: { retire: 'RETIRED' },
  ROLLED_BACK: { retire: 'RETIRED', restage: 'STAGED' },
  RETIRED: {},
};

/** The phase after `event`, or undefined when the event is not allowed in `phase`. */
export function nextPhase(phase: Phase, event: LifecycleEvent): Phase | undefined {
  return TRANSITIONS[phase][event];
}

/**
 * The phase after `event`.
 * @throws IllegalTransitionError when `event` is not allowed in `phase`.
 */
export function transition(snapshotId: string, phase: Phase, event: LifecycleEvent): Phase {
  const next = nextPhase(phase, event);
  if (next === undefined) throw new IllegalTransitionError(`snapshot '${snapshotId}'`, phase, event);
  return next;
}

/** True for phases in which workers keep the snapshot loaded. */
export function isLive(phase: Phase): boolean {
  return phase === 'STAGED' || phase === 'ACTIVE' || phase === 'READY';
}
