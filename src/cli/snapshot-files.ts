/**
 * Which reader a file given to `vectors publish` goes to, decided from its
 * extension before anything is read, so that a wrong or missing path gets one
 * line naming it and what is accepted — not an ENOENT on some derived path.
 */
import { stat } from 'node:fs/promises';
import { extname } from 'node:path';
import { UsageError } from '../errors';
import { binarySnapshotPaths } from '../vectors/snapshot/formats';

export type SnapshotFileFormat = 'jsonl' | 'parquet' | 'binary';

export const SUPPORTED_SNAPSHOT_FILES =
  '.jsonl or .ndjson (JSON lines), .parquet or a Parquet directory, or the binary format (base.json + base.f32 + base.ids: give any of them or the base)';

export const SUPPORTED_USER_FILES = '.jsonl or .ndjson (JSON lines), .parquet or a Parquet directory';

async function kind(path: string): Promise<'file' | 'directory' | undefined> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'file';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

async function mustExist(path: string, what = ''): Promise<void> {
  if ((await kind(path)) === undefined) throw new UsageError(`no such file: ${path}${what}`);
}

/** JSON lines and Parquet: what both snapshot and user-factor files may be. */
async function textOrParquet(path: string): Promise<'jsonl' | 'parquet' | undefined> {
  const found = await kind(path);
  if (found === 'directory') return 'parquet';
  if (/\.(jsonl|ndjson)$/.test(path)) {
    await mustExist(path);
    return 'jsonl';
  }
  if (/\.parquet$/i.test(path)) {
    await mustExist(path);
    return 'parquet';
  }
  return undefined;
}

/**
 * The format of a snapshot file: `.jsonl`/`.ndjson`, `.parquet` or a
 * directory, or the binary format's `.json`/`.f32`/`.ids` or their base path.
 * @throws UsageError on a missing file (naming it) or another extension (listing those supported).
 */
export async function snapshotFileFormat(path: string): Promise<SnapshotFileFormat> {
  const simple = await textOrParquet(path);
  if (simple) return simple;
  const binary = binarySnapshotPaths(path);
  const isBinaryPart = /\.(json|f32|ids)$/.test(path);
  // A base path (`snap`, or `snap.v2` with a dot of its own) is binary when its header exists.
  if (isBinaryPart || (await kind(binary.header)) === 'file') {
    for (const part of [binary.header, binary.vectors, binary.ids]) {
      await mustExist(part, ` (a binary snapshot is three files: ${binary.header}, ${binary.vectors}, ${binary.ids})`);
    }
    return 'binary';
  }
  if (extname(path) === '' && (await kind(path)) === undefined) throw new UsageError(`no such file: ${path} (nor ${binary.header})`);
  throw new UsageError(`cannot publish ${path}: unsupported file type '${extname(path) || '(none)'}'; expected ${SUPPORTED_SNAPSHOT_FILES}`);
}

/**
 * The format of a `--users` file.
 * @throws UsageError on a missing file or another extension.
 */
export async function userFactorsFileFormat(path: string): Promise<'jsonl' | 'parquet'> {
  const format = await textOrParquet(path);
  if (format) return format;
  if (extname(path) === '') await mustExist(path);
  throw new UsageError(`cannot read --users ${path}: unsupported file type '${extname(path) || '(none)'}'; expected ${SUPPORTED_USER_FILES}`);
}
