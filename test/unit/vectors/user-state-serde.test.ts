import fc from 'fast-check';
import { StateDecodeError } from '../../../src/errors';
import { typedJsonSerde } from '../../../src/runtime/serde/typed-json';
import { addConsumed, emptyConsumed, hasConsumed } from '../../../src/vectors/consumed';
import { DecayedModel } from '../../../src/vectors/models/decayed';
import { FoldInModel, gramMatrix } from '../../../src/vectors/models/fold-in';
import type { ListenEvent } from '../../../src/vectors/records';
import { decodeUserState, encodeUserState, USER_STATE_FORMAT, userStateSerde } from '../../../src/vectors/user-state-serde';
import { applyEvent, newUserState, type Space, type UserState } from '../../../src/vectors/user-state';
import { mulberry32 } from '../../support/random';

const DIMS = 16;
const r = mulberry32(7);
const entities = new Map(Array.from({ length: 300 }, (_, i) => [`spotify:track:${i}`, Float32Array.from({ length: DIMS }, () => r() * 2 - 1)]));
const vectorOf = (id: string) => entities.get(id);
const decayed: Space = { id: 'snap-decayed', model: new DecayedModel({ dims: DIMS }), vectorOf };
const flat = new Float32Array([...entities.values()].flatMap((v) => [...v]));
const foldIn: Space = { id: 'snap-fold-in', model: new FoldInModel({ gram: gramMatrix(flat, entities.size, DIMS) }), vectorOf };

/** A user after `n` listens (and a ban), as the user-vectors topology keeps them, in both models' spaces. */
function userAfter(n: number): UserState {
  const s = newUserState('user-42');
  const ids = [...entities.keys()];
  for (let i = 0; i < n; i++) {
    const e: ListenEvent = {
      eventId: `evt-2026-11-30-${i}`,
      userId: 'user-42',
      entityId: ids[(i * 37) % ids.length]!,
      msPlayed: 1000 + ((i * 7919) % 200_000),
      durationMs: 200_000,
      context: 'radio',
      timestamp: 1_764_460_000_000 + i * 60_000 - (i % 5) * 90_000,
    };
    applyEvent(s, e, [decayed, foldIn]);
  }
  applyEvent(s, { eventId: 'ban-1', userId: 'user-42', entityId: ids[3]!, kind: 'BAN', surface: 'home', timestamp: 1_764_460_000_000 + n * 60_000 }, [
    decayed,
    foldIn,
  ]);
  return s;
}

const json = typedJsonSerde<UserState>();

