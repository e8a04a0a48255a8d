/**
 * What a chaos run checks, as pure functions over what the topics hold at the
 * end (read_committed) and the reference. Each figure says what a consumer
 * of the output would notice. Broker-free, so the checks themselves are
 * unit-tested (test/unit/chaos/checks.test.ts): a check that cannot fail
 * proves nothing.
 */
import { refreshDecision, type CandidateMark, type RefreshPolicy } from '../../src/vectors/candidate-refresh';
import { CANDIDATES_EF_SEARCH, searchCandidates } from '../../src/vectors/candidate-search';
import { consumedLookup } from '../../src/vectors/consumed';
import type { NeighbourIndex } from '../../src/vectors/index/ann-index';
import type { CandidateRequest, Candidates, SnapshotControl, UserVector } from '../../src/vectors/records';
import type { UserKind } from './generator';
import type { SnapshotRef } from './reference';

/** A decoded record with where it was. */
export type At<T> = T & { key: string; partition: number; offset: bigint };

/** What the generator produced per user: how many good events, and which kind of user. */
export type Expected = Map<string, { n: number; kind: UserKind }>;

export interface Diff {
  key: string;
  version: number;
  snapshotId: string;
  what: string;
  /** The output partition, where it helps to look at the log (repeated records). */
  partition?: number;
}

/**
 * One record repeated under exactly-once: where the repeat is and where its
 * first copy is (same partition; undefined when the record is out of order
 * rather than a copy). Used to tell repeats Kafka caused (markers it dropped,
 * see hanging.ts) from ours.
 */
export interface Repeat {
  partition: number;
  offset: bigint;
  firstOffset?: bigint;
}

/** Per partition, whether the snapshots of the records (offset order) follow `order` and never go back (I3). */
export function snapshotOrderViolations(records: { partition: number; snapshotId: string }[], order: string[]): { partitions: number[] } {
  const runs = new Map<number, string[]>();
  for (const r of records) {
    const seq = runs.get(r.partition) ?? runs.set(r.partition, []).get(r.partition)!;
    if (seq.at(-1) !== r.snapshotId) seq.push(r.snapshotId);
  }
  const bad: number[] = [];
  for (const [partition, seq] of runs) {
    let at = 0;
    for (const id of seq) {
      while (at < order.length && order[at] !== id) at++;
      if (at++ >= order.length) {
        bad.push(partition);
        break;
      }
    }
  }
  return { partitions: bad.sort((a, b) => a - b) };
}

function byUser<T extends { key: string; offset: bigint }>(records: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of records) (m.get(r.key) ?? m.set(r.key, []).get(r.key)!).push(r);
  for (const list of m.values()) list.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  return m;
}

const sameFloats = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

export interface UserVectorFigures {
  records: number;
  users: number;
  /** (user, version) pairs in 1..n never emitted, n the user's good events: an event not reflected. */
  lost: number;
  /** Exactly-once: a version emitted again or out of order. At-least-once these are {@link reEmitted}. */
  repeated: number;
  /** The {@link repeated} records, each with its first copy. */
  repeats: Repeat[];
  /**
   * Of {@link repeated}, those whose first copy was written in a transaction
   * whose commit markers the broker dropped (it logged so): Kafka's doing,
   * counted apart (set by the run from the broker's log and files).
   */
  repeatedKafkaDroppedMarkers?: number;
  /** At-least-once: records repeating a version already emitted (reprocessing after a crash). */
  reEmitted: number;
  /** Versions above n, or an eventCount above n: an event applied twice to the state. */
  overApplied: number;
  /** Records whose value is not the reference's for their (user, version, snapshot). */
  differs: number;
  /** Records of keys that are no good user (a poison record applied). */
  unexpectedKeys: number;
  /** Partitions whose snapshots go back (I3). */
  orderPartitions: number[];
  /** Users whose snapshots go back. */
  orderUsers: number;
  /** Users whose last record is not in the final snapshot although they had events after the switch settled. */
  notSwitched: number;
  examples: Diff[];
}

