/**
 * The query API's request handling without a broker: a QueryServer on a fake
 * runner that places every user on another instance (a plain HTTP server that
 * records what reaches it), so every user query is forwarded.
 */
import { createServer, request, type Server } from 'node:http';
import { Registry } from 'prom-client';
import type { ControlLog } from '../../../src/app/snapshots';
import { FORWARDED_HEADER, QueryServer } from '../../../src/api/query-server';
import type { TopologyRunner } from '../../../src/runtime/runner/topology-runner';
import type { SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import { StoreClosedError, TopologyError } from '../../../src/errors';

let owner: Server;
let ownerUrl: string;
/** Request targets that reached the owner. */
let reached: string[];
let server: QueryServer;
let url: string;
let fetches: jest.SpyInstance;

beforeEach(async () => {
  reached = [];
  owner = createServer((req, res) => {
    reached.push(req.url!);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ forwardedBy: req.headers[FORWARDED_HEADER] ?? null }));
  });
  await new Promise<void>((resolve) => owner.listen(0, '127.0.0.1', resolve));
  ownerUrl = `http://127.0.0.1:${(owner.address() as { port: number }).port}`;
  const runner = {
    metrics: { registry: new Registry() },
    done: new Promise(() => {}),
    queryMetadataForKey: async () => ({ partition: 1, local: false, endpoint: ownerUrl }),
  } as unknown as TopologyRunner;
  const control = { view: { active: 's1', previous: null, snapshots: new Map() }, refresh: async () => control.view } as unknown as ControlLog;
  const catalog = { get: () => undefined, ids: () => [] } as unknown as SnapshotCatalog;
  server = new QueryServer({ runner, catalog, control, port: 0, forwardTimeoutMs: 2000 });
  url = await server.listen();
  fetches = jest.spyOn(globalThis, 'fetch');
});

afterEach(async () => {
  fetches.mockRestore();
  await server.close();
  owner.closeAllConnections();
  await new Promise((resolve) => owner.close(resolve));
});

/** A GET with the path sent exactly as given (fetch would normalise it first, as any URL-parsing client does). */
function rawGet(path: string): Promise<{ status: number; body: { error?: { code: string; message: string } } }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Origins the server fetched from (its forwards). */
const fetchedOrigins = () => fetches.mock.calls.map(([u]) => new URL(String(u)).origin);

describe('query server: forwarding', () => {
  it('does not let /.//v1/users/x/vector name another host: no route (404), nothing fetched', async () => {
    const r = await rawGet('/.//v1/users/x/vector');
    expect(fetchedOrigins()).toEqual([]);
    expect(reached).toEqual([]);
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining("no such resource '/.//v1/users/x/vector'") });
  });

  it.each([
    ['//v1/users/x/vector'],
    ['//127.0.0.1/v1/users/x/vector'],
    ['/v1//users/x/vector'],
    ['/v1/users/x/vector/'],
    ['/v1/users/./vector'],
    ['/v1/users/%2e%2e/vector'],
    ['/v1/users/y/../x/vector'],
  ])('answers %s, a path with an empty or dot segment, with 404 and forwards nothing', async (path) => {
    const r = await rawGet(path);
    expect([r.status, r.body.error?.code]).toEqual([404, 'NOT_FOUND']);
    expect(fetches).not.toHaveBeenCalled();
    expect(reached).toEqual([]);
  });

  it.each([
    ['/v1/users/a%2F..%2F..%2Fx/vector?k=5&snapshot=s%201&evil=1', '/v1/users/a%2F..%2F..%2Fx/vector?snapshot=s+1'],
    ['/v1/users/u%20%C3%A9/candidates?k=05&snapshot=s1&snapshot=s2&callback=x', '/v1/users/u%20%C3%A9/candidates?k=5&snapshot=s1'],
    ['/v1/users/%40127.0.0.2:1/candidates', '/v1/users/%40127.0.0.2%3A1/candidates'],
    ['/v1/users/u/candidates?exclude=recent&k=3', '/v1/users/u/candidates?k=3&exclude=recent'],
    ['/v1/users/u/vector?exclude=recent', '/v1/users/u/vector'],
  ])('forwards %s to the owner as %s: its origin, the route, the re-encoded id, only the known parameters', async (path, forwarded) => {
    const r = await rawGet(path);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ forwardedBy: url });
    expect(reached).toEqual([forwarded]);
    expect(fetchedOrigins()).toEqual([ownerUrl]);
  });
});

describe('query server: malformed percent escapes', () => {
  it.each([
    ['/v1/users/%E0%A4%A/vector', "path segment '%E0%A4%A' is not valid percent-encoding"],
    ['/v1/users/%/candidates', "path segment '%' is not valid percent-encoding"],
    ['/v1/users/x/vector?snapshot=%E0%A4%A', "query parameter 'snapshot' has value '%E0%A4%A', which is not valid percent-encoding"],
    ['/v1/users/x/candidates?k=%ZZ', "query parameter 'k' has value '%ZZ', which is not valid percent-encoding"],
  ])('answers %s with 400, naming the bad part', async (path, message) => {
    const r = await rawGet(path);
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ code: 'BAD_ENCODING', message: expect.stringContaining(message) });
    expect(reached).toEqual([]);
  });
});

