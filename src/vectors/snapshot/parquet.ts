import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  asyncBufferFromFile,
  parquetMetadataAsync,
  parquetScan,
  parquetSchema,
  type AsyncBuffer,
  type CompressionCodec,
  type Compressors,
  type FileMetaData,
  type SchemaTree,
} from 'hyparquet';
import { ConfigError, IllegalTransitionError, SnapshotValidationError } from '../../errors';
import type { EntityType, SnapshotManifest } from '../records';
import { ENTITY_TYPES, EntityMatrixBuilder, parseEntityType, type EntityIndex, type SnapshotEntity } from './entity-matrix';
import type { LoadedSnapshot, ReadSnapshotOptions } from './formats';
import { MAX_DIMS } from './manifest';
import { SnapshotValidator, type ValidatedSnapshot } from './validate';

/*
 * Parquet, as batch trainers write factors (Spark MLlib ALS:
 * `model.itemFactors.write.parquet(path)`; `userFactors` has the same shape).
 * The format is documented with the others at the top of formats.ts; this
 * file holds the reader. hyparquet decodes; it assembles a list column into
 * JS arrays, so at most one row group of one file is held as JS values at a
 * time, and each row goes from there into the caller's Float32Array.
 */

/** Which columns hold what. Every name is a top-level column. */
export interface ParquetColumnOptions {
  /** The entity id: integers (INT32, INT64; written as decimal strings) or strings. Default `id`, else `entityId`. */
  idColumn?: string;
  /** The vector: a list of FLOAT (or DOUBLE, rounded to float32). Default `features` (Spark ML's name), else `vector`. */
  vectorColumn?: string;
  /** Entity types as strings (`TRACK`, ...). Default `entityType` when the file has it; no column otherwise. */
  entityTypeColumn?: string;
  /** The type of rows without one (no type column, or a null in it). Default OTHER, as in JSONL. */
  entityType?: EntityType;
}

/** Options of {@link ParquetVectorReader.open}. */
export interface ParquetVectorReaderOptions extends ParquetColumnOptions {
  /** Names the data in error messages (a snapshot id, or e.g. `user factors`). */
  label: string;
  /** The dims every vector must have; default the first row's. */
  dims?: number;
  /** How many rows to expect (a manifest's count): one more fails at once. */
  expectedCount?: number;
  /** An index of the ids accepted so far when the caller keeps one (see `SnapshotValidatorOptions.seen`); default the validator's own. */
  seen?: EntityIndex;
  /** What a row is, in the validator's messages (default 'entity'). */
  noun?: 'entity' | 'user';
}

/** One file of a Parquet data set, as its footer describes it. */
export interface ParquetPart {
  /** The path, as given or joined to the directory given. */
  path: string;
  rows: number;
  /** The columns read from it. */
  columns: { id: string; vector: string; entityType: string | undefined };
}

interface OpenPart extends ParquetPart {
  metadata: FileMetaData;
}

const DEFAULT_ID_COLUMNS = ['id', 'entityId'];
const DEFAULT_VECTOR_COLUMNS = ['features', 'vector'];
const DEFAULT_ENTITY_TYPE_COLUMN = 'entityType';
const READABLE_CODECS: readonly CompressionCodec[] = ['UNCOMPRESSED', 'SNAPPY', 'GZIP'];
/** Snappy is built into hyparquet; gzip comes from node:zlib. */
const COMPRESSORS: Compressors = { GZIP: (input) => gunzipSync(input) };
const INTEGER_CONVERTED_TYPES = new Set([undefined, 'INT_8', 'INT_16', 'INT_32', 'INT_64', 'UINT_8', 'UINT_16', 'UINT_32', 'UINT_64']);

/**
 * Reads entity vectors from Parquet: one file, or a directory of part files
 * (Spark's output) read in name order. {@link open} reads every footer and
 * resolves the columns, so wrong column names, codecs or types fail before
 * any data is read; {@link rows} then streams the rows, one row group at a
 * time, each validated (see {@link SnapshotValidator}) before it is yielded;
 * {@link finish} ends the validation with the count and checksum.
 *
 * For snapshots ({@link readParquetSnapshot}) and for any other set of
 * vectors keyed by id, e.g. a trainer's user factors. Single use.
 */
