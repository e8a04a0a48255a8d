import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotValidationError } from '../../../../src/errors';
import type { EntityType, SnapshotManifest } from '../../../../src/vectors/records';
import { snapshotChecksum } from '../../../../src/vectors/snapshot/checksum';
import { ENTITY_TYPES, EntityMatrixBuilder, type EntityMatrix, type SnapshotEntity } from '../../../../src/vectors/snapshot/entity-matrix';

/**
 * Deterministic pseudo-random floats in [-1, 1) (xorshift32). Integer
 * operators only: under jest every global lookup (`Math.*`) in a hot loop
 * costs an interceptor call in the test's vm context.
 */
export function random(seed: number): () => number {
  let a = (seed * 0x9e3779b1) | 0 || 1;
  return () => {
    a ^= a << 13;
    a ^= a >>> 17;
    a ^= a << 5;
    return (a >>> 0) / 2147483648 - 1;
  };
}

/** `n` entities of `dims` values, ids `e0..`, types cycling through every type. */
export function makeEntities(n: number, dims: number, seed = 1): SnapshotEntity[] {
  const next = random(seed);
  return Array.from({ length: n }, (_, i) => ({
    entityId: `e${i}`,
    entityType: ENTITY_TYPES[i % ENTITY_TYPES.length] as EntityType,
    vector: Float32Array.from({ length: dims }, next),
  }));
}

export function matrixOf(snapshotId: string, entities: SnapshotEntity[]): EntityMatrix {
  const builder = new EntityMatrixBuilder({ snapshotId, dims: entities[0]!.vector.length, expectedCount: entities.length });
  for (const e of entities) builder.add(e.entityId, e.entityType, e.vector);
  return builder.build();
}

export function manifestFor(snapshotId: string, entities: SnapshotEntity[], overrides: Partial<SnapshotManifest> = {}): SnapshotManifest {
  return {
    snapshotId,
    model: 'als',
    dims: entities[0]!.vector.length,
    count: entities.length,
    checksum: snapshotChecksum(entities),
    createdAt: 1_700_000_000_000,
    params: { lambda: '0.1', alpha: '40' },
    ...overrides,
  };
}

/** A fresh temporary folder per test file; `cleanup()` in afterAll. */
export function tempDir(): { path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'vectors-snapshot-'));
  return { path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes the three binary files by hand, for files no writer would produce. */
export async function writeRawBinary(base: string, files: { header: object; idLines: string[]; floats: Float32Array | Buffer }): Promise<void> {
  await writeFile(`${base}.json`, JSON.stringify(files.header));
  await writeFile(`${base}.ids`, files.idLines.map((l) => `${l}\n`).join(''));
  const f = files.floats;
  await writeFile(`${base}.f32`, Buffer.isBuffer(f) ? f : Buffer.from(f.buffer, f.byteOffset, f.byteLength));
}

/** Expects a SnapshotValidationError whose message contains every fragment. */
export async function expectSnapshotError(run: () => unknown, fragments: string[]): Promise<SnapshotValidationError> {
  let thrown: unknown;
  try {
    await run();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(SnapshotValidationError);
  for (const f of fragments) expect((thrown as Error).message).toContain(f);
  return thrown as SnapshotValidationError;
}

/** The raw bytes of a float array, to compare bit for bit (-0, NaN payloads). */
export const bytesOf = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
