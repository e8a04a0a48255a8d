import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { asyncBufferFromFile, parquetMetadataAsync } from 'hyparquet';
import type { EntityType, SnapshotManifest } from '../../../../src/vectors/records';
import { snapshotChecksum } from '../../../../src/vectors/snapshot/checksum';
import type { SnapshotEntity } from '../../../../src/vectors/snapshot/entity-matrix';
import {
  readJsonlSnapshot,
  readSnapshotFile,
  writeJsonlSnapshot,
  type LoadedSnapshot,
  type ReadSnapshotOptions,
} from '../../../../src/vectors/snapshot/formats';
import { ParquetVectorReader, readParquetSnapshot } from '../../../../src/vectors/snapshot/parquet';
import { bytesOf, expectSnapshotError, manifestFor, random, tempDir } from './fixtures';
import { writeFactors, writeSparkDir, type FactorFileOptions, type FactorRows } from './parquet-fixtures';

const dir = tempDir();
afterAll(() => dir.cleanup());

const SNAPSHOT = 'als-items-2024.06.01';

/** ALS-like factors: int ids not in id order, values a format is likely to get wrong in the first row. */
function alsFactors(n: number, dims: number, seed = 3): { ids: number[]; vectors: Float32Array[] } {
  const next = random(seed);
  const ids = Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) + 1);
  const vectors = ids.map(() => Float32Array.from({ length: dims }, next));
  const edge = [-0, 1e-45 /* smallest subnormal */, 3.4028234663852886e38 /* max float32 */, -1.1754943508222875e-38, 0.1, 1 / 3];
  vectors[0] = Float32Array.from({ length: dims }, (_, i) => edge[i % edge.length]!);
  return { ids, vectors };
}

const entitiesOf = (rows: { ids: (number | string)[]; vectors: Float32Array[] }, type: EntityType = 'OTHER'): SnapshotEntity[] =>
  rows.ids.map((id, i) => ({ entityId: String(id), entityType: type, vector: rows.vectors[i]! }));

function expectSameSnapshot(loaded: LoadedSnapshot, entities: SnapshotEntity[]): void {
  const { matrix } = loaded;
  expect([...matrix.ids]).toEqual(entities.map((e) => e.entityId));
  expect(entities.map((_, r) => matrix.typeAt(r))).toEqual(entities.map((e) => e.entityType));
  expect(bytesOf(matrix.data).equals(Buffer.concat(entities.map((e) => bytesOf(e.vector))))).toBe(true);
  expect(loaded.checksum).toBe(snapshotChecksum(entities));
}

/** The checksum the JSONL reader computes for the same rows, written by the JSONL writer. */
async function jsonlChecksum(name: string, entities: SnapshotEntity[]): Promise<string> {
  const path = dir.path(`${name}.jsonl`);
  await writeJsonlSnapshot(path, entities);
  return (await readJsonlSnapshot(path)).checksum;
}

async function footer(path: string) {
  return parquetMetadataAsync(await asyncBufferFromFile(path));
}