export class ParquetVectorReader {
  private validator: SnapshotValidator | undefined;
  private started = false;

  private constructor(
    /** The file or directory given. */
    readonly path: string,
    private readonly openParts: readonly OpenPart[],
    private readonly options: ParquetVectorReaderOptions,
    private readonly defaultType: EntityType,
    private dimsSeen: number | undefined,
  ) {}

  /**
   * Lists the files of `path` and reads their footers.
   * @throws SnapshotValidationError when the path holds no Parquet file, a
   * file is not Parquet, lacks a column (the message lists the columns it
   * has), has a column of an unusable type, or is compressed with a codec
   * this reader cannot decompress.
   * @throws ConfigError on an unknown `entityType` option.
   */
  static async open(path: string, options: ParquetVectorReaderOptions): Promise<ParquetVectorReader> {
    const { label } = options;
    const fail = (detail: string): never => {
      throw new SnapshotValidationError(label, detail);
    };
    const defaultType = options.entityType === undefined ? 'OTHER' : parseEntityType(options.entityType);
    if (defaultType === undefined) {
      throw new ConfigError(`unknown entity type ${JSON.stringify(options.entityType)}: expected one of ${ENTITY_TYPES.join(', ')}`);
    }
    if (options.dims !== undefined && (!Number.isInteger(options.dims) || options.dims < 1 || options.dims > MAX_DIMS)) {
      throw new ConfigError(`dims must be an integer from 1 to ${MAX_DIMS}, got ${options.dims}`);
    }
    const parts: OpenPart[] = [];
    for (const file of await parquetFiles(path, fail)) {
      const metadata = await readFooter(file, fail);
      const columns = resolveColumns(file, parquetSchema(metadata), options, fail);
      checkCodecs(file, metadata, columns, fail);
      parts.push({ path: file, rows: Number(metadata.num_rows), metadata, columns });
    }
    return new ParquetVectorReader(path, parts, options, defaultType, options.dims);
  }

  /** The files to read, in read order. */
  get parts(): ParquetPart[] {
    return this.openParts.map(({ path, rows, columns }) => ({ path, rows, columns }));
  }

  /** Rows of all files, from their footers. */
  get rowCount(): number {
    return this.openParts.reduce((n, p) => n + p.rows, 0);
  }

  /** The dims: given, or those of the first row once it was read. */
  get dims(): number | undefined {
    return this.dimsSeen;
  }

