import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import type { SnapshotManifest } from '../../../../src/vectors/records';
import { snapshotChecksum } from '../../../../src/vectors/snapshot/checksum';
import type { SnapshotEntity } from '../../../../src/vectors/snapshot/entity-matrix';
import {
  BINARY_FORMAT,
  binarySnapshotPaths,
  readBinarySnapshot,
  readJsonlSnapshot,
  readSnapshotFile,
  writeBinarySnapshot,
  writeJsonlSnapshot,
  type LoadedSnapshot,
  type ReadSnapshotOptions,
} from '../../../../src/vectors/snapshot/formats';
import { bytesOf, expectSnapshotError, makeEntities, manifestFor, matrixOf, tempDir, writeRawBinary } from './fixtures';

const dir = tempDir();
afterAll(() => dir.cleanup());

const SNAPSHOT = 'als-2024.06.01';

/** Entities with the values a format is most likely to get wrong. */
function awkwardEntities(): SnapshotEntity[] {
  const entities = makeEntities(40, 6, 11);
  const edge = [-0, 1e-45 /* smallest subnormal */, 3.4028234663852886e38 /* max float32 */, -1.1754943508222875e-38, 0.1, 1 / 3];
  entities[0] = { entityId: 'Beyoncé 🎵 "quoted" \\ back', entityType: 'ARTIST', vector: Float32Array.from(edge) };
  entities[1] = { entityId: 'spotify:track:4uLU6hMCjMI75M1A2tKUQC', entityType: 'TRACK', vector: Float32Array.from(edge).reverse() };
  return entities;
}

function expectSameSnapshot(loaded: LoadedSnapshot, entities: SnapshotEntity[]): void {
  const { matrix } = loaded;
  expect(matrix.count).toBe(entities.length);
  expect([...matrix.ids]).toEqual(entities.map((e) => e.entityId));
  expect(entities.map((_, r) => matrix.typeAt(r))).toEqual(entities.map((e) => e.entityType));
  const expected = Buffer.concat(entities.map((e) => bytesOf(e.vector)));
  expect(bytesOf(matrix.data).equals(expected)).toBe(true);
  expect(loaded.checksum).toBe(snapshotChecksum(entities));
}

type Format = {
  name: string;
  path: (name: string) => string;
  write: typeof writeJsonlSnapshot;
  read: (path: string, options?: ReadSnapshotOptions) => Promise<LoadedSnapshot>;
};
const formats: Format[] = [
  { name: 'JSONL', path: (n) => dir.path(`${n}.jsonl`), write: writeJsonlSnapshot, read: readJsonlSnapshot },
  { name: 'binary', path: (n) => dir.path(n), write: writeBinarySnapshot, read: readBinarySnapshot },
  {
    name: 'binary read in chunks smaller than a row',
    path: (n) => dir.path(`${n}-chunked`),
    write: writeBinarySnapshot,
    read: (p, o) => readBinarySnapshot(p, { ...o, chunkBytes: 10 }),
  },
  {
    name: 'binary read in chunks of several rows and a bit',
    path: (n) => dir.path(`${n}-chunked2`),
    write: writeBinarySnapshot,
    read: (p, o) => readBinarySnapshot(p, { ...o, chunkBytes: 7 * 24 + 5 }),
  },
];

describe.each(formats)('$name format', ({ path, write, read }) => {
  it('round-trips every id, type and float bit for bit, and validates against the manifest', async () => {
    const entities = awkwardEntities();
    const manifest = manifestFor(SNAPSHOT, entities);
    const p = path('roundtrip');
    const written = await write(p, entities, { snapshotId: SNAPSHOT });
    expect(written).toMatchObject({ count: 40, checksum: manifest.checksum });
    const loaded = await read(p, { manifest });
    expectSameSnapshot(loaded, entities);
    expect(loaded.matrix.snapshotId).toBe(SNAPSHOT);
    await expect(readSnapshotFile(p, { manifest })).resolves.toMatchObject({ checksum: manifest.checksum });
  });

  it('writes a matrix and reads it back without a manifest, reporting count and checksum', async () => {
    const entities = makeEntities(25, 3, 5);
    const p = path('from-matrix');
    await write(p, matrixOf(SNAPSHOT, entities));
    const loaded = await read(p);
    expectSameSnapshot(loaded, entities);
    expect(loaded.count).toBe(25);
  });

  it('refuses to write an entity type its reader would refuse', async () => {
    const entities = makeEntities(3, 2);
    (entities[1] as { entityType: string }).entityType = 'SONG';
    await expectSnapshotError(() => write(path('bad-type'), entities), ['entity \'e1\' (row 1) has entityType "SONG"']);
  });

  it('refuses to write an invalid snapshot and leaves no file behind', async () => {
    const entities = makeEntities(5, 3);
    entities[3]!.vector[2] = Number.NaN;
    const p = path('invalid');
    await expectSnapshotError(() => write(p, entities, { snapshotId: SNAPSHOT }), ["entity 'e3' (row 3) has NaN at index 2"]);
    const leftovers = [p, ...Object.values(binarySnapshotPaths(p))].filter((f) => existsSync(f));
    expect(leftovers).toEqual([]);
  });
});

