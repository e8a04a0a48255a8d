/**
 * The query API over HTTP (docs/CONTRACTS.md "Query API"). Any instance answers any
 * key: it serves the users of its own partitions from its state store and
 * forwards the rest to the instance the consumer group gave that partition to
 * (Kafka Streams' interactive queries, with the endpoint carried in the
 * group's member metadata).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ControlLog } from '../app/snapshots';
import type { LogFn, TopologyRunner } from '../runtime/runner/topology-runner';
import type { DoormanView } from '../vectors/doorman/doorman-state';
import type { LoadedSnapshot, SnapshotCatalog } from '../vectors/snapshot-catalog';
import type { UserState } from '../vectors/user-state';
import { DEFAULT_EXCLUDE, EXCLUDE_POLICIES, type ExcludePolicy, parseExcludePolicy } from '../vectors/candidate-search';
import { openApiDocument } from './openapi';
import { batchOnlyState, candidatesAnswer, MAX_K, similarAnswer, userVectorAnswer } from './queries';
import { readinessReports, StatusSampler, timeline } from './status';
import { STATUS_PAGE_HTML } from './status-page';
import { type ForwardedQuery, forwardedUrl, parseRequestTarget, type RequestTarget, type Route, type UserRoute } from './request-target';
import { HttpGuard, MAX_HEADER_BYTES } from '../runtime/http/http-guard';
import { StoreClosedError, TopologyError } from '../errors';

/** Metric names of the query API (the runtime's are in src/runtime/metrics/names.ts). */
export const ApiMetricNames = {
  requests: 'vectors_api_requests_total',
  latency: 'vectors_api_request_seconds',
  activeSnapshot: 'vectors_active_snapshot_info',
} as const;

/** Header naming the instance that forwarded a request; a forwarded request is never forwarded again. */
export const FORWARDED_HEADER = 'x-vectors-forwarded-by';
/** Header naming the instance that answered. */
export const SERVED_BY_HEADER = 'x-vectors-served-by';

export interface QueryServerOptions {
  /** The user-vectors topology instance whose store holds the users. */
  runner: TopologyRunner;
  /** The process's snapshots (shared with the topology). */
  catalog: SnapshotCatalog;
  /** The doorman's log: the active snapshot and every snapshot's phase. */
  control: ControlLog;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Name of the users store. Default `users`. */
  usersStore?: string;
  /** Registry served at /metrics. Default the runner's. */
  registry?: Registry;
  /** How old the control view may be when a query needs the active snapshot, ms. Default 250. */
  controlMaxAgeMs?: number;
  /** Timeout of a forwarded request, ms. Default 5000. */
  forwardTimeoutMs?: number;
  /**
   * `/metrics` URLs of the system's other processes (the doorman, candidates),
   * whose throughput, lag and dead letters the status page shows next to this
   * process's own. Default none.
   */
  metricsPeers?: string[];
  /** How often the status page's metrics are sampled, ms. Default 2000. */
  statusSampleMs?: number;
  /**
   * Bearer token every route but `/healthz` and `/readyz` needs (401
   * otherwise); sent when forwarding to other instances and when scraping
   * `metricsPeers`, which must therefore share it. Default none: open.
   */
  apiToken?: string;
  /** Requests per second this process answers before it answers 429 (probes exempt). Default 1000; 0: no limit. */
  rateLimitPerSecond?: number;
  log?: LogFn;
}

