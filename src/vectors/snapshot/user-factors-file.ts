/**
 * Files of batch user factors, as `vectors publish --users` reads them:
 *
 * - JSONL, one user per line: `{"userId": "u1", "vector": [0.1, -2.5, ...]}`
 *   (`id` for `userId` and `features` for `vector` are accepted too; an
 *   optional `snapshotId` must name the snapshot being published; blank
 *   lines are skipped);
 * - Parquet (a file or a Spark output directory): what Spark MLlib's ALS
 *   writes for `model.userFactors`, columns `id` and `features` by default.
 *
 * Rows are validated as they stream (non-empty, well-formed, unique ids;
 * exactly the snapshot's dims, finite float32 values), each error naming
 * the line or the file and row. Vectors are kept as trained, not normalised:
 * their length weighs the lifetime taste against new events.
 */
import { SnapshotValidationError } from '../../errors';
import { isParquetPath, ParquetVectorReader, type ParquetColumnOptions } from './parquet';
import { jsonlObjects } from './jsonl';
import { SnapshotValidator } from './validate';

export interface UserFactorFileOptions {
  /** The snapshot the factors belong to: names it in errors; rows naming another are refused. */
  snapshotId: string;
  /** The snapshot's dims: every vector must have them. */
  dims: number;
  /** Parquet: the columns (default `id` and `features`). */
  parquet?: Pick<ParquetColumnOptions, 'idColumn' | 'vectorColumn'>;
}

/** One user's factor; `vector` may be a reused buffer: copy it to keep it. */
export interface UserFactorRow {
  userId: string;
  vector: Float32Array;
}

/**
 * The rows of a user-factors file in order, each validated before it is
 * yielded; then, as the generator's return value, the count and checksum of
 * the whole file.
 * @throws SnapshotValidationError naming the line (JSONL) or file and row (Parquet).
 */
export async function* userFactorRows(path: string, o: UserFactorFileOptions): AsyncGenerator<UserFactorRow, { count: number; checksum: string }, undefined> {
  const label = o.snapshotId;
  if (await isParquetPath(path)) {
    const reader = await ParquetVectorReader.open(path, { label, dims: o.dims, noun: 'user', ...o.parquet });
    for await (const row of reader.rows()) yield { userId: row.entityId, vector: row.vector };
    return reader.finish();
  }
  const fail = (detail: string): never => {
    throw new SnapshotValidationError(label, `user factors: ${detail}`);
  };
  let lineNo = 0;
  const validator = new SnapshotValidator({ snapshotId: label, dims: o.dims, noun: 'user', location: () => `line ${lineNo} of ${path}` });
  const scratch = new Float32Array(o.dims);
  for await (const line of jsonlObjects(path, '{"userId", "vector"}', fail)) {
    lineNo = line.lineNo;
    const { obj, where } = line;
    const userId = obj.userId ?? obj.id;
    if (typeof userId !== 'string') fail(`${where}: userId must be a string, got ${JSON.stringify(userId) ?? 'nothing'}`);
    if (obj.snapshotId !== undefined && obj.snapshotId !== label) {
      fail(
        `${where}: user '${String(userId)}' names snapshot ${JSON.stringify(obj.snapshotId)}, but snapshot '${label}' is being published; factors are only valid in the space they were trained with`,
      );
    }
    const values = obj.vector ?? obj.features;
    if (!Array.isArray(values)) fail(`${where}: user '${String(userId)}' has no "vector" array`);
    const array = values as unknown[];
    const into = array.length === o.dims ? scratch : new Float32Array(array.length);
    for (let i = 0; i < array.length; i++) {
      const x = array[i];
      if (typeof x !== 'number') fail(`${where}: user '${String(userId)}' has ${JSON.stringify(x)} at index ${i}; vector values must be numbers`);
      into[i] = x as number;
    }
    validator.accept(userId as string, into);
    yield { userId: userId as string, vector: into };
  }
  return validator.finish();
}