  /**
   * The rows in order (files in name order, then row order), each validated
   * before it is yielded. A row's `vector` is a view of a buffer reused for
   * the next row: copy it to keep it.
   * @throws SnapshotValidationError naming the file and the row (counted
   * from 0 in its file) of the first invalid one.
   */
  async *rows(): AsyncGenerator<SnapshotEntity, void, undefined> {
    if (this.started) throw new ConfigError(`the Parquet rows of ${this.path} can be read once`);
    this.started = true;
    const { label } = this.options;
    const fail = (detail: string): never => {
      throw new SnapshotValidationError(label, detail);
    };
    // Where the validator's row `r` was read, for its messages: the file being read and the row in it.
    let part = this.openParts[0];
    let fileStart = 0;
    const where = (row: number) => `row ${row - fileStart} of ${part?.path}`;
    let scratch = new Float32Array(this.dimsSeen ?? 0);
    for (part of this.openParts) {
      fileStart = this.validator?.count ?? 0;
      const { path } = part;
      const { id, vector, entityType } = part.columns;
      const file = await asyncBufferFromFile(path);
      const scan = await readOrFail(label, path, 'open it', () =>
        parquetScan({ file, metadata: part!.metadata, compressors: COMPRESSORS, columns: entityType ? [id, vector, entityType] : [id, vector] }),
      );
      for (const range of scan.ranges) {
        const read = (column: string) =>
          readOrFail(label, path, `read column '${column}' of rows ${range.rowStart} to ${range.rowEnd - 1}`, () => scan.readColumn({ column, ...range }));
        const ids = await read(id);
        const vectors = await read(vector);
        const types = entityType ? await read(entityType) : undefined;
        const at = (i: number) => `row ${range.rowStart + i} of ${path}`;
        for (let i = 0; i < range.rowEnd - range.rowStart; i++) {
          const entityId = toEntityId(ids[i]);
          if (entityId === undefined) fail(`${at(i)}: the entity id is ${describe(ids[i])}; every row needs an id (an integer or a string)`);
          const values: unknown = vectors[i];
          if (values === null || values === undefined) fail(`${at(i)}: entity '${entityId}' has no vector (null in column '${vector}')`);
          if (!Array.isArray(values) && !(values instanceof Float32Array || values instanceof Float64Array)) {
            fail(`${at(i)}: entity '${entityId}' has ${describe(values)} in column '${vector}', not a list of numbers`);
          }
          const list = values as ArrayLike<unknown>;
          if (this.dimsSeen === undefined) {
            if (list.length < 1 || list.length > MAX_DIMS) fail(`${at(i)}: entity '${entityId}' has ${list.length} values; dims must be 1 to ${MAX_DIMS}`);
            this.dimsSeen = list.length;
          }
          this.validator ??= new SnapshotValidator({
            snapshotId: label,
            dims: this.dimsSeen,
            expectedCount: this.options.expectedCount,
            seen: this.options.seen,
            location: where,
            ...(this.options.noun ? { noun: this.options.noun } : {}),
          });
          // A ragged row gets its own array, so the validator reports its length.
          const into = list.length === scratch.length ? scratch : new Float32Array(list.length);
          if (into.length === this.dimsSeen) scratch = into;
          for (let j = 0; j < list.length; j++) {
            const x = list[j];
            if (typeof x !== 'number') fail(`${at(i)}: entity '${entityId}' has ${describe(x)} at index ${j}; vector values must be numbers`);
            into[j] = x as number;
            if (Number.isFinite(x) && !Number.isFinite(into[j])) {
              fail(`${at(i)}: entity '${entityId}' has ${x} at index ${j}, outside the float32 range; vector values must be finite float32`);
            }
          }
          let type = this.defaultType;
          const rawType: unknown = types?.[i];
          if (rawType !== null && rawType !== undefined) {
            const parsed = parseEntityType(rawType);
            if (parsed === undefined) {
              fail(`${at(i)}: entity '${entityId}' has entityType ${describe(rawType)}; expected one of ${ENTITY_TYPES.join(', ')}`);
            }
            type = parsed as EntityType;
          }
          this.validator.accept(entityId!, into);
          yield { entityId: entityId!, entityType: type, vector: into };
        }
      }
      const rowsRead = (this.validator?.count ?? 0) - fileStart;
      if (rowsRead !== part.rows) {
        fail(`${path} gave ${rowsRead} rows, but its footer says ${part.rows}: the file is damaged; write it again`);
      }
    }
  }

  /**
   * Ends the validation (after {@link rows}): the count and checksum, checked
   * against the manifest when one is given.
   * @throws SnapshotValidationError when nothing was read and the dims are
   * unknown, or on any mismatch with the manifest.
   * @throws IllegalTransitionError when {@link rows} has not given every row.
   */
  finish(manifest?: SnapshotManifest): ValidatedSnapshot {
    const { label } = this.options;
    if ((this.validator?.count ?? 0) !== this.rowCount) {
      throw new IllegalTransitionError(`Parquet reader of ${this.path}`, 'READING', 'finish');
    }
    if (!this.validator) {
      if (this.dimsSeen === undefined) {
        throw new SnapshotValidationError(
          label,
          `${this.path} holds no entities (to be published a snapshot needs at least one; to read an empty one, give the expected dims or a manifest)`,
        );
      }
      this.validator = new SnapshotValidator({ snapshotId: label, dims: this.dimsSeen, expectedCount: this.options.expectedCount });
    }
    return this.validator.finish(manifest);
  }
}

/**
 * Reads a Parquet snapshot (one file, or a directory of part files in name
 * order) into an {@link EntityMatrix}, validating each row like the other
 * readers; the matrix is allocated once, from the row counts of the footers.
 * Columns: {@link ReadSnapshotOptions.parquet}.
 * @throws SnapshotValidationError on unusable files or invalid data, naming
 * the file and row.
 */
