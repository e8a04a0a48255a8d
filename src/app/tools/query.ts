/**
 * `vectors query`: one request to the query API (docs/API.md), with a clear
 * error when nothing answers there.
 */
import { ApiUnreachableError, ConfigError } from '../../errors';

/** Where `npm start` serves the query API (`--http` / VECTORS_HTTP, default 127.0.0.1:8090). */
export const DEFAULT_API_URL = 'http://127.0.0.1:8090';

export interface QueryParams {
  /** Candidates and similar entities: how many (1–1000; the API's default 100). */
  k?: number;
  /** Candidates: `consumed` (the API's default), `recent` or `none`. */
  exclude?: 'consumed' | 'recent' | 'none';
  /** Answer in this live snapshot rather than the active one. */
  snapshot?: string;
  /** Give up after this long, ms. Default 10,000. */
  timeoutMs?: number;
  /** The API's bearer token, when it requires one (docs/SECURITY.md). */
  token?: string;
}

/** The API's answer: its status and JSON body; for an error status, the body's `error`. */
export interface QueryResult {
  url: string;
  status: number;
  body: unknown;
  /** Set when the status is not 2xx: the API's `{ code, message }`. */
  error?: { code: string; message: string };
}

/** A user's vector or candidates: `GET /v1/users/{id}/vector|candidates`. */
export async function queryUser(baseUrl: string, userId: string, what: 'vector' | 'candidates', params: QueryParams = {}): Promise<QueryResult> {
  if (what !== 'vector' && what !== 'candidates') throw new ConfigError(`query: what must be vector or candidates, got '${String(what)}'`);
  const search = what === 'candidates' ? pick(params, ['k', 'exclude', 'snapshot']) : pick(params, ['snapshot']);
  return get(baseUrl, `/v1/users/${segment('user id', userId)}/${what}`, search, params.timeoutMs, params.token);
}

/** An entity's nearest entities: `GET /v1/entities/{id}/similar`. */
export async function querySimilar(baseUrl: string, entityId: string, params: Omit<QueryParams, 'exclude'> = {}): Promise<QueryResult> {
  return get(baseUrl, `/v1/entities/${segment('entity id', entityId)}/similar`, pick(params, ['k', 'snapshot']), params.timeoutMs, params.token);
}

/** The snapshots as the doorman's log has them: `GET /v1/snapshots`. */
export async function querySnapshots(baseUrl: string, params: Pick<QueryParams, 'timeoutMs' | 'token'> = {}): Promise<QueryResult> {
  return get(baseUrl, '/v1/snapshots', {}, params.timeoutMs, params.token);
}

function segment(what: string, id: string): string {
  if (typeof id !== 'string' || id === '') throw new ConfigError(`query: the ${what} must not be empty`);
  // docs/API.md: dot segments match no route, so these ids cannot be asked for.
  if (id === '.' || id === '..') throw new ConfigError(`query: the ${what} '${id}' cannot be queried (a dot segment matches no route)`);
  return encodeURIComponent(id);
}

function pick(params: QueryParams, names: (keyof QueryParams)[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (params[n] !== undefined) out[n] = String(params[n]);
  return out;
}

async function get(baseUrl: string, path: string, search: Record<string, string>, timeoutMs = 10_000, token?: string): Promise<QueryResult> {
  let base: URL;
  try {
    base = new URL(baseUrl);
  } catch {
    throw new ConfigError(`query: '${baseUrl}' is not a URL; give the API's address, e.g. ${DEFAULT_API_URL}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new ConfigError(`query: '${baseUrl}' is not an http(s) URL`);
  const qs = new URLSearchParams(search).toString();
  const url = `${base.origin}${path}${qs ? `?${qs}` : ''}`;
  const hint = `is the query API running there? \`npm start\` serves it at ${DEFAULT_API_URL}; otherwise give its address with --api URL (or VECTORS_API)`;
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : (e.cause?.code ?? e.message);
    throw new ApiUnreachableError(`the query API at ${base.origin} is not reachable (${why}); ${hint}`, err);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiUnreachableError(`${base.origin} answered ${url} with HTTP ${res.status} and no JSON: it is not the query API; ${hint}`);
  }
  const result: QueryResult = { url, status: res.status, body };
  if (!res.ok) {
    const e = (body as { error?: { code?: unknown; message?: unknown } })?.error;
    result.error = {
      code: typeof e?.code === 'string' ? e.code : `HTTP_${res.status}`,
      message: typeof e?.message === 'string' ? e.message : `HTTP ${res.status}`,
    };
  }
  return result;
}
