import { ConfigError, SnapshotValidationError } from '../../errors';
import type { SnapshotManifest, UserFactorsManifest } from '../records';
import { CHECKSUM_PATTERN } from './checksum';

/**
 * What a snapshot id may look like. It becomes part of a topic name,
 * `entity-vectors.<snapshotId>`, so only Kafka's topic characters are allowed,
 * and the length keeps the topic name well under Kafka's 249.
 */
export const SNAPSHOT_ID_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

/** Largest `dims` a manifest may declare. */
export const MAX_DIMS = 65_536;

/** Whether `id` is a valid snapshot id. */
export function isValidSnapshotId(id: unknown): id is string {
  return typeof id === 'string' && SNAPSHOT_ID_PATTERN.test(id);
}

/** Inputs of {@link buildManifest}; params may be numbers or booleans and are stored as strings. */
export interface ManifestInput {
  snapshotId: string;
  model: string;
  dims: number;
  count: number;
  checksum: string;
  /** Epoch milliseconds or a Date; default now. */
  createdAt?: number | Date;
  /** Model parameters, e.g. `{ lambda: 0.1, alpha: 40 }`; stored as strings (`String(value)`). */
  params?: Record<string, string | number | boolean>;
  /** Training cut-off, epoch ms or a Date: events at or before it are in the user factors. */
  cutoff?: number | Date | null;
  /** The user factors published with the snapshot. */
  users?: UserFactorsManifest | null;
}

/**
 * A manifest for a snapshot about to be published.
 * @throws ConfigError listing every field that is wrong.
 */
export function buildManifest(input: ManifestInput): SnapshotManifest {
  const params: Record<string, string> = {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(input.params ?? {})) {
    if (typeof value === 'number' && !Number.isFinite(value)) problems.push(`params.${key} must be finite, got ${value}`);
    else if (!['string', 'number', 'boolean'].includes(typeof value)) problems.push(`params.${key} must be a string, number or boolean`);
    else params[key] = String(value);
  }
  const createdAt = input.createdAt === undefined ? Date.now() : input.createdAt instanceof Date ? input.createdAt.getTime() : input.createdAt;
  const manifest: SnapshotManifest = {
    snapshotId: input.snapshotId,
    model: input.model,
    dims: input.dims,
    count: input.count,
    checksum: input.checksum,
    createdAt,
    params,
    cutoff: input.cutoff instanceof Date ? input.cutoff.getTime() : (input.cutoff ?? null),
    users: input.users ?? null,
  };
  problems.push(...manifestProblems(manifest));
  if (problems.length > 0) {
    throw new ConfigError(`cannot build the manifest of snapshot '${String(input.snapshotId)}': ${problems.join('; ')}`);
  }
  return manifest;
}

/**
 * Checks a manifest received from elsewhere (the control topic, a file) and
 * returns it as a clean `SnapshotManifest` (a copy; the checksum lowercased).
 * @throws SnapshotValidationError listing every field that is wrong.
 */
export function parseManifest(value: unknown): SnapshotManifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SnapshotValidationError('?', `a manifest must be an object, got ${describe(value)}`);
  }
  const v = value as Record<string, unknown>;
  const manifest = {
    snapshotId: v.snapshotId,
    model: v.model,
    dims: v.dims,
    count: v.count,
    checksum: typeof v.checksum === 'string' ? v.checksum.toLowerCase() : v.checksum,
    createdAt: v.createdAt instanceof Date ? v.createdAt.getTime() : v.createdAt,
    params: v.params === undefined || v.params === null ? {} : v.params,
    cutoff: v.cutoff instanceof Date ? v.cutoff.getTime() : (v.cutoff ?? null),
    users: v.users ?? null,
  } as SnapshotManifest;
  const problems = manifestProblems(manifest);
  if (problems.length > 0) {
    const id = typeof v.snapshotId === 'string' ? v.snapshotId : '?';
    throw new SnapshotValidationError(id, `its manifest is invalid: ${problems.join('; ')}. Publish it again with a valid manifest.`);
  }
  return {
    ...manifest,
    params: { ...manifest.params },
    users: manifest.users ? { ...manifest.users, counts: [...manifest.users.counts], checksums: [...manifest.users.checksums] } : null,
  };
}

/** Every problem of a manifest, empty when it is valid. */
export function manifestProblems(m: SnapshotManifest): string[] {
  const problems: string[] = [];
  if (!isValidSnapshotId(m.snapshotId)) {
    problems.push(
      `snapshotId ${describe(m.snapshotId)} must be 1 to 100 characters of A-Z a-z 0-9 . _ - (it becomes the topic name entity-vectors.<snapshotId>)`,
    );
  }
  if (typeof m.model !== 'string' || m.model.trim() === '') problems.push(`model must be a non-empty string, got ${describe(m.model)}`);
  if (!Number.isInteger(m.dims) || m.dims < 1 || m.dims > MAX_DIMS) {
    problems.push(`dims must be an integer from 1 to ${MAX_DIMS}, got ${describe(m.dims)}`);
  }
  if (!Number.isSafeInteger(m.count) || m.count < 1) problems.push(`count must be a positive integer, got ${describe(m.count)}`);
  if (typeof m.checksum !== 'string' || !CHECKSUM_PATTERN.test(m.checksum)) {
    problems.push(`checksum must be 64 lowercase hex characters (SHA-256, see snapshot/checksum.ts), got ${describe(m.checksum)}`);
  }
  if (!Number.isSafeInteger(m.createdAt) || m.createdAt < 0) {
    problems.push(`createdAt must be epoch milliseconds, got ${describe(m.createdAt)}`);
  }
  if (typeof m.params !== 'object' || m.params === null || Array.isArray(m.params)) {
    problems.push(`params must be a map of strings, got ${describe(m.params)}`);
  } else {
    for (const [key, value] of Object.entries(m.params)) {
      if (key === '') problems.push('params has an empty key');
      if (typeof value !== 'string') problems.push(`params.${key} must be a string, got ${describe(value)}`);
    }
  }
  if (m.cutoff !== undefined && m.cutoff !== null && (!Number.isSafeInteger(m.cutoff) || m.cutoff < 0)) {
    problems.push(`cutoff must be epoch milliseconds or null, got ${describe(m.cutoff)}`);
  }
  if (m.users !== undefined && m.users !== null) problems.push(...userFactorsProblems(m.users));
  return problems;
}

function userFactorsProblems(u: UserFactorsManifest): string[] {
  const problems: string[] = [];
  if (typeof u !== 'object' || !Array.isArray(u.counts) || !Array.isArray(u.checksums))
    return [`users must be { count, partitions, counts, checksums }, got ${describe(u)}`];
  if (!Number.isInteger(u.partitions) || u.partitions < 1) problems.push(`users.partitions must be a positive integer, got ${describe(u.partitions)}`);
  if (u.counts.length !== u.partitions || u.checksums.length !== u.partitions) {
    problems.push(
      `users.counts and users.checksums must have one entry per partition (${describe(u.partitions)}), got ${u.counts.length} and ${u.checksums.length}`,
    );
  }
  if (u.counts.some((n) => !Number.isSafeInteger(n) || n < 0)) problems.push('users.counts must be non-negative integers');
  if (u.checksums.some((c) => typeof c !== 'string' || !CHECKSUM_PATTERN.test(c))) problems.push('users.checksums must be 64 lowercase hex characters each');
  if (!Number.isSafeInteger(u.count) || u.count !== u.counts.reduce((a, b) => a + b, 0))
    problems.push(`users.count must be the sum of users.counts, got ${describe(u.count)}`);
  return problems;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