/** An answer with an HTTP status: errors carry `{ error: { code, message } }`. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

const notFound = (message: string) => new HttpError(404, 'NOT_FOUND', message);
const unavailable = (message: string) => new HttpError(503, 'UNAVAILABLE', message, 1);

/**
 * Serves `GET /v1/users/{id}/vector`, `/v1/users/{id}/candidates?k=`,
 * `/v1/entities/{id}/similar?k=`, `/v1/snapshots`, `/v1/status`, `/metrics`,
 * `/healthz`, `/readyz`, `/openapi.json` (the OpenAPI 3.1 document of all of
 * them) and, at `/`, the status page. `?snapshot=` pins a live snapshot; the default is the active one.
 * Every vector answer names its snapshot and is computed in that snapshot only.
 *
 * Status codes: 400 for a bad parameter or a malformed percent escape in the
 * path or query, 404 for an unknown user, entity or snapshot, or a path that
 * matches no route (also one with an empty or dot segment), 503 (with
 * Retry-After) while the key's partition has no reachable owner
 * (rebalancing, restoring) or nothing is active yet.
 *
 * A user query for a partition another instance owns is forwarded to that
 * instance's advertised origin, on a URL rebuilt from the route, the user id
 * and the parameters the route accepts (`forwardedUrl`), never from the
 * request's own target.
 */
export class QueryServer {
  private server?: Server;
  private readonly usersStore: string;
  private readonly registry: Registry;
  private readonly requests: Counter;
  private readonly latency: Histogram;
  private controlAt = 0;
  private controlRefresh?: Promise<DoormanView>;
  private dead?: Error;
  private baseUrl?: string;
  private readonly sampler: StatusSampler;
  private readonly guard: HttpGuard;

