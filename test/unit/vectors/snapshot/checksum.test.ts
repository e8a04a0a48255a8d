import { createHash } from 'node:crypto';
import { IllegalTransitionError } from '../../../../src/errors';
import { CHECKSUM_PATTERN, SnapshotChecksum, snapshotChecksum } from '../../../../src/vectors/snapshot/checksum';
import { makeEntities, matrixOf } from './fixtures';

/** The definition of checksum.ts written out independently, one entity per hash update. */
function reference(entities: { entityId: string; vector: ArrayLike<number> }[]): string {
  const hash = createHash('sha256');
  for (const { entityId, vector } of entities) {
    const id = Buffer.from(entityId, 'utf8');
    const head = Buffer.alloc(4);
    head.writeUInt32LE(id.length);
    const body = Buffer.alloc(4 + vector.length * 4);
    body.writeUInt32LE(vector.length, 0);
    for (let i = 0; i < vector.length; i++) body.writeFloatLE(vector[i]!, 4 + i * 4);
    hash.update(Buffer.concat([head, id, body]));
  }
  return hash.digest('hex');
}

const f32 = (...values: number[]) => Float32Array.from(values);

describe('snapshot checksum', () => {
  it('matches the published definition (golden value computed with Python struct + hashlib)', () => {
    const entities = [
      { entityId: 't1', vector: f32(1, 2, -0.5) },
      { entityId: 'Beyoncé 🎵', vector: f32(-0, 0.1, 3.4e38) },
    ];
    const golden = '7a176f94c9ad6a4b04385ef6a2cb1104579355061410855dffef5b1e9d0b6897';
    expect(snapshotChecksum(entities)).toBe(golden);
    expect(reference(entities)).toBe(golden);
  });

  it('hashes an empty snapshot to SHA-256 of nothing', () => {
    expect(snapshotChecksum([])).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it.each([
    ['small vectors batched many to a buffer', 3000, 16],
    ['vectors larger than the batch buffer', 3, 20_000],
    ['a mix around the buffer size', 40, 4090],
  ])('streams %s to the same digest as the reference', (_label, n, dims) => {
    const entities = makeEntities(n, dims, n);
    expect(snapshotChecksum(entities)).toBe(reference(entities));
    expect(snapshotChecksum(matrixOf('s', entities))).toBe(reference(entities));
  });

  const base = makeEntities(50, 8, 7);
  const baseSum = snapshotChecksum(base);
  const copy = () => base.map((e) => ({ ...e, vector: Float32Array.from(e.vector) }));

  it.each<[string, () => { entityId: string; vector: Float32Array }[]]>([
    [
      'one float moves by one ulp',
      () => {
        const c = copy();
        const bits = new Uint32Array(c[17]!.vector.buffer);
        bits[3]! += 1;
        return c;
      },
    ],
    [
      '0 becomes -0',
      () => {
        const c = copy();
        c[0]!.vector[0] = 0;
        const zero = snapshotChecksum(c);
        c[0]!.vector[0] = -0;
        expect(snapshotChecksum(c)).not.toBe(zero);
        return c;
      },
    ],
    [
      'two entities swap places',
      () => {
        const c = copy();
        [c[3], c[4]] = [c[4]!, c[3]!];
        return c;
      },
    ],
    ['an id changes', () => copy().map((e, i) => (i === 9 ? { ...e, entityId: 'e9x' } : e))],
    ['the id/vector boundary moves', () => copy().map((e, i) => (i === 0 ? { ...e, entityId: 'e' } : e))],
    ['an entity is dropped', () => copy().slice(1)],
  ])('changes when %s', (_label, mutate) => {
    const mutated = mutate();
    const sum = snapshotChecksum(mutated);
    expect(sum).toMatch(CHECKSUM_PATTERN);
    expect(sum).not.toBe(baseSum);
  });

  it('ignores entity types (they are not part of the definition)', () => {
    expect(snapshotChecksum(copy().map((e) => ({ ...e, entityType: 'OTHER' })))).toBe(baseSum);
  });

  it('refuses updates after the digest', () => {
    const sum = new SnapshotChecksum().update('a', f32(1));
    expect(sum.count).toBe(1);
    sum.digest();
    expect(() => sum.update('b', f32(1))).toThrow(IllegalTransitionError);
    expect(() => sum.digest()).toThrow(IllegalTransitionError);
  });
});
