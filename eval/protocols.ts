/**
 * Splits of a time-ordered event list into snapshot training, stream and test,
 * and what each evaluated user's test is.
 */
import type { EvalEvent } from './data';

export type ProtocolName = 'per-user' | 'global';

export interface Split {
  readonly protocol: ProtocolName;
  /** Before the snapshot's cut-off: what the batch trainer sees. Time-ordered, as every list here. */
  readonly training: readonly EvalEvent[];
  /** After the cut-off, before the test: what the realtime system streams. */
  readonly stream: readonly EvalEvent[];
  readonly test: readonly EvalEvent[];
  /** Users evaluated: at least `minTraining` training events and at least one test item; in order of first event. */
  readonly users: readonly string[];
  /** Per evaluated user: entities with a positive test event (full listen or LIKE) that the user had not touched before the test. */
  readonly testItems: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per evaluated user: every entity touched (any event) before the test; excluded from every method's list. */
  readonly seen: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per evaluated user: entities banned (and not unbanned) before the test. */
  readonly banned: ReadonlyMap<string, ReadonlySet<string>>;
  /** Users with at least `minTraining` training events (evaluated or not). */
  readonly trainedUsers: number;
  /** One line on where the cuts are. */
  readonly description: string;
}

export const SPLIT_FRACTIONS = Object.freeze({ training: 0.7, stream: 0.85 });
export const MIN_TRAINING_EVENTS = 5;

/**
 * Per-user time split: each user's events in time order; the first 70%
 * (rounded) are training, up to 85% stream, the rest test.
 */
export function perUserSplit(events: readonly EvalEvent[], minTraining = MIN_TRAINING_EVENTS): Split {
  const byUser = new Map<string, EvalEvent[]>();
  for (const e of events) (byUser.get(e.userId) ?? byUser.set(e.userId, []).get(e.userId)!).push(e);
  const part = new Map<EvalEvent, 0 | 1 | 2>();
  for (const list of byUser.values()) {
    const a = Math.round(SPLIT_FRACTIONS.training * list.length);
    const b = Math.round(SPLIT_FRACTIONS.stream * list.length);
    list.forEach((e, i) => part.set(e, i < a ? 0 : i < b ? 1 : 2));
  }
  return finish('per-user', events, (e) => part.get(e)!, minTraining, 'each user’s own events: first 70% training, next 15% stream, last 15% test');
}

/** Global time split: one cut for everybody at the 70% and 85% quantiles of event time. */
export function globalSplit(events: readonly EvalEvent[], minTraining = MIN_TRAINING_EVENTS): Split {
  const t1 = events[Math.floor(SPLIT_FRACTIONS.training * events.length)]!.timestamp;
  const t2 = events[Math.floor(SPLIT_FRACTIONS.stream * events.length)]!.timestamp;
  const iso = (t: number) => new Date(t).toISOString().slice(0, 10);
  return finish(
    'global',
    events,
    (e) => (e.timestamp < t1 ? 0 : e.timestamp < t2 ? 1 : 2),
    minTraining,
    `training before ${iso(t1)}, stream to ${iso(t2)}, test after`,
  );
}

function finish(protocol: ProtocolName, events: readonly EvalEvent[], partOf: (e: EvalEvent) => 0 | 1 | 2, minTraining: number, description: string): Split {
  const parts: [EvalEvent[], EvalEvent[], EvalEvent[]] = [[], [], []];
  const trainingCount = new Map<string, number>();
  const seen = new Map<string, Set<string>>();
  const banned = new Map<string, Set<string>>();
  for (const e of events) {
    const p = partOf(e);
    parts[p].push(e);
    if (p === 0) trainingCount.set(e.userId, (trainingCount.get(e.userId) ?? 0) + 1);
    if (p === 2) continue;
    (seen.get(e.userId) ?? seen.set(e.userId, new Set()).get(e.userId)!).add(e.entityId);
    const bans = banned.get(e.userId) ?? banned.set(e.userId, new Set()).get(e.userId)!;
    if (e.ban) bans.add(e.entityId);
    else if ('kind' in e.event && e.event.kind === 'UNBAN') bans.delete(e.entityId);
  }
  const testItems = new Map<string, Set<string>>();
  for (const e of parts[2]) {
    if (!e.positive || (trainingCount.get(e.userId) ?? 0) < minTraining) continue;
    if (seen.get(e.userId)?.has(e.entityId)) continue;
    (testItems.get(e.userId) ?? testItems.set(e.userId, new Set()).get(e.userId)!).add(e.entityId);
  }
  const users: string[] = [];
  const firstSeen = new Set<string>();
  for (const e of events) {
    if (firstSeen.has(e.userId)) continue;
    firstSeen.add(e.userId);
    if (testItems.has(e.userId)) users.push(e.userId);
  }
  let trainedUsers = 0;
  for (const n of trainingCount.values()) if (n >= minTraining) trainedUsers++;
  const empty = new Set<string>();
  const pick = (m: Map<string, Set<string>>) => new Map(users.map((u) => [u, m.get(u) ?? empty]));
  return {
    protocol,
    training: parts[0],
    stream: parts[1],
    test: parts[2],
    users,
    testItems,
    seen: pick(seen),
    banned: pick(banned),
    trainedUsers,
    description,
  };
}