describe('user state serde', () => {
  it.each([1, 20, 250])('gives back the same state after %i listens, in fewer bytes than JSON', (n) => {
    const s = userAfter(n);
    const bytes = encodeUserState(s);
    expect(bytes[0]).toBe(USER_STATE_FORMAT);
    const back = decodeUserState(bytes);
    expect(back).toEqual(s);
    // The vector the model computes from the decoded state is the same, to the bit.
    expect(decayed.model.vector(back.spaces[decayed.id])).toEqual(decayed.model.vector(s.spaces[decayed.id]));
    expect(bytes.length).toBeLessThan(json.serialize(s).length * 0.75);
  });

  it('reads a state written as JSON by earlier versions (old changelogs restore)', () => {
    const s = userAfter(30);
    const old = json.serialize(s);
    expect(old[0]).toBe('{'.charCodeAt(0));
    const back = userStateSerde().deserialize(old);
    expect(back).toEqual(s);
    expect(hasConsumed(back.consumed!, s.history.items[0]!.entityId)).toBe(true);
    // ... and writes it back in binary: the next commit converts the user.
    expect(decodeUserState(userStateSerde().serialize(back))).toEqual(s);
  });

  it('reads a JSON state from before consumed sets were kept', () => {
    const { consumed: _consumed, ...old } = userAfter(3);
    const back = decodeUserState(json.serialize(old as UserState));
    expect(back.consumed).toBeUndefined();
    expect(back).toEqual(old);
    expect(decodeUserState(encodeUserState(back))).toEqual(old);
  });

  it.each([
    ['an empty value', Buffer.alloc(0), /the value is empty/],
    ['a newer format', Buffer.from([USER_STATE_FORMAT + 1, 0]), /format version 2 is unknown here/],
    ['truncated bytes', encodeUserState(userAfter(5)).subarray(0, 40), /truncated/],
    ['bytes left over', Buffer.concat([encodeUserState(userAfter(2)), Buffer.from([0])]), /left over/],
    ['broken JSON', Buffer.from('{"userId":'), /JSON of an earlier version/],
  ])('rejects %s with StateDecodeError', (_what, bytes, message) => {
    expect(() => decodeUserState(bytes)).toThrow(StateDecodeError);
    expect(() => decodeUserState(bytes)).toThrow(message);
  });

  it('decode(encode(s)) is s for any state (property)', () => {
    const text = fc.string({ unit: 'grapheme', maxLength: 12 });
    const num = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 2 ** 53, -(2 ** 60), 1e300, Math.fround(0.1)), fc.maxSafeInteger());
    const time = fc.oneof(fc.integer({ min: 0, max: 4e12 }), fc.double({ min: -1e13, max: 1e13, noNaN: true }));
    const typed = fc.oneof(
      fc.float64Array({ maxLength: 20 }),
      fc.float32Array({ maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 10 }).map((a) => Uint32Array.from(a)),
      fc.int32Array({ maxLength: 10 }),
      fc.uint8Array({ maxLength: 10 }),
    );
    const { plain } = fc.letrec<{ plain: unknown }>((tie) => ({
      plain: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        num,
        text,
        fc.constantFrom(null, true, false),
        typed,
        fc.array(tie('plain'), { maxLength: 4 }),
        fc.dictionary(text, tie('plain'), { maxKeys: 4 }),
      ),
    }));
    const hashes = fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 50 }).map((a) => Uint32Array.from(a));
    const entity = fc.constantFrom('e1', 'e2', 'spotify:track:9', 'ünïcode-😀', '');
    const state = fc.record(
      {
        userId: text,
        history: fc.record({
          capacity: fc.integer({ min: 1, max: 500 }),
          items: fc.array(fc.record({ entityId: entity, weight: num, timestamp: time }), { maxLength: 30 }),
        }),
        spaces: fc.dictionary(text, plain, { maxKeys: 3 }),
        banned: fc.array(entity, { maxLength: 5 }),
        recent: fc.array(fc.oneof(entity, text), { maxLength: 10 }),
        consumed: fc.record({ current: hashes, previous: hashes }),
        seen: fc.array(
          fc.oneof(
            text,
            fc.nat().map((i) => `ev${i}`),
            fc.constantFrom('a😀b', 'a😁b', '😀'),
          ),
          { maxLength: 20 },
        ),
        eventCount: fc.nat(),
        version: fc.maxSafeNat(),
        updatedAt: time,
      },
      { requiredKeys: ['userId', 'history', 'spaces', 'banned', 'recent', 'seen', 'eventCount', 'version', 'updatedAt'] },
    );
    fc.assert(
      fc.property(state, (s) => {
        const back = decodeUserState(encodeUserState(s as UserState));
        expect(back).toEqual(s);
        // toEqual does not tell -0 from 0 in every position: the numbers must be the same, bit for bit.
        expect(Object.is(back.updatedAt, s.updatedAt)).toBe(true);
        back.history.items.forEach((it, i) => expect(Object.is(it.weight, s.history.items[i]!.weight)).toBe(true));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a field it does not know yet', () => {
    const s = { ...userAfter(2), tier: 'premium', flags: { beta: true } } as UserState;
    expect(decodeUserState(encodeUserState(s))).toEqual(s);
  });

  it('keeps a full consumed set in about 3 bytes an entity', () => {
    const s = newUserState('heavy');
    for (let i = 0; i < 4999; i++) s.consumed = addConsumed(s.consumed ?? emptyConsumed(), `spotify:track:${i}`);
    const bytes = encodeUserState(s);
    expect(bytes.length).toBeLessThan(4999 * 3.2); // raw: 4 bytes; typed JSON: 5.3
    expect(decodeUserState(bytes)).toEqual(s);
  });
});