/**
 * Checks a user-vectors output topic. Every user's versions must be exactly
 * 1..n (n = its good events; all events come after S1 is active, so every
 * applied event emits), each record equal to the reference for its
 * (user, version, snapshot). For feedback users only the last record is
 * compared: their listens and feedback come from two topics whose
 * interleaving, and so the version numbering, is not fixed.
 */
export function checkUserVectors(
  records: At<UserVector>[],
  expected: Expected,
  refs: Map<string, SnapshotRef>,
  order: string[],
  exactlyOnce: boolean,
  /** Users that must end in the last snapshot of `order` (they had events well after it became active). */
  mustEndInLast: Set<string> = new Set(),
): UserVectorFigures {
  const f: UserVectorFigures = {
    records: records.length,
    users: 0,
    lost: 0,
    repeated: 0,
    repeats: [],
    reEmitted: 0,
    overApplied: 0,
    differs: 0,
    unexpectedKeys: 0,
    orderPartitions: [],
    orderUsers: 0,
    notSwitched: 0,
    examples: [],
  };
  const note = (d: Diff) => void (f.examples.length < 10 && f.examples.push(d));
  const users = byUser(records);
  f.users = users.size;
  for (const [user, list] of users) {
    const exp = expected.get(user);
    if (!exp) {
      f.unexpectedKeys += list.length;
      note({
        key: user,
        version: list[0]!.version,
        snapshotId: list[0]!.snapshotId,
        what: 'output for a key that is no good user (a poison record was applied)',
      });
      continue;
    }
    const seen = new Map<number, bigint>();
    let max = 0;
    let snapAt = 0;
    let backwards = false;
    for (const r of list) {
      if (seen.has(r.version) || r.version < max) {
        if (exactlyOnce) {
          f.repeated++;
          f.repeats.push({ partition: r.partition, offset: r.offset, ...(seen.has(r.version) ? { firstOffset: seen.get(r.version)! } : {}) });
          note({
            key: user,
            version: r.version,
            snapshotId: r.snapshotId,
            what: `version ${r.version} again after ${max} (offset ${r.offset})`,
            partition: r.partition,
          });
        } else f.reEmitted++;
      }
      if (r.version > exp.n || r.eventCount > exp.n) {
        f.overApplied++;
        note({
          key: user,
          version: r.version,
          snapshotId: r.snapshotId,
          what: `version ${r.version} / eventCount ${r.eventCount} above the ${exp.n} events of the user`,
        });
      }
      if (!seen.has(r.version)) seen.set(r.version, r.offset);
      max = Math.max(max, r.version);
      const idx = order.indexOf(r.snapshotId);
      if (idx < snapAt) backwards = true;
      snapAt = Math.max(snapAt, idx);
      const compare = exp.kind !== 'f' || r.version === exp.n;
      if (compare && r.version <= exp.n) {
        const ref = refs.get(r.snapshotId)?.vectors.get(user)?.get(r.version);
        const what = !ref
          ? `no reference record (snapshot ${r.snapshotId} unknown?)`
          : !sameFloats(ref.vector, r.vector)
            ? `vector differs (max |Δ| ${Math.max(...ref.vector.map((x, i) => Math.abs(x - (r.vector[i] ?? NaN)))).toExponential(2)})`
            : ref.eventCount !== r.eventCount
              ? `eventCount ${r.eventCount}, reference ${ref.eventCount}`
              : ref.updatedAt !== r.updatedAt
                ? `updatedAt ${r.updatedAt}, reference ${ref.updatedAt}`
                : undefined;
        if (what) {
          f.differs++;
          note({ key: user, version: r.version, snapshotId: r.snapshotId, what });
        }
      }
    }
    if (backwards) f.orderUsers++;
    for (let v = 1; v <= exp.n; v++) {
      if (!seen.has(v)) {
        f.lost++;
        if (f.examples.length < 10) note({ key: user, version: v, snapshotId: '-', what: `version ${v} of ${exp.n} never emitted` });
      }
    }
    if (mustEndInLast.has(user) && list.at(-1)!.snapshotId !== order.at(-1)) {
      f.notSwitched++;
      note({ key: user, version: list.at(-1)!.version, snapshotId: list.at(-1)!.snapshotId, what: `last record not in ${order.at(-1)}` });
    }
  }
  for (const [user, exp] of expected) {
    if (exp.n > 0 && !users.has(user)) {
      f.lost += exp.n;
      note({ key: user, version: 0, snapshotId: '-', what: `no output at all for ${exp.n} events` });
    }
  }
  f.orderPartitions = snapshotOrderViolations(records, order).partitions;
  return f;
}