describe('the same snapshot in both formats', () => {
  it('has one checksum, from the writers, the readers and memory alike', async () => {
    const entities = awkwardEntities();
    const viaJsonl = await writeJsonlSnapshot(dir.path('same.jsonl'), entities, { snapshotId: SNAPSHOT });
    const viaBinary = await writeBinarySnapshot(dir.path('same'), entities, { snapshotId: SNAPSHOT });
    const sums = [
      viaJsonl.checksum,
      viaBinary.checksum,
      (await readJsonlSnapshot(dir.path('same.jsonl'))).checksum,
      (await readBinarySnapshot(dir.path('same'))).checksum,
      snapshotChecksum(entities),
    ];
    expect(new Set(sums).size).toBe(1);
  });
});

describe('JSONL', () => {
  const line = (id: string, vector: unknown[], type: string | undefined = 'TRACK') =>
    JSON.stringify({ entityId: id, entityType: type, vector }).replace(/"__RAW__(.*?)"/g, '$1');
  const ok = (i: number) => line(`t${i}`, [i, i + 0.5, -i]);
  const manifest3 = (checksum = '0'.repeat(64)): SnapshotManifest => ({
    snapshotId: 's3',
    model: 'als',
    dims: 3,
    count: 3,
    checksum,
    createdAt: 0,
    params: {},
  });

  it('skips blank lines, takes CRLF and defaults the type to OTHER', async () => {
    const p = dir.path('loose.jsonl');
    await writeFile(p, `${ok(1)}\r\n\r\n${JSON.stringify({ entityId: 'x', vector: [1, 2, 3] })}\r\n   \n${ok(2)}`);
    const { matrix } = await readJsonlSnapshot(p);
    expect([...matrix.ids]).toEqual(['t1', 'x', 't2']);
    expect(matrix.typeAt(1)).toBe('OTHER');
  });

  it('does not preallocate a manifest count the file cannot hold', async () => {
    const p = dir.path('short.jsonl');
    await writeFile(p, `${ok(1)}\n`);
    await expectSnapshotError(
      () => readJsonlSnapshot(p, { manifest: { ...manifest3(), count: 1e12 } }),
      ['the manifest says count=1000000000000, but the data has 1 entities'],
    );
  });

  it('reads an empty file as an empty snapshot only when told the dims', async () => {
    const p = dir.path('empty.jsonl');
    await writeFile(p, '\n');
    await expectSnapshotError(() => readJsonlSnapshot(p), ['holds no entities']);
    expect((await readJsonlSnapshot(p, { dims: 4 })).count).toBe(0);
  });

  /**
   * Line 2 of a 3-line file is replaced; every message must name line 2 (or the whole file, for the checksum).
   * `options = {}` keeps the test function's arity at 3: jest would take a 4th parameter for `done`.
   */
  it.each<[string, string, string[], ReadSnapshotOptions?]>([
    ['invalid JSON', '{"entityId": "t2", "vector": [1, 2,', ['line 2 of', 'is not valid JSON']],
    ['a line that is not an object', '[1, 2, 3]', ['line 2 of', 'is not a JSON object']],
    ['a missing id', '{"vector": [1, 2, 3]}', ['line 2 of', 'entityId must be a string']],
    ['an empty id', line('', [1, 2, 3]), ['line 2 of', 'empty entityId']],
    ['a missing vector', '{"entityId": "t2"}', ['line 2 of', `entity 't2' has no "vector" array`]],
    ['an unknown type', line('t2', [1, 2, 3], 'SONG'), ['line 2 of', 'entity \'t2\' has entityType "SONG"', 'TRACK, ARTIST']],
    ['a string value', line('t2', [1, '2', 3]), ['line 2 of', `entity 't2' has "2" at index 1`]],
    ['a null value', line('t2', [1, 2, null]), ['line 2 of', "entity 't2' has null at index 2"]],
    ['Infinity (1e999 in JSON)', line('t2', [1, '__RAW__1e999', 3]), ["entity 't2' (row 1, line 2 of", 'Infinity at index 1']],
    ['a value outside float32', line('t2', [1, 2, '__RAW__-1e39']), ['line 2 of', "entity 't2' has -1e+39 at index 2, outside the float32 range"]],
    ['wrong dims', line('t2', [1, 2]), ["entity 't2' (row 1, line 2 of", 'has 2 values, expected dims=3']],
    ['a duplicate id', ok(1), ["entity id 't1' appears twice: rows 0 and 1 (row 1, line 2 of"]],
    [
      'another snapshot id',
      JSON.stringify({ snapshotId: 'other', entityId: 't2', vector: [1, 2, 3] }),
      ['line 2 of', 'names snapshot "other"'],
      { snapshotId: 's3' },
    ],
    ['a checksum mismatch with the manifest', ok(2), ['checksum mismatch'], { manifest: manifest3() }],
  ])('rejects %s', async (_label, second, fragments, options = {}) => {
    const p = dir.path('bad.jsonl');
    await writeFile(p, [ok(1), second, ok(3)].join('\n'));
    await expectSnapshotError(() => readJsonlSnapshot(p, options), fragments);
  });

  it('rejects a count that differs from the manifest, both ways', async () => {
    const p = dir.path('count.jsonl');
    await writeFile(p, [ok(1), ok(2)].join('\n'));
    await expectSnapshotError(() => readJsonlSnapshot(p, { manifest: manifest3() }), ['the manifest says count=3, but the data has 2 entities']);
    await writeFile(p, [ok(1), ok(2), ok(3), ok(4)].join('\n'));
    await expectSnapshotError(() => readJsonlSnapshot(p, { manifest: manifest3() }), ["'t4' (row 3, line 4 of", 'one too many']);
  });
});

