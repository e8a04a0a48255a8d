import { IllegalTransitionError, SnapshotValidationError } from '../../../../src/errors';
import type { SnapshotManifest } from '../../../../src/vectors/records';
import { snapshotChecksum } from '../../../../src/vectors/snapshot/checksum';
import { EntityMatrixBuilder, type SnapshotEntity } from '../../../../src/vectors/snapshot/entity-matrix';
import { SnapshotValidator, validateEntities, validateMatrix } from '../../../../src/vectors/snapshot/validate';
import { expectSnapshotError, makeEntities, manifestFor } from './fixtures';

const SNAPSHOT = 'als-7';
const DIMS = 4;

/** A valid snapshot of 6 entities, fresh for every case. */
function valid(): SnapshotEntity[] {
  return makeEntities(6, DIMS, 3);
}

type Case = [label: string, change: (e: SnapshotEntity[], m: SnapshotManifest) => SnapshotManifest | void, fragments: string[]];

/** Each case breaks a valid snapshot (its data, or the manifest the data is checked against) in one way. */
const failures: Case[] = [
  ['NaN', (e) => void (e[2]!.vector[3] = Number.NaN), ["entity 'e2' (row 2)", 'NaN at index 3', 'finite']],
  ['+Infinity', (e) => void (e[4]!.vector[0] = Infinity), ["entity 'e4' (row 4)", 'Infinity at index 0']],
  ['-Infinity', (e) => void (e[5]!.vector[1] = -Infinity), ["entity 'e5'", '-Infinity at index 1']],
  ['too few values', (e) => void (e[1] = { ...e[1]!, vector: new Float32Array(3) }), ["entity 'e1' (row 1) has 3 values, expected dims=4"]],
  ['too many values', (e) => void (e[0] = { ...e[0]!, vector: new Float32Array(5) }), ["entity 'e0' (row 0) has 5 values, expected dims=4"]],
  ['a duplicate id', (e) => void (e[4] = { ...e[4]!, entityId: 'e1' }), ["entity id 'e1' appears twice: rows 1 and 4"]],
  ['an empty id', (e) => void (e[3] = { ...e[3]!, entityId: '' }), ['the entity at row 3 has an empty entityId']],
  ['an id with a tab', (e) => void (e[3] = { ...e[3]!, entityId: 'a\tb' }), ['"a\\tb" (row 3) contains a tab']],
  ['an id with an unpaired surrogate', (e) => void (e[3] = { ...e[3]!, entityId: 'a\uD800' }), ['(row 3)', 'unpaired surrogate']],
  ['one entity missing (count mismatch)', (e) => void e.pop(), ['the manifest says count=6, but the data has 5 entities']],
  ['one entity too many (count mismatch)', (e) => void e.push({ ...e[0]!, entityId: 'e6' }), ['the manifest says count=6', "'e6' (row 6) is one too many"]],
  ['a checksum mismatch', (_e, m) => ({ ...m, checksum: '0'.repeat(64) }), ['checksum mismatch', `says ${'0'.repeat(64)}`]],
  ['a reordered snapshot (checksum mismatch)', (e) => void e.reverse(), ['checksum mismatch']],
  ['a manifest of another snapshot', (_e, m) => ({ ...m, snapshotId: 'als-8' }), ["the manifest is for snapshot 'als-8'"]],
  ['a manifest with other dims', (_e, m) => ({ ...m, dims: 5 }), ['the manifest says dims=5, but the data was read with dims=4']],
  ['an invalid manifest', (_e, m) => ({ ...m, checksum: 'nope' }), ['its manifest is invalid', 'checksum must be 64 lowercase hex']],
];

describe('SnapshotValidator', () => {
  it('accepts a valid snapshot and reports its count and checksum', () => {
    const entities = valid();
    const manifest = manifestFor(SNAPSHOT, entities);
    expect(validateEntities(manifest, entities)).toEqual({ count: 6, checksum: snapshotChecksum(entities) });
  });

  it.each(failures)('rejects %s, naming the problem', async (_label, change, fragments) => {
    const entities = valid();
    const original = manifestFor(SNAPSHOT, entities);
    // The validator is built from the original manifest (as a loader does on STAGED); the data or the final manifest differ.
    const manifest = change(entities, original) ?? original;
    const validator = SnapshotValidator.forManifest(original);
    const error = await expectSnapshotError(() => {
      for (const e of entities) validator.accept(e.entityId, e.vector);
      validator.finish(manifest);
    }, fragments);
    expect(error.message).toContain(`snapshot '${SNAPSHOT}' is invalid`);
    expect(error.code).toBe('VEC_ERR_SNAPSHOT_INVALID');
  });

  it('names where the entity was read', async () => {
    const v = new SnapshotValidator({ snapshotId: SNAPSHOT, dims: 2, location: (row) => `offset ${row + 100} of partition 3` });
    v.accept('ok', Float32Array.of(1, 2));
    await expectSnapshotError(() => v.accept('x', Float32Array.of(1, Number.NaN)), ["entity 'x' (row 1, offset 101 of partition 3) has NaN at index 1"]);
  });

  it('without a manifest, reports count and checksum for building one', () => {
    const entities = valid();
    const v = new SnapshotValidator({ snapshotId: SNAPSHOT, dims: DIMS });
    for (const e of entities) v.accept(e.entityId, e.vector);
    expect(v.finish()).toEqual({ count: 6, checksum: snapshotChecksum(entities) });
  });

  it('can use the matrix builder being filled as its id index', async () => {
    const builder = new EntityMatrixBuilder({ snapshotId: SNAPSHOT, dims: 2 });
    const v = new SnapshotValidator({ snapshotId: SNAPSHOT, dims: 2, seen: builder });
    for (const id of ['a', 'b']) {
      v.accept(id, Float32Array.of(1, 2));
      builder.add(id, 'TRACK', Float32Array.of(1, 2));
    }
    await expectSnapshotError(() => v.accept('a', Float32Array.of(1, 2)), ["entity id 'a' appears twice: rows 0 and 2"]);
  });

  it('refuses to be used after a failure or after finish', () => {
    const failed = new SnapshotValidator({ snapshotId: SNAPSHOT, dims: 1 });
    expect(() => failed.accept('', Float32Array.of(1))).toThrow(SnapshotValidationError);
    expect(() => failed.accept('a', Float32Array.of(1))).toThrow(IllegalTransitionError);
    const finished = new SnapshotValidator({ snapshotId: SNAPSHOT, dims: 1 });
    finished.finish();
    expect(() => finished.finish()).toThrow(IllegalTransitionError);
  });
});

describe('validateMatrix', () => {
  it('accepts a valid matrix and rejects a NaN the builder let through', async () => {
    const entities = valid();
    const manifest = manifestFor(SNAPSHOT, entities);
    const builder = new EntityMatrixBuilder({ snapshotId: SNAPSHOT, dims: DIMS });
    entities.forEach((e) => builder.add(e.entityId, e.entityType, e.vector));
    const matrix = builder.build();
    expect(validateMatrix(manifest, matrix)).toEqual({ count: 6, checksum: manifest.checksum });
    (matrix.data as Float32Array)[2 * DIMS + 1] = Number.NaN;
    await expectSnapshotError(() => validateMatrix(manifest, matrix), ["entity 'e2' (row 2) has NaN at index 1"]);
  });
});
