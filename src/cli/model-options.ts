/**
 * The user-model and index settings of a process's snapshot catalog, from
 * `vectors run ... --opt key=value` (every model parameter is configuration):
 *
 *   model=decayed|fold-in            user model of snapshots without user factors (default decayed)
 *   tau-ms=604800000                 decayed: time constant τ (default 7 days)
 *   fold-in-lambda=0.1               fold-in: λ (default the manifest's `lambda` param, else 0.1)
 *   fold-in-alpha=10                 fold-in and lifetime: confidence slope α (default the manifest's `alpha`, else 10)
 *   fold-in-max-entities=100         fold-in and lifetime: entities kept per user (default 100)
 *   prior-weight=1                   lifetime: λₚ, the weight of the batch user factor (default the manifest's `prior-weight`, else 1)
 *   lifetime-variant=ridge|anchored  lifetime: how x₀ enters (default ridge, chosen by `npm run eval`)
 *   index=hnsw|exact                 candidate index (default hnsw)
 *
 * Defaults are those `npm run eval` measured (docs/EVALUATION.md).
 */
import { ConfigError } from '../errors';
import type { LifetimeVariant } from '../vectors/models/lifetime';
import type { SnapshotCatalogOptions } from '../vectors/snapshot-catalog';

function positive(o: Record<string, string>, key: string, integer = false): number | undefined {
  const raw = o[key];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new ConfigError(`--opt ${key} must be a ${integer ? 'positive integer' : 'positive number'}, got '${raw}'`);
  }
  return n;
}

function oneOf<T extends string>(o: Record<string, string>, key: string, values: readonly T[]): T | undefined {
  const raw = o[key];
  if (raw === undefined) return undefined;
  if (!(values as readonly string[]).includes(raw)) throw new ConfigError(`--opt ${key} must be one of ${values.join(', ')}, got '${raw}'`);
  return raw as T;
}

/**
 * The catalog's settings from `--opt`. `searches: false` is a process that
 * never searches the snapshots (user-vectors without the query API): unless
 * `--opt index=` says otherwise it gets the exact index, which reads the
 * matrix the catalog holds anyway, instead of an HNSW graph it would build
 * at every snapshot and never use (about 75–120 MiB per 100,000 × 128
 * snapshot, docs/BENCHMARKS.md "Memory").
 * @throws ConfigError naming the option and what it accepts.
 */
/** The `--opt` keys {@link catalogOptions} reads: settings of the process's snapshot catalog, shared by every topology it runs. */
export const CATALOG_OPTION_KEYS = ['model', 'index', 'tau-ms', 'fold-in-lambda', 'fold-in-alpha', 'fold-in-max-entities', 'prior-weight', 'lifetime-variant'];

export function catalogOptions(o: Record<string, string>, { searches = true }: { searches?: boolean } = {}): SnapshotCatalogOptions {
  const model = oneOf(o, 'model', ['decayed', 'fold-in'] as const);
  const index = oneOf(o, 'index', ['hnsw', 'exact'] as const) ?? (searches ? undefined : 'exact');
  const tauMs = positive(o, 'tau-ms');
  const lambda = positive(o, 'fold-in-lambda');
  const alphaRaw = o['fold-in-alpha'];
  const alpha = alphaRaw === undefined ? undefined : Number(alphaRaw);
  if (alpha !== undefined && (alphaRaw!.trim() === '' || !Number.isFinite(alpha) || alpha < 0))
    throw new ConfigError(`--opt fold-in-alpha must be a number ≥ 0, got '${alphaRaw}'`);
  const maxEntities = positive(o, 'fold-in-max-entities', true);
  const priorWeight = positive(o, 'prior-weight');
  const variant = oneOf<LifetimeVariant>(o, 'lifetime-variant', ['ridge', 'anchored']);
  const foldIn = {
    ...(lambda !== undefined ? { lambda } : {}),
    ...(alpha !== undefined ? { alpha } : {}),
    ...(maxEntities !== undefined ? { maxEntities } : {}),
  };
  const lifetime = { ...(priorWeight !== undefined ? { priorWeight } : {}), ...(variant !== undefined ? { variant } : {}) };
  return {
    ...(model ? { model } : {}),
    ...(index ? { index } : {}),
    ...(tauMs !== undefined ? { tauMs } : {}),
    ...(Object.keys(foldIn).length ? { foldIn } : {}),
    ...(Object.keys(lifetime).length ? { lifetime } : {}),
  };
}