describe('Spark ALS factors', () => {
  it('reads a snappy file of several row groups bit for bit, with the checksum of the same rows as JSONL', async () => {
    const rows = alsFactors(40, 6);
    const path = dir.path('item-factors.parquet');
    writeFactors(path, rows, { rowGroupSize: 7 });
    const meta = await footer(path);
    expect(meta.row_groups.length).toBe(6);
    expect(new Set(meta.row_groups.flatMap((g) => g.columns.map((c) => c.meta_data?.codec)))).toEqual(new Set(['SNAPPY']));

    const entities = entitiesOf(rows);
    const loaded = await readParquetSnapshot(path);
    expectSameSnapshot(loaded, entities);
    expect(loaded.count).toBe(40);
    expect(loaded.matrix.snapshotId).toBe('item-factors.parquet');
    expect(loaded.checksum).toBe(await jsonlChecksum('item-factors', entities));

    const manifest = manifestFor(SNAPSHOT, entities);
    await expect(readParquetSnapshot(path, { manifest })).resolves.toMatchObject({ count: 40, checksum: manifest.checksum });
    await expect(readSnapshotFile(path, { manifest })).resolves.toMatchObject({ checksum: manifest.checksum });
    const typed = await readSnapshotFile(path, { parquet: { entityType: 'TRACK' } });
    expect([typed.matrix.typeAt(0), typed.matrix.typeAt(39), typed.checksum]).toEqual(['TRACK', 'TRACK', manifest.checksum]);
  });

  it('reads an output directory: part files in name order, an empty part, _SUCCESS and .crc files skipped', async () => {
    const all = alsFactors(25, 4, 9);
    const part = (from: number, to: number) => ({ ids: all.ids.slice(from, to), vectors: all.vectors.slice(from, to) });
    const out = dir.path('factors.parquet');
    writeSparkDir(out, [part(0, 10), part(10, 10), part(10, 25)], { rowGroupSize: 4 });
    const entities = entitiesOf(all);
    const expected = await jsonlChecksum('factors-dir', entities);

    const loaded = await readSnapshotFile(out, { snapshotId: SNAPSHOT });
    expectSameSnapshot(loaded, entities);
    expect(loaded.checksum).toBe(expected);
    expect(loaded.matrix.snapshotId).toBe(SNAPSHOT);

    // A directory not named *.parquet is read as Parquet too.
    const plain = dir.path('factors-out');
    writeSparkDir(plain, [part(0, 25)]);
    expect((await readSnapshotFile(plain)).checksum).toBe(expected);
  });

  it('reads an empty file only when told the dims', async () => {
    const path = dir.path('empty.parquet');
    writeFactors(path, { ids: [], vectors: [] });
    await expectSnapshotError(() => readParquetSnapshot(path), ['empty.parquet holds no entities', 'give the expected dims']);
    const loaded = await readParquetSnapshot(path, { dims: 8 });
    expect([loaded.count, loaded.matrix.dims, loaded.checksum]).toEqual([0, 8, snapshotChecksum([])]);
  });
});

describe('column layouts', () => {
  const v = (...xs: number[]) => Float32Array.from(xs);
  const base = { ids: [10, 11, 12], vectors: [v(1, 2, 3), v(-4.5, 5, 6), v(7, 8, 1 / 3)] };

  /** [label, rows as written, file options, read options, ids and types expected] */
  it.each<[string, FactorRows, FactorFileOptions, ReadSnapshotOptions['parquet'], string[], EntityType[]]>([
    [
      'string ids in a column named vector',
      { ...base, ids: ['t:a', 't:é🎵', 't:c'] },
      { idType: 'STRING', vectorColumn: 'vector' },
      {},
      ['t:a', 't:é🎵', 't:c'],
      ['OTHER', 'OTHER', 'OTHER'],
    ],
    [
      'INT64 ids beyond 2^53',
      { ...base, ids: [9007199254740993n, -1n, 0n] },
      { idType: 'INT64' },
      {},
      ['9007199254740993', '-1', '0'],
      ['OTHER', 'OTHER', 'OTHER'],
    ],
    ['an id column named entityId', base, { idColumn: 'entityId' }, {}, ['10', '11', '12'], ['OTHER', 'OTHER', 'OTHER']],
    [
      'an entityType column, a null getting the default',
      { ...base, types: ['TRACK', null, 'ALBUM'] },
      {},
      { entityType: 'ARTIST' },
      ['10', '11', '12'],
      ['TRACK', 'ARTIST', 'ALBUM'],
    ],
    ['one type for all rows', base, {}, { entityType: 'TRACK' }, ['10', '11', '12'], ['TRACK', 'TRACK', 'TRACK']],
    [
      'columns named by options',
      { ...base, types: ['TRACK', 'ALBUM', null] },
      { idColumn: 'item', vectorColumn: 'factors', typeColumn: 'kind' },
      { idColumn: 'item', vectorColumn: 'factors', entityTypeColumn: 'kind' },
      ['10', '11', '12'],
      ['TRACK', 'ALBUM', 'OTHER'],
    ],
    ['other columns, ignored', { ...base, types: ['x', 'y', 'z'] }, { typeColumn: 'kind' }, {}, ['10', '11', '12'], ['OTHER', 'OTHER', 'OTHER']],
    ['an uncompressed file', base, { codec: 'UNCOMPRESSED' }, {}, ['10', '11', '12'], ['OTHER', 'OTHER', 'OTHER']],
    ['a gzip file', base, { codec: 'GZIP', compressors: { GZIP: (b) => gzipSync(b) } }, {}, ['10', '11', '12'], ['OTHER', 'OTHER', 'OTHER']],
    ['nullable elements without nulls', base, { nullableElements: true }, {}, ['10', '11', '12'], ['OTHER', 'OTHER', 'OTHER']],
  ])('reads %s', async (_label, rows, fileOptions, parquet, ids, types) => {
    const path = dir.path('layout.parquet');
    writeFactors(path, rows, fileOptions);
    const loaded = await readParquetSnapshot(path, { parquet });
    expect([...loaded.matrix.ids]).toEqual(ids);
    expect(ids.map((_, r) => loaded.matrix.typeAt(r))).toEqual(types);
    expect(bytesOf(loaded.matrix.data).equals(Buffer.concat(base.vectors.map(bytesOf)))).toBe(true);
  });

  it('rounds DOUBLE values to float32, as the JSONL reader does', async () => {
    const doubles = [
      [0.1, 1 / 3, -2.5e-40],
      [1e30, -0, 7],
    ];
    const path = dir.path('doubles.parquet');
    writeFactors(path, { ids: [1, 2], vectors: doubles }, { elementType: 'DOUBLE' });
    const loaded = await readParquetSnapshot(path);
    expect(Array.from(loaded.matrix.data)).toEqual(doubles.flat().map(Math.fround));
    expect(loaded.checksum).toBe(
      await jsonlChecksum(
        'doubles',
        doubles.map((d, i) => ({ entityId: String(i + 1), entityType: 'OTHER', vector: Float32Array.from(d) })),
      ),
    );
  });
});

