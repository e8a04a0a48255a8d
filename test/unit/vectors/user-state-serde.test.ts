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
    const hashes = fc.oneof(
      fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 50 }).map((a) => Uint32Array.from(a)),
      // Ascending, as consumed sets keep them (the encoder's delta path).
      fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 50 }).map((a) => Uint32Array.from(a).sort()),
    );
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

  it('writes format 1 byte for byte as it always has (stored states and changelogs stay readable)', () => {
    // Non-ASCII and long ids, a -0 weight, a NaN time, a '__proto__' space, an unknown field: the slow paths too.
    const s = {
      userId: 'usér-😀',
      history: {
        capacity: 3,
        items: [
          { entityId: 'e1', weight: 1.5, timestamp: 1_764_460_000_000 },
          { entityId: 'ü'.repeat(70), weight: -0, timestamp: NaN },
        ],
      },
      spaces: JSON.parse('{"snap": 0, "__proto__": 0}') as Record<string, unknown>,
      banned: ['e1'],
      recent: ['e1', 'ü'.repeat(70)],
      consumed: { current: new Uint32Array([5, 300]), previous: new Uint32Array([9, 2]) },
      seen: ['evt-10', 'evt-11', 'other'],
      eventCount: 2,
      version: 3,
      updatedAt: 1_764_460_000_000.5,
      shadowed: ['snap'],
    };
    s.spaces.snap = { sum: new Float64Array([0.1, -2]), refTime: 1_764_460_000_000, count: 2 };
    Object.defineProperty(s.spaces, '__proto__', {
      value: { v: new Float32Array([1.5]), n: null, ok: true, list: ['x', 2] },
      enumerable: true,
      writable: true,
      configurable: true,
    });
    // Written by the encoder before its fast paths (session 15); a change here breaks every stored state.
    const expected = [
      '010a7573c3a9722df09f98801018010008302f20ad7942020265318c01c3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3',
      'bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3',
      'bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3',
      'bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bcc3bc180200020000c03f80b0de80e99a0301010000000000000080030000000000',
      '00f87f02000101000300066576742d313005013100056f7468657201020005a7020201120d0204736e617007030373756d08',
      '109a9999999999b93f00000000000000c00772656654696d650480b0de80e99a0305636f756e740410095f5f70726f746f5f',
      '5f0704017609040000c03f016e01026f6b03046c69737406020501780410070108736861646f77656406010504736e6170',
    ].join('');
    const bytes = encodeUserState(s as unknown as UserState);
    expect(bytes.toString('hex')).toBe(expected);
    expect(decodeUserState(Buffer.from(expected, 'hex'))).toEqual(s);
    expect(Object.getPrototypeOf(decodeUserState(bytes).spaces)).toBe(Object.prototype);
  });

  it('writes ascending hashes as varuint deltas of every length, reads them back, and refuses them cut short', () => {
    // Deltas at each varint length's edges (1 to 5 bytes), staying under 2^32 in sum.
    const deltas = [0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 5, 2 ** 31, 0];
    const ascending = Uint32Array.from(deltas.map((_, i) => deltas.slice(0, i + 1).reduce((a, b) => a + b, 0)));
    // The definition of a varuint, spelled out independently of the encoder: 7 bits a byte, low first.
    const varuint = (v: number): string => {
      let hex = '';
      for (; v >= 0x80; v = Math.floor(v / 0x80)) hex += ((v % 0x80) | 0x80).toString(16).padStart(2, '0');
      return hex + v.toString(16).padStart(2, '0');
    };
    const s = { ...newUserState('u'), consumed: { current: ascending, previous: new Uint32Array(0) } };
    const bytes = encodeUserState(s);
    const hashesHex = varuint(ascending.length) + '00' + deltas.map(varuint).join('');
    expect(bytes.toString('hex')).toContain(hashesHex);
    expect(decodeUserState(bytes)).toEqual(s);
    const at = bytes.toString('hex').indexOf(hashesHex) / 2;
    for (let cut = at + 2; cut < at + hashesHex.length / 2; cut++) {
      expect(() => decodeUserState(bytes.subarray(0, cut))).toThrow(StateDecodeError);
    }
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