export async function readParquetSnapshot(path: string, options: ReadSnapshotOptions = {}): Promise<LoadedSnapshot> {
  const { manifest } = options;
  const label = manifest?.snapshotId ?? options.snapshotId ?? basename(path);
  let builder: EntityMatrixBuilder | undefined;
  const reader = await ParquetVectorReader.open(path, {
    ...options.parquet,
    label,
    dims: manifest?.dims ?? options.dims,
    expectedCount: manifest?.count,
    seen: { rowOf: (id) => builder?.rowOf(id) },
  });
  const rows = reader.rowCount;
  if (manifest && rows !== manifest.count) {
    const { parts } = reader;
    const files = parts.length === 1 ? `${parts[0]!.path} holds` : `the ${parts.length} files of ${path} hold`;
    throw new SnapshotValidationError(
      label,
      `the manifest says count=${manifest.count}, but ${files} ${rows} rows. ` + 'The data is incomplete or the manifest is stale; publish the snapshot again.',
    );
  }
  for await (const row of reader.rows()) {
    builder ??= new EntityMatrixBuilder({ snapshotId: label, dims: reader.dims!, expectedCount: rows });
    builder.add(row.entityId, row.entityType, row.vector);
  }
  const result = reader.finish(manifest);
  builder ??= new EntityMatrixBuilder({ snapshotId: label, dims: reader.dims!, expectedCount: 0 });
  return { ...result, matrix: builder.build() };
}

/** Whether `path` is read as Parquet: it ends in `.parquet` (a file, or Spark's output directory) or is a directory. */
export async function isParquetPath(path: string): Promise<boolean> {
  if (/\.parquet$/i.test(path)) return true;
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The files to read: `path` itself, or the `*.parquet` files of the directory
 * `path` in name order (UTF-16 code units, so `part-00000` before
 * `part-00001`), skipping Hadoop's hidden files (`_SUCCESS`, `.*.crc`).
 */
async function parquetFiles(path: string, fail: (detail: string) => never): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    return fail(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { withFileTypes: true });
  if (entries.some((e) => e.name === '_temporary')) {
    fail(`${path} has a _temporary folder: the job writing it has not finished (or failed); publish once it has written _SUCCESS`);
  }
  const names = entries
    .filter((e) => e.isFile() && /\.parquet$/i.test(e.name) && !/^[._]/.test(e.name))
    .map((e) => e.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) {
    const folders = entries.filter((e) => e.isDirectory()).map((e) => e.name);
    fail(
      `${path} holds no *.parquet files` +
        (folders.length > 0 ? ` (only folders: ${folders.slice(0, 5).join(', ')}; partitioned output is not read: write without partitionBy)` : ''),
    );
  }
  return names.map((n) => join(path, n));
}

async function readFooter(path: string, fail: (detail: string) => never): Promise<FileMetaData> {
  let file: AsyncBuffer;
  try {
    file = await asyncBufferFromFile(path);
    return await parquetMetadataAsync(file);
  } catch (err) {
    return fail(`${path} is not a readable Parquet file (${(err as Error).message})`);
  }
}

function resolveColumns(path: string, schema: SchemaTree, options: ParquetColumnOptions, fail: (detail: string) => never): ParquetPart['columns'] {
  const byName = new Map(schema.children.map((c) => [c.element.name, c]));
  const found = () => `its columns are: ${schema.children.map(describeColumn).join(', ') || 'none'}`;
  const pick = (role: string, given: string | undefined, defaults: string[], flag: string): SchemaTree => {
    const name = given ?? defaults.find((n) => byName.has(n));
    const column = name === undefined ? undefined : byName.get(name);
    if (!column) {
      const wanted = given === undefined ? defaults.map((n) => `'${n}'`).join(' or ') : `'${given}'`;
      fail(`${path} has no ${role} column ${wanted}; ${found()}. Name the column with --${flag} (vectors publish).`);
    }
    return column!;
  };
  const id = pick('id', options.idColumn, DEFAULT_ID_COLUMNS, 'id-column');
  if (!isIntegerColumn(id) && !isStringColumn(id)) {
    fail(`${path}: id column ${describeColumn(id)} must hold integers (INT32, INT64) or strings; ${found()}`);
  }
  const vector = pick('vector', options.vectorColumn, DEFAULT_VECTOR_COLUMNS, 'vector-column');
  const element = listElement(vector);
  if (!element || (element.element.type !== 'FLOAT' && element.element.type !== 'DOUBLE')) {
    const hint = vector.children.some((c) => c.element.name === 'values')
      ? ' It looks like a Spark ML Vector: write pyspark.ml.functions.vector_to_array(col) instead.'
      : '';
    fail(`${path}: vector column ${describeColumn(vector)} must be a list of FLOAT (or DOUBLE).${hint} ${found()}`);
  }
  let entityType: string | undefined;
  if (options.entityTypeColumn !== undefined || byName.has(DEFAULT_ENTITY_TYPE_COLUMN)) {
    const column = pick('entity type', options.entityTypeColumn, [DEFAULT_ENTITY_TYPE_COLUMN], 'entity-type-column');
    if (!isStringColumn(column)) fail(`${path}: entity type column ${describeColumn(column)} must hold strings; ${found()}`);
    entityType = column.element.name;
  }
  return { id: id.element.name, vector: vector.element.name, entityType };
}