export interface CandidateFigures {
  lists: number;
  users: number;
  /** Users whose last request earned a list (the refresh policy says so) that never came. */
  lost: number;
  /**
   * Users whose last request, of a snapshot the switch superseded, got no
   * list: by design (I3) a task answers no request of the old snapshot once
   * it switched, and when its switch came relative to the request is not
   * observable from the topics. Not counted as lost; shown for information.
   */
  supersededUnanswered: number;
  /** A list for a (snapshot, version) already answered, or for an older version than the last list (exactly-once). */
  repeated: number;
  /** The {@link repeated} lists, each with its first copy. */
  repeats: Repeat[];
  /** Of {@link repeated}, those Kafka caused: see {@link UserVectorFigures.repeatedKafkaDroppedMarkers}. */
  repeatedKafkaDroppedMarkers?: number;
  /** Lists whose items are not the reference top K for the request they answer. */
  differs: number;
  /** Lists compared with the never-killed reference's request (the rest, of feedback users, with the request as written). */
  comparedWithReference: number;
  orderPartitions: number[];
  orderUsers: number;
  examples: Diff[];
}

export interface CandidateCheckOptions {
  k: number;
  policy: RefreshPolicy;
  exactlyOnce: boolean;
}

/**
 * Checks the candidates topic against the requests it answered (the
 * candidate-requests topic as written) and the reference: every list must be
 * the exact top K of its request (from the reference's request where the
 * reference is exact), no list repeated, snapshots never going back, and
 * each user's last request answered unless the refresh policy says it need
 * not be.
 */