describe('query server: /readyz', () => {
  /** A server on a fake runner with `assigned` tasks, `restoring` of them still restoring, and `active` loaded (or none active). */
  async function readyz(o: { assigned: string[]; restoring: string[]; active: string | null }) {
    const tasks = o.assigned.filter((id) => !o.restoring.includes(id));
    const runner = {
      metrics: { registry: new Registry() },
      done: new Promise(() => {}),
      // What the runner said before readiness counted every assigned task: serving with one task restored.
      serving: tasks.length > 0,
      taskIds: tasks,
      taskReadiness: { assigned: o.assigned, restoring: o.restoring },
    } as unknown as TopologyRunner;
    const view = { active: o.active, previous: null, snapshots: new Map() };
    const control = { view, refresh: async () => view } as unknown as ControlLog;
    const catalog = { get: (id: string) => (id === o.active ? {} : undefined), ids: () => [] } as unknown as SnapshotCatalog;
    const s = new QueryServer({ runner, catalog, control, port: 0 });
    try {
      const res = await fetch(`${await s.listen()}/readyz`);
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { status: string; problems?: string[] } };
    } finally {
      await s.close();
    }
  }
  const twelve = Array.from({ length: 12 }, (_, p) => `0_${p}`);

  it('is 503 while no snapshot is active, saying so (it said 200 "ready", active null)', async () => {
    const r = await readyz({ assigned: twelve, restoring: [], active: null });
    expect([r.status, r.retryAfter]).toEqual([503, '1']);
    expect(r.body).toEqual({ status: 'not ready', active: null, problems: [expect.stringContaining('no snapshot is active yet')] });
  });

  it('is 503 while 11 of 12 assigned tasks still restore, naming them (it said ready with one)', async () => {
    const r = await readyz({ assigned: twelve, restoring: twelve.slice(1), active: 's1' });
    expect(r.status).toBe(503);
    expect(r.body.problems).toEqual([`11 of 12 assigned tasks are not restored yet: ${twelve.slice(1).join(', ')}`]);
  });

  it('is 503 before the group assigned any task', async () => {
    const r = await readyz({ assigned: [], restoring: [], active: 's1' });
    expect(r.status).toBe(503);
    expect(r.body.problems).toEqual([expect.stringContaining('no task is assigned to this instance yet')]);
  });

  it('is 200 once every assigned task runs and the active snapshot is loaded', async () => {
    const r = await readyz({ assigned: twelve, restoring: [], active: 's1' });
    expect([r.status, r.body]).toEqual([200, { status: 'ready', active: 's1', tasks: twelve }]);
  });
});

describe('query server: an instance starting or stopping', () => {
  /** `GET /v1/users/u1/vector` on a server over a fake runner made of `runnerParts`, with snapshot s1 active and loaded. */
  async function userQuery(runnerParts: Record<string, unknown>) {
    const runner = { metrics: { registry: new Registry() }, done: new Promise(() => {}), ...runnerParts } as unknown as TopologyRunner;
    const view = { active: 's1', previous: null, snapshots: new Map() };
    const control = { view, refresh: async () => view } as unknown as ControlLog;
    const catalog = { get: (id: string) => (id === 's1' ? {} : undefined), ids: () => ['s1'] } as unknown as SnapshotCatalog;
    const s = new QueryServer({ runner, catalog, control, port: 0 });
    try {
      const res = await fetch(`${await s.listen()}/v1/users/u1/vector`);
      return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { error: { code: string; message: string } } };
    } finally {
      await s.close();
    }
  }

  it('answers 503, not 500, when the task closes between the lookup and the read (a rebalance moved the partition)', async () => {
    const r = await userQuery({
      queryMetadataForKey: async () => ({ partition: 3, local: true, endpoint: null }),
      store: () => ({
        get: async () => {
          throw new StoreClosedError('users', 'it was closed');
        },
      }),
    });
    expect([r.status, r.retryAfter, r.body.error.code]).toEqual([503, '1', 'UNAVAILABLE']);
    expect(r.body.error.message).toContain("partition 3 of user 'u1' is moving to another instance; retry");
  });

  it('answers a user query with 503 and Retry-After, not 500, while its runner is not running (the API listens before it starts)', async () => {
    const r = await userQuery({
      queryMetadataForKey: async () => {
        throw new TopologyError('user-vectors', 'not running: start() it before querying');
      },
      taskReadiness: { assigned: [], restoring: [] },
    });
    expect([r.status, r.retryAfter, r.body.error.code]).toEqual([503, '1', 'UNAVAILABLE']);
    expect(r.body.error.message).toContain("this instance is starting or stopping and knows no owner of user 'u1' yet; retry");
  });
});
