/**
 * GET /openapi.json describes the real answers: a user-vectors instance on the
 * real stack is asked every route, before and after a snapshot is active, and
 * each answer (errors included) is validated with Ajv (JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1) against the schema the document gives for that
 * path and status. Every documented route and success status must be hit.
 * Also the regression test of /readyz with nothing active (it said 200 ready).
 */
import { request } from 'node:http';
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { waitFor } from './helpers';
import { startUserVectorsSystem, type UserVectorsSystem } from './user-vectors-system';

jest.setTimeout(240_000);

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, { get: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } }>;
  components: { schemas: Record<string, unknown> };
}

let sys: UserVectorsSystem | undefined;
afterAll(async () => sys?.close());

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** A GET with the path sent exactly as given (fetch would normalise some paths first). */
function get(base: string, path: string, method = 'GET'): Promise<Answer> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), text }));
    });
    req.on('error', reject);
    req.end();
  });
}

const pointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

it('answers every route as GET /openapi.json documents it, errors included', async () => {
  sys = await startUserVectorsSystem('oapi');
  const { url } = sys;

  const docAnswer = await get(url, '/openapi.json');
  expect(docAnswer.status).toBe(200);
  const doc = JSON.parse(docAnswer.text) as OpenApiDoc;
  expect(doc.openapi).toMatch(/^3\.1\./);
  expect(Object.keys(doc.paths).sort()).toEqual(
    [
      '/',
      '/healthz',
      '/metrics',
      '/openapi.json',
      '/readyz',
      '/v1/entities/{id}/similar',
      '/v1/snapshots',
      '/v1/status',
      '/v1/users/{id}/candidates',
      '/v1/users/{id}/vector',
    ].sort(),
  );

  const ajv = new Ajv2020({ allErrors: true, strict: true });
  for (const k of Object.keys(doc).filter((k) => k !== 'components')) ajv.addKeyword(k);
  ajv.addKeyword('components');
  ajv.addSchema({ ...doc, $id: 'urn:vectors:openapi' });
  const covered = new Set<string>();

  /** Asks `path` and checks the answer against the document's response for `template` and the status that came. */
  const check = async (template: string, path: string, expectedStatus: number, method = 'GET'): Promise<unknown> => {
    const a = await get(url, path, method);
    expect([path, a.status]).toEqual([path, expectedStatus]);
    const responses = doc.paths[template]!.get.responses;
    const key = String(a.status) in responses ? String(a.status) : 'default';
    const mediaType = a.contentType.split(';')[0]!.trim();
    expect([path, key, mediaType, Object.keys(responses[key]!.content ?? {})]).toEqual([path, key, mediaType, expect.arrayContaining([mediaType])]);
    covered.add(`${template} ${key}`);
    const body: unknown = mediaType === 'application/json' ? JSON.parse(a.text) : a.text;
    const validate: ValidateFunction = ajv.getSchema(
      `urn:vectors:openapi#/paths/${pointer(template)}/get/responses/${key}/content/${pointer(mediaType)}/schema`,
    )!;
    expect(validate).toBeDefined();
    const ok = validate(body);
    if (!ok) throw new Error(`${method} ${path} (${a.status}) does not match the document: ${ajv.errorsText(validate.errors)}\n${a.text.slice(0, 2000)}`);
    return body;
  };

  // Nothing active: not ready, and says why (regression: it answered 200 {"status":"ready","active":null}).
  const runner = sys.runner;
  await waitFor(() => runner.taskReadiness.assigned.length > 0 && runner.taskReadiness.restoring.length === 0, 60_000, 'every task to be restored');
  const notReady = (await check('/readyz', '/readyz', 503)) as { active: string | null; problems: string[] };
  expect(notReady.active).toBeNull();
  expect(notReady.problems).toEqual([expect.stringContaining('no snapshot is active yet')]);
  await check('/v1/users/{id}/vector', '/v1/users/u0/vector', 503);
  const early = (await check('/v1/status', '/v1/status', 200)) as { active: string | null; instance: { ready: boolean } };
  expect([early.active, early.instance.ready]).toEqual([null, false]);

  const s1 = await sys.publish('s1');
  await sys.waitActive(s1);
  await waitFor(async () => (await get(url, '/readyz')).status === 200, 30_000, '/readyz to say ready');
  await sys.sendListens(8, 4);
  await waitFor(async () => (await get(url, '/v1/users/u0/vector')).status === 200, 60_000, 'u0 to be queryable');

  const vector = (await check('/v1/users/{id}/vector', '/v1/users/u0/vector', 200)) as { snapshotId: string; vector: number[] };
  expect([vector.snapshotId, vector.vector.length]).toEqual([s1, 16]);
  const candidates = (await check('/v1/users/{id}/candidates', '/v1/users/u0/candidates?k=5&exclude=recent', 200)) as { items: unknown[] };
  expect(candidates.items).toHaveLength(5);
  await check('/v1/entities/{id}/similar', '/v1/entities/e1/similar?k=3', 200);
  await check('/v1/snapshots', '/v1/snapshots', 200);
  const status = (await check('/v1/status', '/v1/status', 200)) as { active: string; instance: { ready: boolean } };
  expect([status.active, status.instance.ready]).toEqual([s1, true]);
  await check('/healthz', '/healthz', 200);
  expect(await check('/readyz', '/readyz', 200)).toMatchObject({ status: 'ready', active: s1 });
  expect(await check('/metrics', '/metrics', 200)).toContain('vectors_api_requests_total');
  await check('/openapi.json', '/openapi.json', 200);
  expect(await check('/', '/', 200)).toContain('<title>vectors · status</title>');

  // Errors carry { error: { code, message } } as documented.
  expect(await check('/v1/users/{id}/candidates', '/v1/users/u0/candidates?k=0', 400)).toMatchObject({ error: { code: 'BAD_PARAMETER' } });
  expect(await check('/v1/users/{id}/candidates', '/v1/users/u0/candidates?exclude=all', 400)).toMatchObject({ error: { code: 'BAD_PARAMETER' } });
  expect(await check('/v1/users/{id}/vector', '/v1/users/%E0%A4%A/vector', 400)).toMatchObject({ error: { code: 'BAD_ENCODING' } });
  expect(await check('/v1/users/{id}/vector', '/v1/users/nobody/vector', 404)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  expect(await check('/v1/users/{id}/vector', '/v1/users/u0/vector?snapshot=nope', 404)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  expect(await check('/v1/users/{id}/candidates', '/v1/users/nobody/candidates', 404)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  expect(await check('/v1/entities/{id}/similar', '/v1/entities/e1/similar?k=many', 400)).toMatchObject({ error: { code: 'BAD_PARAMETER' } });
  expect(await check('/v1/entities/{id}/similar', '/v1/entities/nope/similar', 404)).toMatchObject({ error: { code: 'NOT_FOUND' } });
  expect(await check('/v1/snapshots', '/v1/snapshots', 405, 'POST')).toMatchObject({ error: { code: 'METHOD_NOT_ALLOWED' } });

  // Every documented success and error status was seen (except 503s that need a dead topology or a rebalance).
  const documented = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item.get.responses).map((s) => `${p} ${s}`));
  const unexercised = documented.filter((d) => !covered.has(d) && !/ (503|default)$/.test(d));
  expect(unexercised).toEqual([]);
});
