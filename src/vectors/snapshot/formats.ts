import { createReadStream } from 'node:fs';
import { open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { SnapshotValidationError } from '../../errors';
import type { EntityType, SnapshotManifest } from '../records';
import { CHECKSUM_PATTERN, float32FromLeBytes, float32LeBytes } from './checksum';
import { ENTITY_TYPES, EntityMatrix, EntityMatrixBuilder, parseEntityType, type SnapshotEntity } from './entity-matrix';
import { isValidSnapshotId, MAX_DIMS } from './manifest';
import { isParquetPath, readParquetSnapshot, type ParquetColumnOptions } from './parquet';
import { jsonlObjects } from './jsonl';
import { SnapshotValidator, type ValidatedSnapshot } from './validate';

/*
 * Three file formats for a snapshot's entity vectors, all read in publish
 * order; the checksum (checksum.ts) is the same whichever format carried them.
 * JSONL and binary are written here too; Parquet is only read (parquet.ts).
 *
 * JSONL — one entity per line, UTF-8:
 *   {"entityId": "t1", "entityType": "TRACK", "vector": [0.1, -2.5, ...]}
 *   `entityType` is optional (default OTHER); blank lines are skipped; an
 *   optional `snapshotId` field must match when the reader is told which
 *   snapshot it reads (manifest or option); other fields are ignored. Values are
 *   rounded to float32 on read; a writer prints each float32 as the shortest
 *   decimal that reads back to the same double (and `-0` as `-0`), so a
 *   round trip is bit-exact.
 *
 * Binary — three files sharing a base path:
 *   <base>.json  header, written last (its absence marks an incomplete write):
 *                {"format": "vectors-snapshot-f32", "version": 1, "dims": 128,
 *                 "count": 1000000, "snapshotId": "s-2024-06-01", "checksum": "<64 hex>"}
 *                `snapshotId` and `checksum` are optional; when present they are checked.
 *   <base>.f32   exactly count × dims × 4 bytes: IEEE-754 binary32, little-endian,
 *                row-major, no header or padding; row i is bytes [i·dims·4, (i+1)·dims·4).
 *   <base>.ids   UTF-8 text, exactly `count` lines, line i (from 0) naming row i:
 *                `<entityId>` or `<entityId>\t<ENTITY_TYPE>`, each ended by LF
 *                (CRLF tolerated; the final LF optional). Type default OTHER.
 *                A blank line is an empty id, hence invalid: lines and rows must align.
 *
 * Parquet — what batch trainers write, e.g. Spark MLlib ALS
 *   `model.itemFactors.write.parquet("factors.parquet")`: one file, or a
 *   directory (Spark's output) whose `*.parquet` files are read one after the
 *   other in name order (`part-00000-…` before `part-00001-…`: that order is
 *   the publish order, so the checksum is deterministic); `_SUCCESS`, `.crc`
 *   and other files starting with `_` or `.` are skipped, and a directory with
 *   a `_temporary` folder (a job still writing) is refused. Columns, by name
 *   (options `ReadSnapshotOptions.parquet`, `vectors publish --id-column` ...):
 *     id          `id` (else `entityId`): INT32/INT64, read as decimal strings
 *                 ("42"), or a string column;
 *     vector      `features` (Spark's name, else `vector`): a LIST of FLOAT
 *                 (`array<float>`), or of DOUBLE rounded to float32;
 *     entityType  optional, `entityType` when present: strings as in JSONL;
 *                 rows without one get `parquet.entityType` (default OTHER).
 *   Other columns are ignored. Compression: none, SNAPPY (Spark's default) or
 *   GZIP; other codecs (ZSTD, LZ4) are refused before any row is read. Errors
 *   name the file and the row within it, counted from 0 (as `df.iloc`).
 *   Rows are read one row group at a time.
 */

/** Format name in the binary header. */
export const BINARY_FORMAT = 'vectors-snapshot-f32';
export const BINARY_FORMAT_VERSION = 1;

/** The `<base>.json` header of the binary format. */
export interface BinarySnapshotHeader {
  format: typeof BINARY_FORMAT;
  version: typeof BINARY_FORMAT_VERSION;
  dims: number;
  count: number;
  snapshotId?: string;
  checksum?: string;
}

/** The three files of a binary snapshot. */
export interface BinarySnapshotPaths {
  header: string;
  vectors: string;
  ids: string;
}

/** The files of a binary snapshot at `base` (a trailing `.json`, `.f32` or `.ids` is ignored). */
export function binarySnapshotPaths(base: string): BinarySnapshotPaths {
  const stem = base.replace(/\.(json|f32|ids)$/, '');
  return { header: `${stem}.json`, vectors: `${stem}.f32`, ids: `${stem}.ids` };
}

export interface ReadSnapshotOptions {
  /**
   * The manifest to verify against: snapshot id, dims, count and checksum
   * must all match. Without it the read still checks everything it can and
   * reports count and checksum (e.g. for a publisher to build the manifest).
   */
  manifest?: SnapshotManifest;
  /** Names the snapshot without a manifest; default the header's snapshotId or the file name. */
  snapshotId?: string;
  /** JSONL and Parquet without a manifest: the dims to expect; default the first entity's. */
  dims?: number;
  /** Binary: bytes read per call (default 4 MiB, rounded down to whole rows). */
  chunkBytes?: number;
  /** Parquet: which columns hold the id, the vector and the type, and the type of rows without one. */
  parquet?: ParquetColumnOptions;
}

/** A snapshot read from files and validated. */
export interface LoadedSnapshot extends ValidatedSnapshot {
  matrix: EntityMatrix;
}

export interface WriteSnapshotOptions {
  /** Names the snapshot in errors and in the binary header; default the matrix's snapshotId. */
  snapshotId?: string;
}

const DEFAULT_CHUNK_BYTES = 4 << 20;

/**
 * Reads a snapshot file of any format: `.jsonl`/`.ndjson` as JSONL,
 * `.parquet` (a file or a directory) and any other directory as Parquet,
 * anything else as the binary format's base path.
 */
export async function readSnapshotFile(path: string, options: ReadSnapshotOptions = {}): Promise<LoadedSnapshot> {
  if (/\.(jsonl|ndjson)$/.test(path)) return readJsonlSnapshot(path, options);
  if (await isParquetPath(path)) return readParquetSnapshot(path, options);
  return readBinarySnapshot(path, options);
}

/**
 * Streams a JSONL snapshot into an {@link EntityMatrix}, validating each line
 * as it is read (see {@link SnapshotValidator}); errors name the line.
 * @throws SnapshotValidationError on malformed lines or invalid data.
 */
export async function readJsonlSnapshot(path: string, options: ReadSnapshotOptions = {}): Promise<LoadedSnapshot> {
  const { manifest } = options;
  const label = manifest?.snapshotId ?? options.snapshotId ?? basename(path);
  const fail = (detail: string): never => {
    throw new SnapshotValidationError(label, detail);
  };
  let dims = manifest?.dims ?? options.dims;
  let validator: SnapshotValidator | undefined;
  let builder: EntityMatrixBuilder | undefined;
  let lineNo = 0;
  // A JSON value takes at least 2 bytes ("0,"): a manifest count the file cannot hold is not preallocated.
  const fileBytes = (await stat(path)).size;
  const start = (d: number) => {
    const expectedCount = manifest && Math.min(manifest.count, Math.floor(fileBytes / (2 * d)) + 1);
    builder = new EntityMatrixBuilder({ snapshotId: label, dims: d, expectedCount });
    validator = new SnapshotValidator({
      snapshotId: label,
      dims: d,
      expectedCount: manifest?.count,
      seen: builder,
      location: () => `line ${lineNo} of ${path}`,
    });
  };
  if (dims !== undefined) start(dims);

  let scratch: Float32Array | undefined;
  for await (const line of jsonlObjects(path, '{"entityId", "entityType", "vector"}', fail)) {
    lineNo = line.lineNo;
    const { obj, where } = line;
    const entityId = obj.entityId;
    if (typeof entityId !== 'string') fail(`${where}: entityId must be a string, got ${JSON.stringify(entityId) ?? 'nothing'}`);
    const id = entityId as string;
    if (obj.snapshotId !== undefined && obj.snapshotId !== label && (manifest || options.snapshotId)) {
      fail(`${where}: entity '${id}' names snapshot ${JSON.stringify(obj.snapshotId)}, but snapshot '${label}' is being read`);
    }
    const entityType = obj.entityType === undefined ? 'OTHER' : parseEntityType(obj.entityType);
    if (entityType === undefined) {
      fail(`${where}: entity '${id}' has entityType ${JSON.stringify(obj.entityType)}; expected one of ${ENTITY_TYPES.join(', ')}`);
    }
    const values = obj.vector;
    if (!Array.isArray(values)) fail(`${where}: entity '${id}' has no "vector" array`);
    const array = values as unknown[];
    if (dims === undefined) {
      dims = array.length;
      if (dims < 1 || dims > MAX_DIMS) fail(`${where}: entity '${id}' has ${dims} values; dims must be 1 to ${MAX_DIMS}`);
      start(dims);
    }
    if (!scratch || scratch.length !== array.length) scratch = new Float32Array(array.length);
    for (let i = 0; i < array.length; i++) {
      const x = array[i];
      if (typeof x !== 'number') fail(`${where}: entity '${id}' has ${JSON.stringify(x)} at index ${i}; vector values must be numbers`);
      scratch[i] = x as number;
      if (Number.isFinite(x) && !Number.isFinite(scratch[i])) {
        fail(`${where}: entity '${id}' has ${x} at index ${i}, outside the float32 range; vector values must be finite float32`);
      }
    }
    validator!.accept(id, scratch);
    builder!.add(id, entityType as EntityType, scratch);
  }
  if (!validator || !builder) {
    return fail(`${path} holds no entities (to be published a snapshot needs at least one; to read an empty one, give the expected dims or a manifest)`);
  }
  const result = validator.finish(manifest);
  return { ...result, matrix: builder.build() };
}

/**
 * Streams a binary snapshot (`<base>.json`, `.ids`, `.f32`) into an
 * {@link EntityMatrix}: the ids first, then the floats in chunks of
 * {@link ReadSnapshotOptions.chunkBytes} into one reused buffer, each row
 * validated on a view of it and copied (a typed-array `set`) into the
 * matrix's buffer, allocated once from the header's count after the file
 * sizes were checked against it.
 * @throws SnapshotValidationError on a bad header, mismatched files or invalid data.
 */
export async function readBinarySnapshot(base: string, options: ReadSnapshotOptions = {}): Promise<LoadedSnapshot> {
  const paths = binarySnapshotPaths(base);
  const { manifest } = options;
  let label = manifest?.snapshotId ?? options.snapshotId ?? basename(paths.header, '.json');
  const fail = (detail: string): never => {
    throw new SnapshotValidationError(label, detail);
  };

  const header = parseHeader(await readFile(paths.header, 'utf8'), paths.header, fail);
  if (!manifest && !options.snapshotId && header.snapshotId) label = header.snapshotId;
  const { dims, count } = header;
  if (manifest) {
    if (header.snapshotId !== undefined && header.snapshotId !== manifest.snapshotId) {
      fail(`header ${paths.header} is for snapshot '${header.snapshotId}', not '${manifest.snapshotId}': wrong files?`);
    }
    if (dims !== manifest.dims) fail(`header ${paths.header} says dims=${dims}, the manifest says dims=${manifest.dims}`);
    if (count !== manifest.count) {
      fail(`header ${paths.header} says count=${count}, the manifest says count=${manifest.count}: the files or the manifest are stale`);
    }
  }
  const rowBytes = dims * 4;
  const size = (await stat(paths.vectors)).size;
  if (size !== count * rowBytes) {
    fail(
      `${paths.vectors} has ${size} bytes, but count × dims × 4 = ${count} × ${dims} × 4 = ${count * rowBytes}: ` +
        'the file is truncated or was written with other dims; write the snapshot again.',
    );
  }
  const { ids, types } = await readIdsFile(paths.ids, count, fail);

  const builder = new EntityMatrixBuilder({ snapshotId: label, dims, expectedCount: count });
  const validator = new SnapshotValidator({
    snapshotId: label,
    dims,
    expectedCount: manifest?.count ?? count,
    seen: builder,
    location: (row) => `line ${row + 1} of ${paths.ids}`,
  });
  const chunkRows = Math.max(1, Math.floor((options.chunkBytes ?? DEFAULT_CHUNK_BYTES) / rowBytes));
  const chunk = new Uint8Array(new ArrayBuffer(Math.min(chunkRows, Math.max(count, 1)) * rowBytes));
  const fh = await open(paths.vectors, 'r');
  try {
    for (let row = 0; row < count;) {
      const rows = Math.min(chunkRows, count - row);
      await readFully(fh, chunk, rows * rowBytes, row * rowBytes, paths.vectors, fail);
      const floats = float32FromLeBytes(chunk, rows * dims);
      for (let r = 0; r < rows; r++, row++) {
        const vector = floats.subarray(r * dims, (r + 1) * dims);
        validator.accept(ids[row]!, vector);
        builder.add(ids[row]!, ENTITY_TYPES[types[row]!]!, vector);
      }
    }
  } finally {
    await fh.close();
  }
  const result = validator.finish(manifest);
  if (header.checksum !== undefined && header.checksum !== result.checksum) {
    fail(
      `checksum mismatch: header ${paths.header} says ${header.checksum}, the data hashes to ${result.checksum}. ` +
        'The .f32 or .ids file was changed after the header was written; write the snapshot again.',
    );
  }
  return { ...result, matrix: builder.build() };
}

/**
 * Writes entities, in order, as JSONL. They are validated on the way (the
 * same checks as a load), so a written file always loads; on a failure the
 * partial file is removed.
 * @returns the count and checksum, for the manifest.
 * @throws SnapshotValidationError on invalid entities.
 */
export async function writeJsonlSnapshot(path: string, entities: Iterable<SnapshotEntity>, options: WriteSnapshotOptions = {}): Promise<ValidatedSnapshot> {
  const label = snapshotLabel(entities, options, basename(path));
  const out = new BufferedFile(await open(path, 'w'));
  try {
    const { result } = await writeValidated(label, entities, 1, (e) =>
      out.writeText(`{"entityId":${JSON.stringify(e.entityId)},"entityType":"${e.entityType}","vector":[${formatFloats(e.vector)}]}\n`),
    );
    await out.close();
    return result;
  } catch (err) {
    await out.close().catch(() => undefined);
    await rm(path, { force: true });
    throw err;
  }
}

/**
 * Writes entities, in order, in the binary format: `.f32` and `.ids` first,
 * the `.json` header last. Validated on the way; on a failure the partial
 * files are removed.
 * @returns the count and checksum (also stored in the header) and the paths.
 * @throws SnapshotValidationError on invalid entities.
 */
export async function writeBinarySnapshot(
  base: string,
  entities: Iterable<SnapshotEntity>,
  options: WriteSnapshotOptions = {},
): Promise<ValidatedSnapshot & { paths: BinarySnapshotPaths }> {
  const paths = binarySnapshotPaths(base);
  const named = snapshotLabel(entities, options, undefined);
  const label = named ?? basename(paths.header, '.json');
  await rm(paths.header, { force: true });
  const vectors = new BufferedFile(await open(paths.vectors, 'w'));
  const ids = new BufferedFile(await open(paths.ids, 'w'));
  try {
    const { result, dims } = await writeValidated(label, entities, entities instanceof EntityMatrix ? entities.dims : 1, async (e) => {
      await vectors.writeBytes(float32LeBytes(e.vector));
      await ids.writeText(`${e.entityId}\t${e.entityType}\n`);
    });
    await vectors.close();
    await ids.close();
    const header: BinarySnapshotHeader = { format: BINARY_FORMAT, version: BINARY_FORMAT_VERSION, dims, count: result.count };
    if (named !== undefined && isValidSnapshotId(named)) header.snapshotId = named;
    header.checksum = result.checksum;
    await writeFile(paths.header, `${JSON.stringify(header, null, 2)}\n`);
    return { ...result, paths };
  } catch (err) {
    await vectors.close().catch(() => undefined);
    await ids.close().catch(() => undefined);
    await Promise.all([rm(paths.vectors, { force: true }), rm(paths.ids, { force: true })]);
    throw err;
  }
}

/**
 * Validates `entities` in order (dims from the first; types, ids, values) and
 * hands each valid one to `write`. `emptyDims` are the dims of a snapshot
 * without entities.
 * @throws SnapshotValidationError at the first invalid entity.
 */
async function writeValidated(
  label: string,
  entities: Iterable<SnapshotEntity>,
  emptyDims: number,
  write: (e: SnapshotEntity) => Promise<void>,
): Promise<{ result: ValidatedSnapshot; dims: number }> {
  let validator: SnapshotValidator | undefined;
  for (const e of entities) {
    validator ??= new SnapshotValidator({ snapshotId: label, dims: e.vector.length || 1 });
    checkType(label, e, validator.count);
    validator.accept(e.entityId, e.vector);
    await write(e);
  }
  validator ??= new SnapshotValidator({ snapshotId: label, dims: emptyDims });
  return { result: validator.finish(), dims: validator.dims };
}

function snapshotLabel<T extends string | undefined>(entities: Iterable<SnapshotEntity>, options: WriteSnapshotOptions, fallback: T): string | T {
  return options.snapshotId ?? (entities instanceof EntityMatrix ? entities.snapshotId : fallback);
}

/** Entity types are typed, but a writer must not put a file on disk that its reader refuses. */
function checkType(label: string, e: SnapshotEntity, row: number): void {
  if (parseEntityType(e.entityType) === undefined) {
    throw new SnapshotValidationError(
      label,
      `entity '${e.entityId}' (row ${row}) has entityType ${JSON.stringify(e.entityType)}; expected one of ${ENTITY_TYPES.join(', ')}`,
    );
  }
}

/** Shortest decimal that parses back to the same double, hence the same float32; `-0` kept. Comma-separated. */
export function formatFloats(vector: Float32Array): string {
  let s = '';
  for (let i = 0; i < vector.length; i++) {
    const x = vector[i]!;
    if (i > 0) s += ',';
    s += x === 0 && 1 / x < 0 ? '-0' : String(x);
  }
  return s;
}

function parseHeader(text: string, path: string, fail: (detail: string) => never): BinarySnapshotHeader {
  let h: Record<string, unknown>;
  try {
    h = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    return fail(`header ${path} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof h !== 'object' || h === null || Array.isArray(h)) return fail(`header ${path} must be a JSON object`);
  const problems: string[] = [];
  if (h.format !== BINARY_FORMAT) problems.push(`format must be "${BINARY_FORMAT}", got ${JSON.stringify(h.format)}`);
  if (h.version !== BINARY_FORMAT_VERSION) problems.push(`version must be ${BINARY_FORMAT_VERSION}, got ${JSON.stringify(h.version)}`);
  if (!Number.isInteger(h.dims) || (h.dims as number) < 1 || (h.dims as number) > MAX_DIMS) {
    problems.push(`dims must be an integer from 1 to ${MAX_DIMS}, got ${JSON.stringify(h.dims)}`);
  }
  if (!Number.isSafeInteger(h.count) || (h.count as number) < 0) problems.push(`count must be a non-negative integer, got ${JSON.stringify(h.count)}`);
  if (h.snapshotId !== undefined && !isValidSnapshotId(h.snapshotId)) problems.push(`snapshotId ${JSON.stringify(h.snapshotId)} is not a valid snapshot id`);
  if (h.checksum !== undefined && (typeof h.checksum !== 'string' || !CHECKSUM_PATTERN.test(h.checksum))) {
    problems.push(`checksum must be 64 lowercase hex characters, got ${JSON.stringify(h.checksum)}`);
  }
  if (problems.length > 0) fail(`header ${path} is invalid: ${problems.join('; ')}`);
  return h as unknown as BinarySnapshotHeader;
}

async function readIdsFile(path: string, count: number, fail: (detail: string) => never): Promise<{ ids: string[]; types: Uint8Array }> {
  const ids: string[] = [];
  const types = new Uint8Array(count);
  const input = createReadStream(path, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) {
      const row = ids.length;
      if (row >= count) fail(`${path} has more than count=${count} lines: the ids and the header disagree; write the snapshot again`);
      const tab = line.indexOf('\t');
      if (tab < 0) {
        ids.push(line);
        types[row] = ENTITY_TYPES.indexOf('OTHER');
      } else {
        const id = line.slice(0, tab);
        const type = parseEntityType(line.slice(tab + 1));
        if (type === undefined) {
          fail(`line ${row + 1} of ${path}: entity '${id}' has type ${JSON.stringify(line.slice(tab + 1))}; expected one of ${ENTITY_TYPES.join(', ')}`);
        }
        ids.push(id);
        types[row] = ENTITY_TYPES.indexOf(type as EntityType);
      }
    }
  } finally {
    lines.close();
    input.destroy();
  }
  if (ids.length !== count) {
    fail(`${path} has ${ids.length} lines, but the header says count=${count}: the ids file is truncated or stale; write the snapshot again`);
  }
  return { ids, types };
}

async function readFully(fh: FileHandle, into: Uint8Array, length: number, position: number, path: string, fail: (detail: string) => never): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(into, done, length - done, position + done);
    if (bytesRead === 0) fail(`${path} ended at byte ${position + done} while it was being read: it was truncated meanwhile`);
    done += bytesRead;
  }
}

const WRITE_BUFFER_BYTES = 1 << 20;

/** Batches small writes into 1 MiB ones. */
class BufferedFile {
  private readonly buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private pos = 0;
  private closed = false;

  constructor(private readonly fh: FileHandle) {}

  async writeText(text: string): Promise<void> {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (this.pos + bytes > WRITE_BUFFER_BYTES) await this.flush();
    if (bytes > WRITE_BUFFER_BYTES) {
      await writeAll(this.fh, Buffer.from(text, 'utf8'));
    } else {
      this.pos += this.buffer.write(text, this.pos, 'utf8');
    }
  }

  async writeBytes(bytes: Uint8Array): Promise<void> {
    if (this.pos + bytes.length > WRITE_BUFFER_BYTES) await this.flush();
    if (bytes.length > WRITE_BUFFER_BYTES) {
      await writeAll(this.fh, bytes);
    } else {
      this.buffer.set(bytes, this.pos);
      this.pos += bytes.length;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.flush();
    } finally {
      await this.fh.close();
    }
  }

  private async flush(): Promise<void> {
    if (this.pos > 0) await writeAll(this.fh, this.buffer.subarray(0, this.pos));
    this.pos = 0;
  }
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}