describe('rejections', () => {
  const rows = (...vectors: (number | null)[][]): FactorRows => ({ ids: vectors.map((_, i) => 10 + i), vectors });
  const good = rows([1, 2, 3], [4, 5, 6], [7, 8, 9]);

  /** Row 1 (counted from 0) is the bad one wherever a row is; messages must name it and the file. */
  it.each<[string, FactorRows, FactorFileOptions, ReadSnapshotOptions, string[]]>([
    [
      'columns with other names, listing the columns found',
      good,
      { idColumn: 'user', vectorColumn: 'factors' },
      {},
      ["bad.parquet has no id column 'id' or 'entityId'", 'its columns are: user (INT32), factors (list<FLOAT>)', '--id-column'],
    ],
    [
      'a vector column named by option that is not there',
      good,
      {},
      { parquet: { vectorColumn: 'embedding' } },
      ["has no vector column 'embedding'", 'its columns are: id (INT32), features (list<FLOAT>)', '--vector-column'],
    ],
    ['an entity type column named by option that is not there', good, {}, { parquet: { entityTypeColumn: 'kind' } }, ["has no entity type column 'kind'"]],
    ['NaN', rows([1, 2, 3], [4, 5, NaN], [7, 8, 9]), {}, {}, ["entity '11' (row 1, row 1 of", 'bad.parquet) has NaN at index 2']],
    ['-Infinity', rows([1, 2, 3], [-Infinity, 5, 6], [7, 8, 9]), {}, {}, ["entity '11' (row 1, row 1 of", '-Infinity at index 0']],
    ['ragged dims', rows([1, 2, 3], [4, 5], [7, 8, 9]), {}, {}, ["entity '11' (row 1, row 1 of", 'has 2 values, expected dims=3']],
    ['dims other than the manifest-free option', good, {}, { dims: 4 }, ["entity '10' (row 0, row 0 of", 'has 3 values, expected dims=4']],
    ['an empty first vector', rows([], [4, 5, 6]), {}, {}, ['row 0 of', "entity '10' has 0 values; dims must be 1 to 65536"]],
    ['a duplicate id', { ...good, ids: [10, 11, 10] }, {}, {}, ["entity id '10' appears twice: rows 0 and 2 (row 2, row 2 of"]],
    ['a null vector', { ...good, vectors: [[1, 2, 3], null, [7, 8, 9]] }, {}, {}, ['row 1 of', "entity '11' has no vector (null in column 'features')"]],
    ['a null element', rows([1, 2, 3], [4, null, 6], [7, 8, 9]), { nullableElements: true }, {}, ['row 1 of', "entity '11' has null at index 1"]],
    [
      'a DOUBLE outside float32',
      rows([1, 2, 3], [4, 5, -1e39], [7, 8, 9]),
      { elementType: 'DOUBLE' },
      {},
      ['row 1 of', "entity '11' has -1e+39 at index 2, outside the float32 range"],
    ],
    ['a null id', { ...good, ids: [10, null, 12] }, {}, {}, ['row 1 of', 'the entity id is null']],
    ['an id with a tab', { ...good, ids: ['a', 'b\tc', 'd'] }, { idType: 'STRING' }, {}, ['"b\\tc" (row 1, row 1 of', 'contains a tab']],
    ['a FLOAT id column', good, { idType: 'FLOAT' }, {}, ['id column id (FLOAT) must hold integers (INT32, INT64) or strings']],
    ['a vector column that is no list', good, { scalarVector: true }, {}, ['vector column features (FLOAT) must be a list of FLOAT']],
    ['an unknown entity type', { ...good, types: ['TRACK', 'SONG', null] }, {}, {}, ['row 1 of', 'entity \'11\' has entityType "SONG"', 'TRACK, ARTIST']],
    [
      'a codec it cannot decompress',
      good,
      { codec: 'ZSTD', compressors: { ZSTD: (b) => b } },
      {},
      ["column 'id' is compressed with ZSTD", 'UNCOMPRESSED, SNAPPY, GZIP', '"compression", "snappy"'],
    ],
  ])('rejects %s', async (_label, written, fileOptions, options, fragments) => {
    const path = dir.path('bad.parquet');
    writeFactors(path, written, fileOptions);
    await expectSnapshotError(() => readParquetSnapshot(path, options), fragments);
  });

  it('rejects an unknown entityType option before reading', async () => {
    const path = dir.path('good.parquet');
    writeFactors(path, good);
    await expect(readParquetSnapshot(path, { parquet: { entityType: 'SONG' as EntityType } })).rejects.toThrow('unknown entity type "SONG"');
  });

  it('rejects a file that is not Parquet', async () => {
    const path = dir.path('text.parquet');
    writeFileSync(path, '{"entityId": "t1", "vector": [1, 2]}\n');
    await expectSnapshotError(() => readSnapshotFile(path), ['text.parquet is not a readable Parquet file', 'PAR1']);
  });

  it.each<[string, (m: SnapshotManifest) => SnapshotManifest, string[]]>([
    [
      'another count, from the footers before any row is read',
      (m) => ({ ...m, count: 4 }),
      ['the manifest says count=4, but', 'manifested.parquet holds 3 rows'],
    ],
    ['other dims', (m) => ({ ...m, dims: 2 }), ["entity '10' (row 0, row 0 of", 'has 3 values, expected dims=2']],
    ['another checksum', (m) => ({ ...m, checksum: '1'.repeat(64) }), ['checksum mismatch: the manifest says 1111']],
  ])('rejects a file that disagrees with the manifest: %s', async (_label, change, fragments) => {
    const path = dir.path('manifested.parquet');
    writeFactors(path, good);
    const entities = good.ids.map((id, i) => ({ entityId: String(id), entityType: 'OTHER' as const, vector: Float32Array.from(good.vectors[i] as number[]) }));
    const manifest = manifestFor('items-1', entities);
    expect((await readParquetSnapshot(path, { manifest })).count).toBe(3);
    await expectSnapshotError(() => readParquetSnapshot(path, { manifest: change(manifest) }), fragments);
  });

  describe('in a directory', () => {
    it.each<[string, FactorRows, string[]]>([
      [
        'a NaN in the second part, naming that file and its row',
        {
          ids: [20, 21],
          vectors: [
            [1, 2, 3],
            [4, NaN, 6],
          ],
        },
        ["entity '21' (row 4, row 1 of", 'part-00001-', 'NaN at index 1'],
      ],
      [
        'an id already in the first part',
        {
          ids: [20, 10],
          vectors: [
            [1, 2, 3],
            [4, 5, 6],
          ],
        },
        ["entity id '10' appears twice: rows 0 and 4 (row 4, row 1 of", 'part-00001-'],
      ],
      [
        'other dims in the second part',
        {
          ids: [20, 21],
          vectors: [
            [1, 2],
            [3, 4],
          ],
        },
        ["entity '20' (row 3, row 0 of", 'part-00001-', 'has 2 values, expected dims=3'],
      ],
    ])('rejects %s', async (_label, second, fragments) => {
      const out = dir.path(`bad-dir-${_label.split(' ').join('-')}`);
      writeSparkDir(out, [good, second]);
      await expectSnapshotError(() => readSnapshotFile(out), fragments);
    });

    it('rejects a directory without part files, and one still being written', async () => {
      const empty = dir.path('no-parts');
      mkdirSync(`${empty}/year=2024`, { recursive: true });
      writeFileSync(`${empty}/_SUCCESS`, '');
      await expectSnapshotError(() => readSnapshotFile(empty), ['no-parts holds no *.parquet files', 'only folders: year=2024', 'partitionBy']);
      const running = dir.path('running.parquet');
      writeSparkDir(running, [good]);
      mkdirSync(`${running}/_temporary/0`, { recursive: true });
      await expectSnapshotError(() => readSnapshotFile(running), ['has a _temporary folder', 'has not finished']);
    });
  });
});

