import { ConfigError, IllegalTransitionError, SnapshotValidationError } from '../../../../src/errors';
import { ENTITY_TYPES, EntityMatrixBuilder, entityTypeCode, parseEntityType } from '../../../../src/vectors/snapshot/entity-matrix';
import * as simd from '../../../../src/vectors/index/simd';
import { bytesOf, makeEntities, matrixOf } from './fixtures';

describe('EntityMatrix', () => {
  it('holds every row in one Float32Array, in insertion order, with ids and types', () => {
    const entities = makeEntities(10, 4);
    const m = matrixOf('s1', entities);
    expect(m.count).toBe(10);
    expect(m.dims).toBe(4);
    expect(m.data).toBeInstanceOf(Float32Array);
    expect(m.data.length).toBe(40);
    expect(m.byteLength).toBe(160);
    entities.forEach((e, r) => {
      expect(m.idAt(r)).toBe(e.entityId);
      expect(m.typeAt(r)).toBe(e.entityType);
      expect(m.rowOf(e.entityId)).toBe(r);
      expect(bytesOf(m.row(r))).toEqual(bytesOf(e.vector));
      expect(bytesOf(m.vectorOf(e.entityId)!)).toEqual(bytesOf(e.vector));
    });
    expect([...m].map((e) => e.entityId)).toEqual(entities.map((e) => e.entityId));
  });

  it('returns rows as views into the matrix buffer, not copies', () => {
    const m = matrixOf('s1', makeEntities(5, 3));
    const row = m.row(2);
    expect(row.buffer).toBe(m.data.buffer);
    expect(row.byteOffset).toBe(m.data.byteOffset + 2 * 3 * 4);
    expect(m.vectorOf('e2')!.buffer).toBe(m.data.buffer);
  });

  it('answers undefined for an unknown id and RangeError for a row outside it', () => {
    const m = matrixOf('s1', makeEntities(3, 2));
    expect(m.vectorOf('nope')).toBeUndefined();
    expect(m.rowOf('nope')).toBeUndefined();
    expect(m.has('e1')).toBe(true);
    for (const bad of [-1, 3, 1.5]) expect(() => m.row(bad)).toThrow(RangeError);
  });

  it('maps entity types to their Avro enum codes', () => {
    expect(ENTITY_TYPES.map(entityTypeCode)).toEqual([0, 1, 2, 3, 4]);
    expect(parseEntityType('ALBUM')).toBe('ALBUM');
    expect(parseEntityType('album')).toBeUndefined();
  });
});

/** The buffer a builder writes its rows into (private: what build() hands over or copies). */
const bufferOf = (builder: EntityMatrixBuilder) => (builder as unknown as { data: Float32Array }).data.buffer;

describe('EntityMatrixBuilder', () => {
  it('grows geometrically when no count is expected, and trims a mostly empty buffer', () => {
    const builder = new EntityMatrixBuilder({ snapshotId: 's', dims: 8 });
    expect(builder.capacity).toBe(1024);
    const entities = makeEntities(1025, 8);
    const capacities = new Set<number>();
    for (const e of entities) {
      builder.add(e.entityId, e.entityType, e.vector);
      capacities.add(builder.capacity);
    }
    expect([...capacities]).toEqual([1024, 2048]);
    const grown = bufferOf(builder);
    const m = builder.build();
    expect(m.data.length).toBe(1025 * 8);
    // Half the buffer unused: the matrix is copied to its exact size.
    expect(m.data.buffer).not.toBe(grown);
    expect(bytesOf(m.row(1024))).toEqual(bytesOf(entities[1024]!.vector));
  });

  it('allocates once for an expected count and builds without a copy', () => {
    const builder = new EntityMatrixBuilder({ snapshotId: 's', dims: 2, expectedCount: 3 });
    const allocated = bufferOf(builder);
    const entities = makeEntities(3, 2);
    for (const e of entities) builder.add(e.entityId, e.entityType, e.vector);
    expect(builder.capacity).toBe(3);
    const m = builder.build();
    expect(m.data.buffer).toBe(allocated);
    expect(m.data.length).toBe(3 * 2);
    expect(bytesOf(m.row(2))).toEqual(bytesOf(entities[2]!.vector));
  });

  it('puts the matrix in WebAssembly memory, where searches take SIMD inner products', () => {
    const m = matrixOf('s1', makeEntities(10, 4));
    expect(simd.kernelFor(m.data, 4)).toBeDefined();
    expect(simd.kernelFor(new Float32Array(40), 4)).toBeUndefined();
  });

  it.each([
    ['a duplicate id', (b: EntityMatrixBuilder) => b.add('a', 'TRACK', [1, 2]), "entity id 'a' appears twice: rows 0 and 1"],
    ['a vector of the wrong length', (b: EntityMatrixBuilder) => b.add('b', 'TRACK', [1, 2, 3]), "entity 'b' (row 1) has 3 values, expected dims=2"],
  ])('refuses %s', (_label, add, message) => {
    const b = new EntityMatrixBuilder({ snapshotId: 's', dims: 2 });
    b.add('a', 'TRACK', [0, 0]);
    expect(() => add(b)).toThrow(SnapshotValidationError);
    expect(() => add(b)).toThrow(message);
  });

  it('refuses invalid options and use after build', () => {
    expect(() => new EntityMatrixBuilder({ snapshotId: 's', dims: 0 })).toThrow(ConfigError);
    expect(() => new EntityMatrixBuilder({ snapshotId: 's', dims: 2, expectedCount: -1 })).toThrow(ConfigError);
    const b = new EntityMatrixBuilder({ snapshotId: 's', dims: 2 });
    b.build();
    expect(() => b.add('a', 'TRACK', [1, 2])).toThrow(IllegalTransitionError);
    expect(() => b.build()).toThrow(IllegalTransitionError);
  });
});
