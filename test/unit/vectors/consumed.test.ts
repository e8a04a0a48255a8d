import fc from 'fast-check';
import { addConsumed, consumedLookup, consumedSize, emptyConsumed, encodeConsumed, hasConsumed, mergedConsumed } from '../../../src/vectors/consumed';
import { typedJsonSerde } from '../../../src/runtime/serde/typed-json';
import type { ConsumedSet } from '../../../src/vectors/consumed';

const fill = (ids: string[], capacity?: number) => ids.reduce((s, id) => addConsumed(s, id, capacity), emptyConsumed());

describe('consumed set', () => {
  it('holds every id added, and no other (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 300 }), fc.string({ minLength: 13, maxLength: 14 }), (ids, other) => {
        const set = fill(ids);
        for (const id of ids) expect(hasConsumed(set, id)).toBe(true);
        expect(hasConsumed(set, other)).toBe(false);
        expect(consumedSize(set)).toBe(ids.length);
        const merged = mergedConsumed(set);
        expect([...merged]).toEqual([...merged].sort((a, b) => a - b));
        const lookup = consumedLookup(encodeConsumed(merged));
        for (const id of ids) expect(lookup.has(id)).toBe(true);
        expect(lookup.has(other)).toBe(false);
      }),
    );
  });

  it('merges the two generations into one sorted array, a hash in both once, and writes 4 bytes a hash', () => {
    // Capacity 8: generations of 4; 'a' is then in both.
    const set = fill(['a', 'b', 'c', 'd', 'a', 'e'], 8);
    expect([set.previous.length, set.current.length]).toEqual([4, 2]);
    const merged = mergedConsumed(set);
    expect([...merged]).toEqual([...new Set([...set.previous, ...set.current])].sort((x, y) => x - y));
    const bytes = encodeConsumed(merged);
    expect([...merged].map((_, i) => bytes.readUInt32LE(i * 4))).toEqual([...merged]);
    expect(bytes.length).toBe(5 * 4);
  });

  it('merges generations of any sizes, overlapping or not, as a sorted union (property)', () => {
    const sorted = fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { maxLength: 60 }).map((a) => Uint32Array.from(a).sort());
    fc.assert(
      fc.property(sorted, sorted, fc.nat({ max: 20 }), (current, previous, shared) => {
        // Some hashes in both generations, as after a generation turns over.
        const both = Uint32Array.from(new Set([...current, ...previous.subarray(0, shared)])).sort();
        const set = { current: both, previous };
        const union = [...new Set([...both, ...previous])].sort((a, b) => a - b);
        const merged = mergedConsumed(set);
        expect([...merged]).toEqual(union);
        const bytes = encodeConsumed(merged);
        expect(union.map((_, i) => bytes.readUInt32LE(i * 4))).toEqual(union);
        // A view that does not start its buffer is encoded from its own first element.
        const tail = encodeConsumed(merged.subarray(1));
        expect(union.slice(1).map((_, i) => tail.readUInt32LE(i * 4))).toEqual(union.slice(1));
        // A request's bytes at any offset inside a larger buffer, as a decoded record's are.
        const inRecord = Buffer.concat([Buffer.from([1, 2, 3]), bytes]).subarray(3);
        const lookup = consumedLookup(inRecord);
        expect(lookup.size).toBe(union.length);
      }),
    );
  });

  it('adding an id twice changes nothing', () => {
    const set = fill(['a', 'b']);
    expect(addConsumed(set, 'a')).toBe(set);
  });

  it('keeps at least the last capacity/2 and at most capacity distinct ids', () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `track-${i}`);
    const set = fill(ids, 100);
    expect(consumedSize(set)).toBeGreaterThanOrEqual(50);
    expect(consumedSize(set)).toBeLessThanOrEqual(100);
    for (const id of ids.slice(-50)) expect(hasConsumed(set, id)).toBe(true);
    expect(hasConsumed(set, 'track-0')).toBe(false);
  });

  it('takes 4 bytes an entity and survives the state serde', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `spotify:track:${i.toString(36).padStart(22, '0')}`);
    const set = fill(ids);
    expect(encodeConsumed(mergedConsumed(set)).length).toBe(5000 * 4);
    const serde = typedJsonSerde<{ consumed: ConsumedSet }>();
    const back = serde.deserialize(serde.serialize({ consumed: set })).consumed;
    expect(back.current).toBeInstanceOf(Uint32Array);
    for (const id of ids) expect(hasConsumed(back, id)).toBe(true);
  });

  it('refuses bytes that are not whole uint32s', () => {
    expect(() => consumedLookup(Buffer.alloc(5))).toThrow(/5 bytes: expected whole little-endian uint32s/);
  });
});