describe('ParquetVectorReader, for any vectors keyed by id (e.g. user factors)', () => {
  it('reads the footers first, then yields validated rows in order and ends with the count and checksum', async () => {
    const all = alsFactors(12, 5, 21);
    const out = dir.path('user-factors.parquet');
    writeSparkDir(
      out,
      [
        { ids: all.ids.slice(0, 5), vectors: all.vectors.slice(0, 5) },
        { ids: all.ids.slice(5), vectors: all.vectors.slice(5) },
      ],
      { rowGroupSize: 2 },
    );
    const reader = await ParquetVectorReader.open(out, { label: 'user factors' });
    expect(reader.rowCount).toBe(12);
    expect(reader.parts.map((p) => p.rows)).toEqual([5, 7]);
    expect(reader.dims).toBeUndefined();

    const read: SnapshotEntity[] = [];
    for await (const row of reader.rows()) read.push({ ...row, vector: row.vector.slice() });
    const entities = entitiesOf(all);
    expect(read).toEqual(entities);
    expect(reader.dims).toBe(5);
    expect(reader.finish()).toEqual({ count: 12, checksum: snapshotChecksum(entities) });
    await expect(reader.rows().next()).rejects.toThrow('can be read once');
  });

  it('decodes one row group at a time: the rows before a damaged row group come out before it is read', async () => {
    const path = dir.path('damaged.parquet');
    const ids = Array.from({ length: 12 }, (_, i) => i);
    writeFactors(path, { ids, vectors: ids.map((i) => [i, -i]) }, { rowGroupSize: 4 });
    const chunk = (await footer(path)).row_groups[2]!.columns[1]!.meta_data!;
    const start = Number(chunk.dictionary_page_offset ?? chunk.data_page_offset);
    writeFileSync(path, readFileSync(path).fill(0xff, start, start + Number(chunk.total_compressed_size)));

    const reader = await ParquetVectorReader.open(path, { label: 'user factors' });
    const seen: string[] = [];
    const drain = async () => {
      for await (const row of reader.rows()) seen.push(row.entityId);
    };
    await expectSnapshotError(drain, ["damaged.parquet: cannot read column 'features' of rows 8 to 11", 'the file is damaged']);
    expect(seen).toEqual(ids.slice(0, 8).map(String));
  });

  it('refuses to finish before every row was read', async () => {
    const path = dir.path('early.parquet');
    writeFactors(path, { ids: [1, 2], vectors: [[1], [2]] });
    const reader = await ParquetVectorReader.open(path, { label: 'user factors' });
    for await (const row of reader.rows()) {
      expect(row.entityId).toBe('1');
      break;
    }
    expect(() => reader.finish()).toThrow("'finish' is not allowed in phase READING");
  });

  it('names its data as told in messages', async () => {
    const path = dir.path('users-nan.parquet');
    writeFactors(path, {
      ids: [1, 2],
      vectors: [
        [1, 2],
        [3, NaN],
      ],
    });
    const reader = await ParquetVectorReader.open(path, { label: 'user factors' });
    const drain = async () => {
      for await (const _ of reader.rows()) void _;
    };
    await expectSnapshotError(drain, ["snapshot 'user factors' is invalid: entity '2' (row 1, row 1 of", 'NaN at index 1']);
  });
});
