/**
 * The seeded event stream of a chaos run: good listens and feedback of a
 * fixed population of users, probe events (one probe user per partition, to
 * time recovery), and poison records. The same seed gives the same events.
 *
 * What keeps the reference exact (see checks.ts):
 * - event times rise with every event (t0 + sequence number), so each user's
 *   interactions arrive in time order and a snapshot's shadow computation
 *   from the history (`fromHistory`, a replay of `update` in time order)
 *   gives bit for bit what the incremental updates give;
 * - no user gets more interactions than the history holds
 *   (DEFAULT_HISTORY_CAPACITY), so the shadow sees every one;
 * - feedback users ('f…') get BAN and UNBAN only, which move no vector: their
 *   vector depends on their listens alone, whose order is one partition's,
 *   while the interleaving of their listens and feedback (two topics) is not
 *   fixed and only their final state is compared;
 * - misrouted users ('m…') have every listen produced to one wrong
 *   partition, so the runtime reroutes all of them, in order.
 */
import { partitionForKey } from '../../src/runtime/partitioner';
import { DEFAULT_HISTORY_CAPACITY } from '../../src/vectors/history';
import type { FeedbackEvent, ListenEvent } from '../../src/vectors/records';
import { mulberry32 } from '../support/random';

export type UserKind = 'u' | 'f' | 'm' | 'p';

export interface GoodEvent {
  topic: 'listens' | 'feedback';
  key: string;
  value: ListenEvent | FeedbackEvent;
  /** Set for records produced to another partition than murmur2(key). */
  partition?: number;
}

export interface GeneratorOptions {
  seed: number;
  users: number;
  entities: number;
  partitions: number;
  /** Event time of the first event. */
  t0: number;
}

interface UserInfo {
  id: string;
  kind: UserKind;
  events: number;
  interactions: number;
  banned: string[];
  /** Where all of a misrouted user's records go. */
  wrongPartition?: number;
}

/** Interactions a user may get: below the history's capacity, so a shadow computation sees all of them. */
const MAX_INTERACTIONS = DEFAULT_HISTORY_CAPACITY - 10;

export class EventGenerator {
  private readonly rng: () => number;
  private readonly users: UserInfo[] = [];
  private readonly byId = new Map<string, UserInfo>();
  private readonly probes: UserInfo[] = [];
  private seq = 0;

  constructor(readonly o: GeneratorOptions) {
    this.rng = mulberry32(o.seed ^ 0x5eed);
    const pad = (i: number) => String(i).padStart(5, '0');
    for (let i = 0; i < o.users; i++) {
      const r = i % 20;
      const kind: UserKind = r < 16 ? 'u' : r < 19 ? 'f' : 'm';
      const id = `${kind}${pad(i)}`;
      const info: UserInfo = { id, kind, events: 0, interactions: 0, banned: [] };
      if (kind === 'm') {
        const right = partitionForKey(Buffer.from(id), o.partitions);
        info.wrongPartition = (right + 1 + Math.floor(this.rng() * (o.partitions - 1))) % o.partitions;
      }
      this.users.push(info);
      this.byId.set(id, info);
    }
    // One probe user per partition: a fresh event on each, then waiting for its output, times recovery everywhere.
    for (let p = 0, n = 0; p < o.partitions; n++) {
      const id = `p${p}-${n}`;
      if (partitionForKey(Buffer.from(id), o.partitions) !== p) continue;
      const info: UserInfo = { id, kind: 'p', events: 0, interactions: 0, banned: [] };
      this.probes.push(info);
      this.byId.set(id, info);
      p++;
      n = -1;
    }
  }

  get probeUsers(): string[] {
    return this.probes.map((p) => p.id);
  }

  kindOf(userId: string): UserKind | undefined {
    return this.byId.get(userId)?.kind;
  }

  /** Events of `userId` generated so far (its latest version once all are applied). */
  eventsOf(userId: string): number {
    return this.byId.get(userId)?.events ?? 0;
  }

  /** The next good event of a random user. */
  next(): GoodEvent {
    for (;;) {
      const u = this.users[Math.floor(this.rng() * this.users.length)]!;
      if (u.interactions >= MAX_INTERACTIONS) continue;
      if (u.kind === 'f' && this.rng() < 0.4) return this.feedback(u);
      return this.listen(u);
    }
  }

  /** A listen of every probe user. */
  probeRound(): GoodEvent[] {
    return this.probes.filter((p) => p.interactions < MAX_INTERACTIONS).map((p) => this.listen(p));
  }

  private entity(u: UserInfo): string {
    // Each user mostly listens around one cluster of the snapshot (clusteredSnapshot puts e_i in cluster i % 8).
    const home = hash(u.id) % 8;
    const cluster = this.rng() < 0.7 ? home : Math.floor(this.rng() * 8);
    const n = Math.floor(this.rng() * Math.floor(this.o.entities / 8));
    return `e${n * 8 + cluster}`;
  }

  private listen(u: UserInfo): GoodEvent {
    const seq = this.seq++;
    const durationMs = 180_000 + Math.floor(this.rng() * 60_000);
    const r = this.rng();
    // Full listens, partial plays and skips: positive and negative weights.
    const msPlayed = r < 0.7 ? durationMs : r < 0.85 ? Math.floor(durationMs * (0.2 + 0.5 * this.rng())) : Math.floor(durationMs * 0.05);
    const value: ListenEvent = {
      eventId: `l${seq}`,
      userId: u.id,
      entityId: this.entity(u),
      msPlayed,
      durationMs,
      context: 'chaos',
      timestamp: this.o.t0 + seq,
    };
    u.events++;
    u.interactions++;
    return { topic: 'listens', key: u.id, value, ...(u.wrongPartition !== undefined ? { partition: u.wrongPartition } : {}) };
  }

  private feedback(u: UserInfo): GoodEvent {
    const seq = this.seq++;
    let kind: FeedbackEvent['kind'] = 'BAN';
    let entityId = this.entity(u);
    if (u.banned.length && this.rng() < 0.4) {
      kind = 'UNBAN';
      entityId = u.banned.splice(Math.floor(this.rng() * u.banned.length), 1)[0]!;
    } else if (!u.banned.includes(entityId)) u.banned.push(entityId);
    u.events++;
    const value: FeedbackEvent = { eventId: `f${seq}`, userId: u.id, entityId, kind, surface: 'chaos', timestamp: this.o.t0 + seq };
    return { topic: 'feedback', key: u.id, value };
  }
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The kinds of poison the suite produces, and the dead-letter code each must get. */
export const POISON_KINDS = {
  'not-avro': 'VEC_ERR_WIRE_FORMAT',
  'foreign-schema': 'VEC_ERR_SCHEMA_RESOLUTION',
  'invalid-record': 'VEC_ERR_RECORD_INVALID',
  oversize: 'VEC_ERR_WIRE_FORMAT',
  'far-future': 'VEC_ERR_EVENT_TIME',
} as const;
export type PoisonKind = keyof typeof POISON_KINDS;

/** Just under the broker's default max.message.bytes: the broker takes it, a dead-letter copy with headers does not fit whole. */
export const OVERSIZE_BYTES = 1_048_490;
