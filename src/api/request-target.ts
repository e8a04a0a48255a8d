/**
 * The query API's request targets, parsed strictly, and the URL a user query
 * is forwarded to, built only from validated parts. Pure: no I/O.
 *
 * Nothing of a request's raw target is passed on. Resolving it against the
 * owner's endpoint (`new URL(path, endpoint)`) let `/.//v1/users/x/vector`,
 * whose path the URL parser reads as `//v1/users/x/vector`, name another host.
 */
import type { ExcludePolicy } from '../vectors/candidate-search';

/** The routes of the query API (also the `route` label of its metrics). */
export type Route =
  'user_vector' | 'user_candidates' | 'entity_similar' | 'snapshots' | 'status' | 'status_page' | 'openapi' | 'metrics' | 'healthz' | 'readyz' | 'unknown';

/** The routes answered by the owner of the user's partition, and so forwarded. */
export type UserRoute = 'user_vector' | 'user_candidates';

/** A request target that parsed: its route, decoded id (users and entities) and decoded query parameters. */
export interface RequestTarget {
  ok: true;
  route: Route;
  /** The path as received, without the query: for messages only. */
  path: string;
  /** The user or entity id, percent-decoded, for the routes that have one. */
  id?: string;
  /** Query parameters, percent-decoded (`+` as a space); the first of a repeated name wins. */
  query: ReadonlyMap<string, string>;
}

/** A request target that did not parse: `problem` names the bad part (answered with 400). */
export interface BadRequestTarget {
  ok: false;
  path: string;
  problem: string;
}

const ENCODING_HINT = "a '%' must start an escape of two hex digits, and the escapes must spell UTF-8; encode ids and values with encodeURIComponent";

/**
 * Parses a request target (`req.url`): origin form (`/path?query`), or
 * absolute form, whose scheme and authority are ignored.
 *
 * A path with an empty segment (`//`, a trailing `/`) or a dot segment (`.`,
 * `..`, also percent-encoded) matches no route: such paths are not
 * normalised, since clients and proxies disagree on how. A malformed percent
 * escape in any path segment or query parameter makes the target bad.
 */
export function parseRequestTarget(target: string): RequestTarget | BadRequestTarget {
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i.exec(target);
  const rest = absolute ? target.slice(absolute[0].length) : target;
  const q = rest.indexOf('?');
  const path = q < 0 ? rest : rest.slice(0, q);
  const rawQuery = q < 0 ? '' : rest.slice(q + 1);

  const query = new Map<string, string>();
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const [rawName, rawValue] = eq < 0 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)];
    const name = decodeQueryPart(rawName);
    const value = decodeQueryPart(rawValue);
    if (name === undefined) return { ok: false, path, problem: `query parameter name '${rawName}' is not valid percent-encoding: ${ENCODING_HINT}` };
    if (value === undefined)
      return { ok: false, path, problem: `query parameter '${name}' has value '${rawValue}', which is not valid percent-encoding: ${ENCODING_HINT}` };
    if (!query.has(name)) query.set(name, value);
  }

  if (!path.startsWith('/')) return { ok: true, route: 'unknown', path, query };
  if (path === '/') return { ok: true, route: 'status_page', path, query };
  const segments: string[] = [];
  for (const raw of path.slice(1).split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return { ok: false, path, problem: `path segment '${raw}' is not valid percent-encoding: ${ENCODING_HINT}` };
    }
    segments.push(segment);
  }
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return { ok: true, route: 'unknown', path, query };
  const route = routeOf(segments);
  return route === 'user_vector' || route === 'user_candidates' || route === 'entity_similar'
    ? { ok: true, route, path, id: segments[2]!, query }
    : { ok: true, route, path, query };
}

function decodeQueryPart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

const ROOT_ROUTES = new Map<string, Route>([
  ['metrics', 'metrics'],
  ['healthz', 'healthz'],
  ['readyz', 'readyz'],
  ['openapi.json', 'openapi'],
]);

function routeOf(parts: string[]): Route {
  const [a, b, id, leaf, extra] = parts;
  if (parts.length === 1) return ROOT_ROUTES.get(a!) ?? 'unknown';
  if (a !== 'v1' || extra !== undefined) return 'unknown';
  if (b === 'snapshots' && id === undefined) return 'snapshots';
  if (b === 'status' && id === undefined) return 'status';
  if (b === 'users' && id !== undefined && leaf === 'vector') return 'user_vector';
  if (b === 'users' && id !== undefined && leaf === 'candidates') return 'user_candidates';
  if (b === 'entities' && id !== undefined && leaf === 'similar') return 'entity_similar';
  return 'unknown';
}

/** What a forwarded user query carries: the parameters its route accepts, already validated. */
export interface ForwardedQuery {
  route: UserRoute;
  userId: string;
  /** `?k=` of `user_candidates`. */
  k?: number;
  /** `?snapshot=`: passed on as given; the owner checks it. */
  snapshot?: string;
  /** `?exclude=` of `user_candidates`, validated. */
  exclude?: ExcludePolicy;
}

/**
 * The URL a user query is forwarded to: the endpoint's origin (its path, if
 * any, is dropped), the route's path around the percent-encoded user id, and
 * only the query parameters the route accepts.
 * @throws Error when the endpoint is not an http(s) URL, or the user id cannot
 *   be carried in a path segment (`.` and `..`, which `parseRequestTarget`
 *   never yields).
 */
export function forwardedUrl(endpoint: string, q: ForwardedQuery): string {
  let origin: string;
  try {
    const u = new URL(endpoint);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`scheme ${u.protocol}`);
    origin = u.origin;
  } catch (err) {
    throw new Error(`the owner's advertised endpoint '${endpoint}' is not an http(s) URL (${(err as Error).message}); set --advertise on that instance`, {
      cause: err,
    });
  }
  const path = `/v1/users/${encodeURIComponent(q.userId)}/${q.route === 'user_vector' ? 'vector' : 'candidates'}`;
  const params = new URLSearchParams();
  if (q.route === 'user_candidates' && q.k !== undefined) params.set('k', String(q.k));
  if (q.snapshot !== undefined) params.set('snapshot', q.snapshot);
  if (q.route === 'user_candidates' && q.exclude !== undefined) params.set('exclude', q.exclude);
  const search = params.toString();
  const url = `${origin}${path}${search ? `?${search}` : ''}`;
  // encodeURIComponent leaves dots alone, and the URL parser removes dot segments: check nothing moved.
  const parsed = new URL(url);
  if (parsed.origin !== origin || parsed.pathname !== path) throw new Error(`user id '${q.userId}' cannot be carried in a URL path`);
  return url;
}