function checkCodecs(path: string, metadata: FileMetaData, columns: ParquetPart['columns'], fail: (detail: string) => never): void {
  const wanted = new Set([columns.id, columns.vector, columns.entityType]);
  for (const group of metadata.row_groups) {
    for (const chunk of group.columns) {
      const meta = chunk.meta_data;
      if (meta && wanted.has(meta.path_in_schema[0]) && !READABLE_CODECS.includes(meta.codec)) {
        fail(
          `${path}: column '${meta.path_in_schema.join('.')}' is compressed with ${meta.codec}, which this reader cannot decompress ` +
            `(it reads ${READABLE_CODECS.join(', ')}); write the factors with Spark's default, .option("compression", "snappy")`,
        );
      }
    }
  }
}

/** The leaf of a list column (standard 3-level or legacy 2-level), or undefined when `column` is no list of primitives. */
function listElement(column: SchemaTree): SchemaTree | undefined {
  const annotated = column.element.converted_type === 'LIST' || column.element.logical_type?.type === 'LIST';
  if (!annotated || column.children.length !== 1) return undefined;
  const repeated = column.children[0]!;
  if (repeated.element.repetition_type !== 'REPEATED') return undefined;
  if (repeated.children.length === 0) return repeated;
  const leaf = repeated.children.length === 1 ? repeated.children[0]! : undefined;
  return leaf && leaf.children.length === 0 ? leaf : undefined;
}

function isIntegerColumn(column: SchemaTree): boolean {
  const { type, converted_type, logical_type, repetition_type } = column.element;
  return (
    (type === 'INT32' || type === 'INT64') &&
    repetition_type !== 'REPEATED' &&
    INTEGER_CONVERTED_TYPES.has(converted_type) &&
    (logical_type === undefined || logical_type.type === 'INTEGER')
  );
}

function isStringColumn(column: SchemaTree): boolean {
  const { type, converted_type, logical_type, repetition_type } = column.element;
  return (
    type === 'BYTE_ARRAY' &&
    repetition_type !== 'REPEATED' &&
    (converted_type === undefined || converted_type === 'UTF8' || converted_type === 'ENUM') &&
    (logical_type === undefined || logical_type.type === 'STRING' || logical_type.type === 'ENUM')
  );
}

/** `name (TYPE)`, `name (list<FLOAT>)` or `name (group)`, for messages. */
function describeColumn(column: SchemaTree): string {
  const { name, type } = column.element;
  const element = listElement(column);
  if (element) return `${name} (list<${element.element.type ?? 'group'}>)`;
  if (type) return `${name} (${type}${column.element.converted_type ? ` ${column.element.converted_type}` : ''})`;
  return `${name} (group of ${column.children.map((c) => c.element.name).join(', ')})`;
}

/** The id of a value of the id column, or `undefined` when it cannot be one. */
function toEntityId(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return undefined;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') return String(value);
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return Object.prototype.toString.call(value);
}

/** Runs a hyparquet read; its errors (damaged files) become validation errors naming the file. */
async function readOrFail<T>(label: string, path: string, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw new SnapshotValidationError(
      label,
      `${path}: cannot ${what} (${(err as Error).message}); the file is damaged or uses a Parquet feature this reader lacks`,
    );
  }
}
