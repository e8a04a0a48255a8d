/**
 * What a listen costs as a user's consumed set grows: the parts of a
 * user-vector update whose work grows with it (reading and writing the
 * state, the candidate request's whole consumed set) and the candidates
 * topology's reading of that set, timed one at a time on this thread.
 *
 * The end-to-end benchmarks draw users with a few listens each, whose sets
 * hold a handful of hashes; the most active listeners, who send the most
 * events, hold up to DEFAULT_CONSUMED_CAPACITY (10,000). The anchor is the
 * light user (50 consumed entities) of the same run.
 *
 * `npm run bench:heavy-users` (`tsx bench/heavy-users.ts`). Needs no stack.
 */
import { loadavg } from 'node:os';
import { consumedLookup, emptyConsumed, encodeConsumed, mergedConsumed } from '../src/vectors/consumed';
import { DecayedModel } from '../src/vectors/models/decayed';
import type { ListenEvent } from '../src/vectors/records';
import { decodeUserState, encodeUserState } from '../src/vectors/user-state-serde';
import { applyEvent, newUserState, type Space, type UserState } from '../src/vectors/user-state';
import { machine } from './common';

const SIZES = [50, 1_000, 5_000, 9_000];
const DIMS = 128;
const ROUNDS = Number(process.env.HEAVY_ROUNDS ?? 3000);

/** Mean µs of `f` over ROUNDS calls, after as many unmeasured (so that the JIT has compiled it). */
function micros(f: () => unknown): number {
  for (let i = 0; i < ROUNDS; i++) f();
  const t = process.hrtime.bigint();
  for (let i = 0; i < ROUNDS; i++) f();
  return Number(process.hrtime.bigint() - t) / ROUNDS / 1000;
}

function main(): void {
  const vector = Float32Array.from({ length: DIMS }, (_, i) => Math.sin(i));
  const model = new DecayedModel({ dims: DIMS });
  const space: Space = { id: 's1', model, vectorOf: () => vector };
  const entity = (i: number) => `spotify:track:${i.toString(36).padStart(22, '0')}`;
  console.log(
    `${machine()}; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}; ${ROUNDS} calls each`,
  );
  console.log(
    "consumed | state bytes | read the state and apply a listen | the request's consumed set | write the state | candidates read the set | all (µs) | ÷ light user",
  );
  let light = 0;
  for (const size of SIZES) {
    // A listener who has heard `size` tracks: its history (bound 200) and seen event ids (bound 64) as full as that makes them.
    const s: UserState = newUserState('user-0042');
    let t = 1_764_460_000_000;
    for (let i = 0; i < size; i++) {
      const e: ListenEvent = {
        eventId: `ev-${i}`,
        userId: s.userId,
        entityId: entity(i),
        msPlayed: 180_000,
        durationMs: 200_000,
        context: 'radio',
        timestamp: (t += 60_000),
      };
      applyEvent(s, e, [space]);
    }
    const bytes = encodeUserState(s);
    const request = encodeConsumed(mergedConsumed(s.consumed ?? emptyConsumed()));
    let n = 0;
    const next = (): ListenEvent => ({
      eventId: `next-${n}`,
      userId: s.userId,
      entityId: entity(1_000_000 + n++),
      msPlayed: 180_000,
      durationMs: 200_000,
      context: 'radio',
      timestamp: t + n,
    });
    const parts = [
      // On a fresh copy each time: the listen adds a new entity to the set, as most listens of a heavy user do.
      micros(() => applyEvent(decodeUserState(bytes), next(), [space])),
      micros(() => encodeConsumed(mergedConsumed(s.consumed!))),
      micros(() => encodeUserState(s)),
      micros(() => consumedLookup(request)),
    ];
    const all = parts.reduce((a, b) => a + b, 0);
    if (size === SIZES[0]) light = all;
    const consumed = (s.consumed?.current.length ?? 0) + (s.consumed?.previous.length ?? 0);
    console.log(`${consumed} | ${bytes.length} | ${parts.map((p) => p.toFixed(1)).join(' | ')} | ${all.toFixed(1)} | ${(all / light).toFixed(1)}`);
  }
}

main();
