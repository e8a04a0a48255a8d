/**
 * The query API's and the metrics server's guard: a bearer token on every
 * route but the probes, forwarding that carries it, a per-process rate limit,
 * caps on the request target and headers, and the warning for a listener on
 * a non-loopback address without a token.
 */
import { createServer, request, type Server } from 'node:http';
import { Registry } from 'prom-client';
import type { ControlLog } from '../../../src/app/snapshots';
import { QueryServer } from '../../../src/api/query-server';
import { queryUser } from '../../../src/app/tools/query';
import { exposureWarnings } from '../../../src/cli/security';
import { isLoopback, MAX_URL_LENGTH } from '../../../src/runtime/http/http-guard';
import { startMetricsServer } from '../../../src/runtime/metrics/metrics-server';
import type { TopologyRunner } from '../../../src/runtime/runner/topology-runner';
import type { SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';

const TOKEN = 'api-T0ken-9d2f41';

let owner: Server;
let ownerUrl: string;
/** The Authorization header of each request that reached the owner (another instance). */
let ownerSaw: (string | undefined)[];
const servers: QueryServer[] = [];

beforeAll(async () => {
  owner = createServer((req, res) => {
    ownerSaw.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ userId: 'u1', from: 'owner' }));
  });
  await new Promise<void>((resolve) => owner.listen(0, '127.0.0.1', resolve));
  ownerUrl = `http://127.0.0.1:${(owner.address() as { port: number }).port}`;
});

afterAll(async () => {
  owner.closeAllConnections();
  await new Promise((resolve) => owner.close(resolve));
});

beforeEach(() => {
  ownerSaw = [];
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** A query server on a fake runner whose users all live on `owner`; active snapshot s1, every task restored. */
async function start(o: { apiToken?: string; rateLimitPerSecond?: number } = {}): Promise<string> {
  const runner = {
    metrics: { registry: new Registry() },
    done: new Promise(() => {}),
    queryMetadataForKey: async () => ({ partition: 1, local: false, endpoint: ownerUrl }),
    taskReadiness: { assigned: ['0_0'], restoring: [] },
    instanceId: 'i1',
    topology: { name: 'user-vectors' },
  } as unknown as TopologyRunner;
  const view = { active: 's1', previous: null, snapshots: new Map() };
  const control = { view, refresh: async () => view } as unknown as ControlLog;
  const catalog = { get: (id: string) => (id === 's1' ? {} : undefined), ids: () => ['s1'] } as unknown as SnapshotCatalog;
  const server = new QueryServer({ runner, catalog, control, port: 0, ...o });
  servers.push(server);
  return server.listen();
}

async function get(url: string, token?: string): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('query API with a token', () => {
  it.each(['/v1/snapshots', '/v1/users/u1/candidates?k=3', '/metrics', '/openapi.json', '/v1/status', '/'])(
    '%s: 401 with a JSON error without the token or with a wrong one; answered with it',
    async (path) => {
      const base = await start({ apiToken: TOKEN });
      for (const wrong of [undefined, 'nope', `${TOKEN}x`]) {
        const r = await get(`${base}${path}`, wrong);
        expect(r.status).toBe(401);
        expect(r.headers.get('www-authenticate')).toMatch(/^Bearer/);
        expect(JSON.parse(r.text)).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.stringContaining('Authorization: Bearer <token>') } });
        expect(r.text).not.toContain(TOKEN);
      }
      expect(ownerSaw).toEqual([]);
      const ok = await get(`${base}${path}`, TOKEN);
      expect(ok.status).toBe(200);
    },
  );

  it('/healthz and /readyz answer without the token (probes)', async () => {
    const base = await start({ apiToken: TOKEN });
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/readyz`)).status).toBe(200);
  });

  it('a query forwarded to the owning instance carries the token', async () => {
    const base = await start({ apiToken: TOKEN });
    const r = await get(`${base}/v1/users/u1/vector`, TOKEN);
    expect([r.status, JSON.parse(r.text)]).toEqual([200, { userId: 'u1', from: 'owner' }]);
    expect(ownerSaw).toEqual([`Bearer ${TOKEN}`]);
  });

  it('vectors query sends the token it is given', async () => {
    const base = await start({ apiToken: TOKEN });
    expect((await queryUser(base, 'u1', 'vector')).status).toBe(401);
    expect((await queryUser(base, 'u1', 'vector', { token: TOKEN })).status).toBe(200);
  });

  it('without a token configured the API stays open, and forwards no Authorization header', async () => {
    const base = await start();
    expect((await get(`${base}/v1/snapshots`)).status).toBe(200);
    expect((await get(`${base}/v1/users/u1/vector`)).status).toBe(200);
    expect(ownerSaw).toEqual([undefined]);
  });
});

describe('request limits', () => {
  it('past the rate limit: 429 with Retry-After, while the probes still answer', async () => {
    const base = await start({ rateLimitPerSecond: 5 });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(`${base}/v1/snapshots`)).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(statuses.slice(5)).toEqual([429, 429, 429]);
    const limited = await get(`${base}/v1/snapshots`);
    expect(limited.headers.get('retry-after')).toBe('1');
    expect(JSON.parse(limited.text).error.code).toBe('TOO_MANY_REQUESTS');
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/readyz`)).status).toBe(200);
  });

  it('a request target longer than the cap: 414', async () => {
    const base = await start();
    const r = await get(`${base}/v1/users/${'x'.repeat(MAX_URL_LENGTH)}/vector`);
    expect(r.status).toBe(414);
    expect(JSON.parse(r.text).error.code).toBe('URI_TOO_LONG');
  });

  it('headers larger than 8 KiB: 431 from the HTTP server', async () => {
    const { hostname, port } = new URL(await start());
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: hostname, port, path: '/healthz', headers: { 'x-big': 'y'.repeat(9000) } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(431);
  });
});

describe('metrics server (doorman, candidates) with a token', () => {
  it('/metrics needs the token; /healthz does not', async () => {
    const registry = new Registry();
    const m = await startMetricsServer({ registry, port: 0, token: TOKEN });
    try {
      expect((await get(`${m.url}/metrics`)).status).toBe(401);
      expect((await get(`${m.url}/metrics`, TOKEN)).status).toBe(200);
      expect((await get(`${m.url}/healthz`)).status).toBe(200);
    } finally {
      await m.close();
    }
  });
});

describe('a listener other machines can reach, without a token', () => {
  it('warns once per such flag; not for loopback; not with a token', () => {
    expect(exposureWarnings({ '--http': { host: '0.0.0.0' }, '--metrics': { host: '127.0.0.1' } }, undefined)).toEqual([
      expect.stringMatching(/^--http listens on 0\.0\.0\.0, reachable from other machines, without a token/),
    ]);
    expect(exposureWarnings({ '--http': { host: '0.0.0.0' } }, 'secret')).toEqual([]);
    expect(exposureWarnings({ '--http': { host: '127.0.0.1' }, '--metrics': undefined }, undefined)).toEqual([]);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['localhost', true],
    ['::1', true],
    ['0.0.0.0', false],
    ['10.0.0.5', false],
    ['::', false],
  ])('%s is loopback: %s', (host, loopback) => expect(isLoopback(host)).toBe(loopback));
});