export function checkCandidates(
  lists: At<Candidates>[],
  requests: At<CandidateRequest>[],
  expected: Expected,
  refs: Map<string, SnapshotRef>,
  order: string[],
  o: CandidateCheckOptions,
): CandidateFigures {
  const f: CandidateFigures = {
    lists: lists.length,
    users: 0,
    lost: 0,
    supersededUnanswered: 0,
    repeated: 0,
    repeats: [],
    differs: 0,
    comparedWithReference: 0,
    orderPartitions: [],
    orderUsers: 0,
    examples: [],
  };
  const note = (d: Diff) => void (f.examples.length < 10 && f.examples.push(d));
  // Every copy of a request: a request repeated upstream (counted there) may differ from its first copy for a
  // feedback user, whose listens and feedback interleave differently when reprocessed; a list answering either is right.
  const realRequests = new Map<string, At<CandidateRequest>[]>();
  for (const r of requests) {
    const id = `${r.key}\u0000${r.snapshotId}\u0000${r.version}`;
    (realRequests.get(id) ?? realRequests.set(id, []).get(id)!).push(r);
  }
  const requestsByUser = byUser(requests);
  const listsByUser = byUser(lists);
  f.users = listsByUser.size;
  for (const [user, list] of listsByUser) {
    const exp = expected.get(user);
    const answered = new Map<string, bigint>();
    const lastIn = new Map<string, number>();
    let snapAt = 0;
    let backwards = false;
    for (const l of list) {
      const id = `${l.snapshotId}\u0000${l.userVectorVersion}`;
      if (answered.has(id) || l.userVectorVersion < (lastIn.get(l.snapshotId) ?? 0)) {
        if (o.exactlyOnce) {
          f.repeated++;
          f.repeats.push({ partition: l.partition, offset: l.offset, ...(answered.has(id) ? { firstOffset: answered.get(id)! } : {}) });
          note({
            key: user,
            version: l.userVectorVersion,
            snapshotId: l.snapshotId,
            what: `list repeated or older than the previous one (offset ${l.offset})`,
            partition: l.partition,
          });
        }
      }
      if (!answered.has(id)) answered.set(id, l.offset);
      lastIn.set(l.snapshotId, Math.max(lastIn.get(l.snapshotId) ?? 0, l.userVectorVersion));
      const idx = order.indexOf(l.snapshotId);
      if (idx < snapAt) backwards = true;
      snapAt = Math.max(snapAt, idx);

      const fromRef =
        exp && (exp.kind !== 'f' || l.userVectorVersion === exp.n) ? refs.get(l.snapshotId)?.requests.get(user)?.get(l.userVectorVersion) : undefined;
      const reqs = fromRef ? [fromRef] : (realRequests.get(`${user}\u0000${l.snapshotId}\u0000${l.userVectorVersion}`) ?? []);
      const space = refs.get(l.snapshotId)?.loaded;
      if (reqs.length === 0 || !space) {
        f.differs++;
        note({ key: user, version: l.userVectorVersion, snapshotId: l.snapshotId, what: 'a list for a request that was never made' });
        continue;
      }
      if (fromRef) f.comparedWithReference++;
      const wants = reqs.map((req) => referenceList(space.index, req, o.k));
      const same = wants.some(
        (want) => want.length === l.items.length && want.every((w, i) => w.id === l.items[i]!.entityId && Math.fround(w.score) === l.items[i]!.score),
      );
      if (!same) {
        const want = wants[0]!;
        f.differs++;
        note({
          key: user,
          version: l.userVectorVersion,
          snapshotId: l.snapshotId,
          what: `items differ from the reference top ${o.k} (first: ${l.items[0]?.entityId} vs ${want[0]?.id})`,
        });
      }
    }
    if (backwards) f.orderUsers++;
  }
  // The last request of every user: answered, or not due by the refresh policy given the last list.
  for (const [user, reqs] of requestsByUser) {
    const last = reqs.at(-1)!;
    const lastList = listsByUser.get(user)?.at(-1);
    if (lastList && lastList.snapshotId === last.snapshotId && lastList.userVectorVersion === last.version) continue;
    let mark: CandidateMark | undefined;
    if (lastList) {
      // The copy written last, as before requests could repeat.
      const answered = realRequests.get(`${user}\u0000${lastList.snapshotId}\u0000${lastList.userVectorVersion}`)?.at(-1);
      if (answered) mark = { snapshotId: answered.snapshotId, vector: answered.vector, version: answered.version, at: answered.at };
    }
    const decision = refreshDecision(last, mark, o.policy);
    if (decision === 'refresh' && last.snapshotId !== order.at(-1)) f.supersededUnanswered++;
    else if (decision === 'refresh') {
      f.lost++;
      note({
        key: user,
        version: last.version,
        snapshotId: last.snapshotId,
        what: `last request unanswered (last list: ${lastList ? `${lastList.snapshotId} v${lastList.userVectorVersion}` : 'none'})`,
      });
    }
  }
  f.orderPartitions = snapshotOrderViolations(lists, order).partitions;
  return f;
}

/**
 * The list the candidates bolt computes for a request, with its defaults
 * (exclude=consumed, efSearch CANDIDATES_EF_SEARCH): the same call as
 * CandidatesBolt.answer, so that any other list is a difference.
 */
export function referenceList(index: NeighbourIndex, req: Pick<CandidateRequest, 'vector' | 'banned' | 'recent' | 'consumed'>, k: number) {
  return searchCandidates(
    index,
    req.vector,
    k,
    req.banned,
    req.recent,
    CANDIDATES_EF_SEARCH,
    req.consumed.length > 0 ? consumedLookup(req.consumed) : undefined,
  );
}

/** A dead-letter record as read back: key, and its headers as strings. */
export interface DeadLetterSeen {
  key: string | null;
  headers: Record<string, string>;
}