  constructor(private readonly o: QueryServerOptions) {
    this.guard = new HttpGuard({ ...(o.apiToken !== undefined ? { token: o.apiToken } : {}), ratePerSecond: o.rateLimitPerSecond ?? 1000 });
    this.usersStore = o.usersStore ?? 'users';
    this.registry = o.registry ?? o.runner.metrics.registry;
    const registers = [this.registry];
    this.requests = new Counter({
      name: ApiMetricNames.requests,
      help: 'Query API requests, by route and status.',
      labelNames: ['route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: ApiMetricNames.latency,
      help: 'Query API request time, seconds.',
      labelNames: ['route'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    const server = this;
    new Gauge({
      name: ApiMetricNames.activeSnapshot,
      help: 'The active snapshot (value 1), as this instance last read the control log.',
      labelNames: ['snapshot'],
      registers,
      async collect() {
        const view = await server.controlView().catch(() => server.o.control.view);
        this.reset();
        if (view.active) this.set({ snapshot: view.active }, 1);
      },
    });
    o.runner.done.catch((err: Error) => (this.dead = err));
    this.sampler = new StatusSampler(this.registry, o.metricsPeers ?? []);
    this.sampler.peerHeaders = this.guard.authorization;
  }

  /** Where the server listens, e.g. `http://127.0.0.1:8090`. */
  get url(): string {
    if (!this.baseUrl) throw new Error('QueryServer: listen() first');
    return this.baseUrl;
  }

  /** Binds and starts serving. Resolves with the URL. */
  async listen(): Promise<string> {
    const host = this.o.host ?? '127.0.0.1';
    const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => void this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, host, () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : this.o.port;
    this.baseUrl = `http://${host}:${port}`;
    this.sampler.start(this.o.statusSampleMs ?? 2000);
    return this.baseUrl;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.sampler.stop();
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    const refused = this.guard.check(req);
    if (refused) {
      // Counted under route 'unknown': the target of a refused request is not parsed.
      this.requests.inc({ route: 'unknown', status: String(refused.status) });
      res.writeHead(refused.status, { 'content-type': 'application/json', ...refused.headers });
      res.end(JSON.stringify({ error: { code: refused.code, message: refused.message } }));
      return;
    }
    const target = parseRequestTarget(req.url ?? '/');
    let route: Route = 'unknown';
    let status = 500;
    try {
      if (!target.ok) throw new HttpError(400, 'BAD_ENCODING', target.problem);
      route = target.route;
      if (req.method !== 'GET' && req.method !== 'HEAD')
        throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${req.method ?? ''} is not supported; the query API is read-only (GET)`);
      status = await this.dispatch(target, req, res);
    } catch (err) {
      const e = err instanceof HttpError ? err : new HttpError(500, 'INTERNAL', (err as Error)?.message ?? String(err));
      if (e.status === 500) this.o.log?.('error', 'query failed', { path: target.path, error: e.message });
      status = e.status;
      if (!res.headersSent) this.send(res, e.status, { error: { code: e.code, message: e.message } }, e.retryAfterS);
    } finally {
      this.requests.inc({ route, status: String(status) });
      this.latency.observe({ route }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  private async dispatch(target: RequestTarget, req: IncomingMessage, res: ServerResponse): Promise<number> {
    const { route, query } = target;
    switch (route) {
      case 'healthz':
        if (this.dead) throw unavailable(`the topology stopped: ${this.dead.message}`);
        return this.send(res, 200, { status: 'ok' });
      case 'readyz':
        return this.ready(res);
      case 'metrics':
        res.writeHead(200, { 'content-type': this.registry.contentType });
        res.end(await this.registry.metrics());
        return 200;
      case 'snapshots':
        return this.send(res, 200, this.snapshots(await this.controlView()));
      case 'status':
        return this.send(res, 200, await this.status());
      case 'status_page':
        return this.sendText(res, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML);
      case 'openapi':
        return this.send(res, 200, openApiDocument());
      case 'entity_similar': {
        const space = await this.space(query);
        const answer = similarAnswer(space, target.id!, kOf(query));
        if (!answer) throw notFound(`entity '${target.id}' is not in snapshot '${space.id}'`);
        return this.send(res, 200, answer);
      }
      case 'user_vector':
      case 'user_candidates':
        return this.userQuery(route, target.id!, query, req, res);
      default:
        throw notFound(
          `no such resource '${target.path}'; see GET /v1/users/{id}/vector, /v1/users/{id}/candidates, /v1/entities/{id}/similar, /v1/snapshots, /v1/status, /openapi.json`,
        );
    }
  }

  private async userQuery(route: UserRoute, userId: string, query: ReadonlyMap<string, string>, req: IncomingMessage, res: ServerResponse): Promise<number> {
    const k = route === 'user_candidates' ? kOf(query) : 0;
    const exclude = route === 'user_candidates' ? excludeOf(query) : DEFAULT_EXCLUDE;
    const meta = await this.o.runner.queryMetadataForKey(this.usersStore, userId).catch((err: unknown) => {
      // The API listens before the runner starts (its endpoint must answer once advertised) and until it stopped:
      // in between no owner is known, which is a retry, as in a rebalance, not a 500 (a rolling restart showed them).
      if (err instanceof TopologyError && this.o.runner.taskReadiness.assigned.length === 0)
        throw unavailable(`this instance is starting or stopping and knows no owner of user '${userId}' yet; retry`);
      throw err;
    });
    if (!meta.local) {
      const self = this.baseUrl;
      if (!meta.endpoint) throw unavailable(`no instance owns partition ${meta.partition} of user '${userId}' right now (the group is rebalancing); retry`);
      if (meta.endpoint === self) throw unavailable(`partition ${meta.partition} of user '${userId}' is being restored on this instance; retry`);
      if (req.headers[FORWARDED_HEADER]) throw unavailable(`partition ${meta.partition} of user '${userId}' moved while the request was forwarded; retry`);
      const snapshot = query.get('snapshot');
      return this.forward(
        meta.endpoint,
        {
          route,
          userId,
          ...(route === 'user_candidates' && query.has('k') ? { k } : {}),
          ...(route === 'user_candidates' && query.has('exclude') ? { exclude } : {}),
          ...(snapshot === undefined ? {} : { snapshot }),
        },
        res,
      );
    }
    const space = await this.space(query);
    const state = await this.o.runner
      .store<string, UserState>(this.usersStore)
      .get(userId)
      .catch((err: unknown) => {
        // The task closed between the lookup and the read: its partition is moving (a rebalance), so a retry, not a 500.
        if (err instanceof StoreClosedError) throw unavailable(`partition ${meta.partition} of user '${userId}' is moving to another instance; retry`);
        throw err;
      });
    const known = state ?? batchOnlyState(userId, space);
    if (!known)
      throw notFound(
        `unknown user '${userId}': no event of theirs has been processed${space.lifetime ? ", and the snapshot's user factors do not have them" : ''}`,
      );
    return this.send(res, 200, route === 'user_vector' ? userVectorAnswer(known, space) : candidatesAnswer(known, space, k, exclude));
  }

  private async forward(endpoint: string, q: ForwardedQuery, res: ServerResponse): Promise<number> {
    let url: string;
    try {
      url = forwardedUrl(endpoint, q);
    } catch (err) {
      throw unavailable(`cannot forward to the owner of user '${q.userId}': ${(err as Error).message}`);
    }
    let upstream: Response;
    try {
      upstream = await fetch(url, {
        headers: { [FORWARDED_HEADER]: this.baseUrl ?? 'unknown', ...this.guard.authorization },
        signal: AbortSignal.timeout(this.o.forwardTimeoutMs ?? 5000),
      });
    } catch (err) {
      throw unavailable(`the owner of this key, ${endpoint}, did not answer (${(err as Error).message}); retry`);
    }
    const body = Buffer.from(await upstream.arrayBuffer());
    const headers: Record<string, string> = { 'content-type': upstream.headers.get('content-type') ?? 'application/json' };
    for (const h of [SERVED_BY_HEADER, 'retry-after']) {
      const v = upstream.headers.get(h);
      if (v) headers[h] = v;
    }
    res.writeHead(upstream.status, headers);
    res.end(body);
    return upstream.status;
  }

  /** The snapshot a query is answered in: `?snapshot=` or the active one, loaded here. */
  private async space(query: ReadonlyMap<string, string>): Promise<LoadedSnapshot> {
    const pinned = query.get('snapshot');
    const view = await this.controlView();
    const id = pinned ?? view.active;
    if (!id) throw unavailable('no snapshot is active yet; publish one (vectors publish) and wait for the doorman to activate it');
    const space = this.o.catalog.get(id);
    if (space) return space;
    const phase = view.snapshots.get(id)?.phase;
    if (!phase) throw notFound(`unknown snapshot '${id}'; GET /v1/snapshots lists them`);
    if (phase === 'STAGED' || (!pinned && phase === 'ACTIVE')) throw unavailable(`snapshot '${id}' is ${phase} but not loaded on this instance yet; retry`);
    throw notFound(`snapshot '${id}' is ${phase} and not live on this instance; live: ${this.o.catalog.ids().join(', ') || 'none'}`);
  }

  /** The control view, refreshed when older than controlMaxAgeMs (one refresh at a time). */
  private async controlView(): Promise<DoormanView> {
    if (Date.now() - this.controlAt <= (this.o.controlMaxAgeMs ?? 250)) return this.o.control.view;
    this.controlRefresh ??= this.o.control
      .refresh()
      .then((v) => {
        this.controlAt = Date.now();
        return v;
      })
      .finally(() => (this.controlRefresh = undefined));
    return this.controlRefresh;
  }

  private snapshots(view: DoormanView) {
    return {
      active: view.active,
      previous: view.previous,
      snapshots: [...view.snapshots.values()].map((s) => ({
        id: s.id,
        phase: s.phase,
        reason: s.reason,
        model: s.manifest?.model ?? null,
        dims: s.manifest?.dims ?? null,
        count: s.manifest?.count ?? null,
        loadedHere: this.o.catalog.get(s.id) !== undefined,
      })),
    };
  }

  /**
   * Why this instance cannot answer every query it gets (empty when ready): it
   * needs every task the group assigned to it restored (one restored task of
   * twelve is not ready: the other partitions' users would get 503s), and an
   * active snapshot, loaded here.
   */
  private async readiness(): Promise<{ problems: string[]; view?: DoormanView; assigned: string[]; restoring: string[] }> {
    const problems: string[] = [];
    const { assigned, restoring } = this.o.runner.taskReadiness;
    if (this.dead) problems.push(`the topology stopped: ${this.dead.message}`);
    else if (assigned.length === 0) problems.push('no task is assigned to this instance yet (the group is forming or rebalancing)');
    else if (restoring.length)
      problems.push(
        `${restoring.length} of ${assigned.length} assigned tasks are not restored yet: ${restoring.slice(0, 12).join(', ')}${restoring.length > 12 ? ', ...' : ''}`,
      );
    const view = await this.controlView().catch((err: Error) => {
      problems.push(`the control log cannot be read: ${err.message}`);
      return undefined;
    });
    if (view && !view.active) problems.push('no snapshot is active yet; publish one (vectors publish) and wait for the doorman to activate it');
    if (view?.active && !this.o.catalog.get(view.active)) problems.push(`the active snapshot '${view.active}' is not loaded yet`);
    return { problems, ...(view ? { view } : {}), assigned, restoring };
  }

  private async ready(res: ServerResponse): Promise<number> {
    const { problems, view, assigned } = await this.readiness();
    if (problems.length) return this.send(res, 503, { status: 'not ready', active: view?.active ?? null, problems }, 1);
    return this.send(res, 200, { status: 'ready', active: view!.active, tasks: assigned });
  }

  /** `GET /v1/status`: what the status page draws (docs/API.md). */
  private async status() {
    const [{ problems, view, assigned, restoring }] = await Promise.all([this.readiness(), this.sampler.sample()]);
    const v = view ?? this.o.control.view;
    return {
      generatedAt: Date.now(),
      instance: {
        url: this.baseUrl ?? null,
        instanceId: this.o.runner.instanceId,
        topology: this.o.runner.topology.name,
        ready: problems.length === 0,
        problems,
        tasks: { assigned, restoring },
      },
      active: v.active,
      previous: v.previous,
      snapshots: timeline(v, this.o.control.history ?? [], (id) => this.o.catalog.get(id) !== undefined),
      readiness: readinessReports(v),
      topologies: this.sampler.current,
    };
  }

  private sendText(res: ServerResponse, status: number, contentType: string, body: string): number {
    const headers: Record<string, string> = { 'content-type': contentType, 'cache-control': 'no-store' };
    if (this.baseUrl) headers[SERVED_BY_HEADER] = this.baseUrl;
    res.writeHead(status, headers);
    res.end(body);
    return status;
  }

  private send(res: ServerResponse, status: number, body: unknown, retryAfterS?: number): number {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.baseUrl) headers[SERVED_BY_HEADER] = this.baseUrl;
    if (retryAfterS !== undefined) headers['retry-after'] = String(retryAfterS);
    res.writeHead(status, headers);
    res.end(JSON.stringify(body));
    return status;
  }
}

/** `?k=`: default 100, an integer from 1 to MAX_K. */
/** `?exclude=consumed|recent|none` (default consumed): what the list leaves out besides banned entities. */
function excludeOf(query: ReadonlyMap<string, string>): ExcludePolicy {
  const raw = query.get('exclude');
  if (raw === undefined) return DEFAULT_EXCLUDE;
  const p = parseExcludePolicy(raw);
  if (!p) throw new HttpError(400, 'BAD_PARAMETER', `exclude must be one of ${EXCLUDE_POLICIES.join(', ')}, got '${raw}'`);
  return p;
}

function kOf(query: ReadonlyMap<string, string>): number {
  const raw = query.get('k');
  if (raw === undefined) return 100;
  const k = Number(raw);
  if (!Number.isInteger(k) || k < 1 || k > MAX_K) throw new HttpError(400, 'BAD_PARAMETER', `k must be an integer from 1 to ${MAX_K}, got '${raw}'`);
  return k;
}