describe('binary', () => {
  const floats = (...rows: number[][]) => Float32Array.from(rows.flat());
  const header = (over: object = {}) => ({ format: BINARY_FORMAT, version: 1, dims: 2, count: 3, ...over });
  const ids = ['a\tTRACK', 'b\tALBUM', 'c'];
  const good = floats([1, 2], [3, 4], [5, 6]);

  it('writes the documented files', async () => {
    const base = dir.path('documented');
    const entities = makeEntities(2, 2);
    const { checksum, paths } = await writeBinarySnapshot(`${base}.f32`, entities, { snapshotId: SNAPSHOT });
    expect(paths).toEqual({ header: `${base}.json`, vectors: `${base}.f32`, ids: `${base}.ids` });
    expect(JSON.parse(await readFile(paths.header, 'utf8'))).toEqual({
      format: 'vectors-snapshot-f32',
      version: 1,
      dims: 2,
      count: 2,
      snapshotId: SNAPSHOT,
      checksum,
    });
    expect(await readFile(paths.ids, 'utf8')).toBe('e0\tTRACK\ne1\tARTIST\n');
    const f32 = await readFile(paths.vectors);
    expect(f32.length).toBe(16);
    expect(f32.readFloatLE(12)).toBe(entities[1]!.vector[1]);
  });

  it('names the snapshot in the header only when the writer was told it', async () => {
    const { paths } = await writeBinarySnapshot(dir.path('anonymous'), makeEntities(2, 2));
    expect(JSON.parse(await readFile(paths.header, 'utf8'))).not.toHaveProperty('snapshotId');
  });

  it('reads hand-written files with and without types', async () => {
    const base = dir.path('hand');
    await writeRawBinary(base, { header: header(), idLines: ids, floats: good });
    const { matrix } = await readBinarySnapshot(base);
    expect([...matrix.ids]).toEqual(['a', 'b', 'c']);
    expect([matrix.typeAt(0), matrix.typeAt(1), matrix.typeAt(2)]).toEqual(['TRACK', 'ALBUM', 'OTHER']);
    expect(Array.from(matrix.row(2))).toEqual([5, 6]);
  });

  it.each<[string, Parameters<typeof writeRawBinary>[1], string[]]>([
    ['NaN in the floats', { header: header(), idLines: ids, floats: floats([1, 2], [3, NaN], [5, 6]) }, ["entity 'b' (row 1, line 2 of", 'NaN at index 1']],
    [
      'Infinity in the floats',
      { header: header(), idLines: ids, floats: floats([1, 2], [3, 4], [-Infinity, 6]) },
      ["entity 'c' (row 2", '-Infinity at index 0'],
    ],
    ['a duplicate id', { header: header(), idLines: ['a', 'b', 'a'], floats: good }, ["entity id 'a' appears twice: rows 0 and 2 (row 2, line 3 of"]],
    ['an empty id line', { header: header(), idLines: ['a', '', 'c'], floats: good }, ['row 1, line 2 of', 'empty entityId']],
    ['an unknown type', { header: header(), idLines: ['a', 'b\tSONG', 'c'], floats: good }, ['line 2 of', 'entity \'b\' has type "SONG"']],
    ['floats written with other dims', { header: header({ dims: 3 }), idLines: ids, floats: good }, ['has 24 bytes, but count × dims × 4 = 3 × 3 × 4 = 36']],
    ['a truncated .f32', { header: header(), idLines: ids, floats: floats([1, 2], [3, 4], [5]) }, ['has 20 bytes', '= 24', 'truncated']],
    ['fewer ids than count', { header: header(), idLines: ['a', 'b'], floats: good }, ['has 2 lines, but the header says count=3']],
    ['more ids than count', { header: header(), idLines: [...ids, 'd'], floats: good }, ['has more than count=3 lines']],
    [
      'a header of another format',
      { header: header({ format: 'npy', version: 2 }), idLines: ids, floats: good },
      ['format must be "vectors-snapshot-f32"', 'version must be 1'],
    ],
    [
      'a header checksum the data does not match',
      { header: header({ checksum: 'f'.repeat(64) }), idLines: ids, floats: good },
      ['checksum mismatch: header', 'changed after the header was written'],
    ],
  ])('rejects %s', async (_label, files, fragments) => {
    const base = dir.path('bad');
    await writeRawBinary(base, files);
    await expectSnapshotError(() => readBinarySnapshot(base), fragments);
  });

  it.each<[string, (m: SnapshotManifest) => SnapshotManifest, string[]]>([
    ['another count', (m) => ({ ...m, count: 4 }), ['header', 'says count=3, the manifest says count=4']],
    ['other dims', (m) => ({ ...m, dims: 3 }), ['says dims=2, the manifest says dims=3']],
    ['another snapshot', (m) => ({ ...m, snapshotId: 'other' }), ["is for snapshot 'hand-1', not 'other'"]],
    ['another checksum', (m) => ({ ...m, checksum: '1'.repeat(64) }), ['checksum mismatch: the manifest says 1111']],
  ])('rejects files that disagree with the manifest: %s', async (_label, change, fragments) => {
    const base = dir.path('manifested');
    await writeRawBinary(base, { header: header({ snapshotId: 'hand-1' }), idLines: ids, floats: good });
    const manifest: SnapshotManifest = {
      snapshotId: 'hand-1',
      model: 'als',
      dims: 2,
      count: 3,
      createdAt: 0,
      params: {},
      checksum: snapshotChecksum([0, 1, 2].map((r) => ({ entityId: 'abc'[r]!, vector: good.subarray(r * 2, r * 2 + 2) }))),
    };
    expect((await readBinarySnapshot(base, { manifest })).count).toBe(3);
    await expectSnapshotError(() => readBinarySnapshot(base, { manifest: change(manifest) }), fragments);
  });

  it('detects one float changed after writing', async () => {
    const entities = makeEntities(10, 4);
    const { paths } = await writeBinarySnapshot(dir.path('tampered'), entities, { snapshotId: SNAPSHOT });
    const f32 = await readFile(paths.vectors);
    f32.writeFloatLE(f32.readFloatLE(4 * 21) + 0.25, 4 * 21);
    await writeFile(paths.vectors, f32);
    await expectSnapshotError(() => readBinarySnapshot(paths.header), ['checksum mismatch: header']);
    await expectSnapshotError(() => readBinarySnapshot(paths.header, { manifest: manifestFor(SNAPSHOT, entities) }), ['checksum mismatch: the manifest says']);
  });
});