export interface PoisonSent {
  kind: string;
  key: string;
  topic: string;
  partition: number;
  offset: string;
  expectedCode: string;
}

export interface DeadLetterFigures {
  records: number;
  byCode: Record<string, number>;
  /** Dead letters whose source is no poison record: a good record dead-lettered. */
  goodRecords: number;
  /** Poison records never dead-lettered. */
  missing: number;
  /** Extra copies of a poison record (exactly-once: must be none). */
  duplicates: number;
  /** Poison dead-lettered with another code than its kind's. */
  wrongCode: number;
  examples: string[];
}

/** Checks one application's dead-letter topic against the poison written to its inputs (`expected`; none for an application that reads no event topic). */
export function checkDeadLetters(dead: DeadLetterSeen[], expected: PoisonSent[]): DeadLetterFigures {
  const f: DeadLetterFigures = { records: dead.length, byCode: {}, goodRecords: 0, missing: 0, duplicates: 0, wrongCode: 0, examples: [] };
  const bySource = new Map(expected.map((p) => [`${p.topic}-${p.partition}@${p.offset}`, p]));
  const copies = new Map<string, number>();
  for (const d of dead) {
    const code = d.headers['dlq.error.code'] ?? '?';
    f.byCode[code] = (f.byCode[code] ?? 0) + 1;
    const source = `${d.headers['dlq.source.topic']}-${d.headers['dlq.source.partition']}@${d.headers['dlq.source.offset']}`;
    const p = bySource.get(source);
    if (!p) {
      f.goodRecords++;
      if (f.examples.length < 5)
        f.examples.push(`good record dead-lettered: key ${d.key} from ${source}: ${code} ${d.headers['dlq.error.message']?.slice(0, 200)}`);
      continue;
    }
    copies.set(source, (copies.get(source) ?? 0) + 1);
    if (code !== p.expectedCode) {
      f.wrongCode++;
      if (f.examples.length < 5) f.examples.push(`${p.kind} ${p.key}: ${code}, expected ${p.expectedCode}`);
    }
  }
  for (const [source, p] of bySource) {
    const n = copies.get(source) ?? 0;
    if (n === 0) {
      f.missing++;
      if (f.examples.length < 5) f.examples.push(`${p.kind} ${p.key} at ${source} never dead-lettered`);
    }
    if (n > 1) f.duplicates += n - 1;
  }
  return f;
}

export interface SwitchFigures {
  /** The snapshot active at the end. */
  active: string | null;
  /** I1: the pointer moved to a snapshot before every member partition reported READY for it. */
  earlyActivations: number;
  /** Snapshots that ended FAILED or were aborted. */
  failed: string[];
}

/** Checks the control log: each pointer move comes after every member partition's READY (I1); nothing failed. */
export function checkControlLog(entries: { key: string; value: SnapshotControl | null }[]): SwitchFigures {
  const members = new Map<string, number>();
  const ready = new Map<string, Set<string>>();
  const f: SwitchFigures = { active: null, earlyActivations: 0, failed: [] };
  for (const { key, value } of entries) {
    if (!value) continue;
    if (value.kind === 'MEMBER' && value.topology && value.partitions) members.set(value.topology, value.partitions);
    if (value.kind === 'REPORT' && value.phase === 'READY' && value.snapshotId) {
      (ready.get(value.snapshotId) ?? ready.set(value.snapshotId, new Set()).get(value.snapshotId)!).add(`${value.topology}/${value.partition}`);
    }
    if (key.startsWith('snapshot/') && value.snapshotId && (value.phase === 'FAILED' || value.kind === 'ABORT')) f.failed.push(value.snapshotId);
    if (key === 'active' && value.snapshotId && value.snapshotId !== f.active) {
      const got = ready.get(value.snapshotId) ?? new Set();
      for (const [topology, n] of members) for (let p = 0; p < n; p++) if (!got.has(`${topology}/${p}`)) f.earlyActivations++;
      f.active = value.snapshotId;
    }
  }
  return f;
}
