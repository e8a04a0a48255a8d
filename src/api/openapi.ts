/**
 * The OpenAPI 3.1 document of the query API, served at `GET /openapi.json`.
 * Its schemas are JSON Schema 2020-12 and close every object
 * (`additionalProperties: false`), so test/integration/openapi.test.ts, which
 * validates real answers against them, fails when an answer and the document
 * drift apart.
 */
import { EXCLUDE_POLICIES } from '../vectors/candidate-search';
import { PHASES } from '../vectors/doorman/lifecycle';
import { MAX_K } from './queries';

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const nullable = (type: string) => ({ type: [type, 'null'] });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const closed = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({
  type: 'object',
  properties,
  required,
  additionalProperties: false,
});

const schemas = {
  Error: {
    ...closed({
      error: closed({ code: { ...str, description: 'BAD_PARAMETER, BAD_ENCODING, NOT_FOUND, METHOD_NOT_ALLOWED, UNAVAILABLE, INTERNAL' }, message: str }),
    }),
    description: 'Every error: the code, and a message naming what was wrong and what to do.',
  },
  ScoredEntity: closed({ entityId: str, score: { ...num, description: "Inner product with the query vector in the answer's snapshot." } }),
  UserVector: closed({
    userId: str,
    snapshotId: str,
    vector: { type: 'array', items: num },
    version: { ...int, minimum: 0, description: "The user state's version the vector was computed from (0: known only to the batch)." },
    updatedAt: { ...int, description: 'Event time of the latest event applied, ms.' },
    eventCount: { ...int, minimum: 0 },
  }),
  Candidates: closed({ userId: str, snapshotId: str, userVectorVersion: { ...int, minimum: 0 }, items: { type: 'array', items: ref('ScoredEntity') } }),
  Similar: closed({ entityId: str, snapshotId: str, items: { type: 'array', items: ref('ScoredEntity') } }),
  Phase: { enum: [...PHASES] },
  Snapshots: closed({
    active: nullable('string'),
    previous: nullable('string'),
    snapshots: {
      type: 'array',
      items: closed({
        id: str,
        phase: ref('Phase'),
        reason: nullable('string'),
        model: nullable('string'),
        dims: nullable('integer'),
        count: nullable('integer'),
        loadedHere: { type: 'boolean' },
      }),
    },
  }),
  Health: closed({ status: { const: 'ok' } }),
  Ready: closed({ status: { const: 'ready' }, active: str, tasks: { type: 'array', items: str, minItems: 1 } }),
  NotReady: closed({ status: { const: 'not ready' }, active: nullable('string'), problems: { type: 'array', items: str, minItems: 1 } }),
  TopologyStatus: closed(
    {
      topology: str,
      source: { ...str, description: '`local`, or the /metrics URL of another process' },
      eventsPerSecond: { ...num, minimum: 0, description: 'Input records processed per second between the last two samples.' },
      processed: { ...num, minimum: 0 },
      lag: { ...num, minimum: 0, description: 'Records behind the high watermark, summed over input partitions.' },
      dlq: closed({ total: { ...num, minimum: 0 }, byReason: { type: 'object', additionalProperties: num } }),
      series: { type: 'array', items: closed({ at: int, eventsPerSecond: { ...num, minimum: 0 }, lag: { ...num, minimum: 0 } }) },
      error: str,
    },
    ['topology', 'source', 'eventsPerSecond', 'processed', 'lag', 'dlq', 'series'],
  ),
  Status: closed({
    generatedAt: int,
    instance: closed({
      url: nullable('string'),
      instanceId: str,
      topology: str,
      ready: { type: 'boolean' },
      problems: { type: 'array', items: str },
      tasks: closed({ assigned: { type: 'array', items: str }, restoring: { type: 'array', items: str } }),
    }),
    active: nullable('string'),
    previous: nullable('string'),
    snapshots: {
      type: 'array',
      items: closed({
        id: str,
        phase: ref('Phase'),
        reason: nullable('string'),
        model: nullable('string'),
        dims: nullable('integer'),
        count: nullable('integer'),
        loadedHere: { type: 'boolean' },
        history: { type: 'array', minItems: 1, items: closed({ phase: str, at: int }) },
      }),
    },
    readiness: {
      type: 'array',
      items: closed({
        snapshotId: str,
        phase: ref('Phase'),
        ready: { type: 'boolean' },
        topologies: {
          type: 'array',
          items: closed({
            topology: str,
            partitions: {
              type: 'array',
              items: closed({ partition: { ...int, minimum: 0 }, report: { enum: ['READY', 'LOADING', 'FAILED', 'MISSING'] }, reason: nullable('string') }),
            },
          }),
        },
      }),
    },
    topologies: { type: 'array', items: ref('TopologyStatus') },
  }),
};

const json = (schema: unknown, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);

const params = {
  userId: { name: 'id', in: 'path', required: true, description: 'The user id, percent-encoded (encodeURIComponent).', schema: str },
  entityId: { name: 'id', in: 'path', required: true, description: 'The entity id, percent-encoded.', schema: str },
  k: { name: 'k', in: 'query', description: 'How many items.', schema: { ...int, minimum: 1, maximum: MAX_K, default: 100 } },
  exclude: {
    name: 'exclude',
    in: 'query',
    description: 'What the list leaves out besides banned entities.',
    schema: { enum: [...EXCLUDE_POLICIES], default: 'consumed' },
  },
  snapshot: { name: 'snapshot', in: 'query', description: 'Pin a live snapshot; default the active one.', schema: str },
};

const queryErrors = {
  '400': error('A bad parameter (BAD_PARAMETER) or a malformed percent escape (BAD_ENCODING).'),
  '404': error('Unknown user, entity or snapshot, or a snapshot no longer live here.'),
  '503': error('Nothing active yet, the partition is between owners, or the snapshot is not loaded here yet; retry after Retry-After.'),
  default: error(
    'Any other error: 401 without the bearer token when the API requires one, 405 for a method other than GET/HEAD, 414 for a request target over 4096 characters, 429 past the rate limit.',
  ),
};

/** The query API as an OpenAPI 3.1 document (docs/API.md describes the same). */
export function openApiDocument() {
  return {
    openapi: '3.1.0',
    info: {
      title: 'vectors query API',
      version: '1',
      description: 'Realtime user vectors and candidates, answered by any instance of the user-vectors topology (docs/API.md).',
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths: {
      '/v1/users/{id}/vector': {
        get: {
          operationId: 'userVector',
          summary: "The user's vector in one snapshot.",
          parameters: [params.userId, params.snapshot],
          responses: { '200': json(ref('UserVector'), 'The vector, naming its snapshot.'), ...queryErrors },
        },
      },
      '/v1/users/{id}/candidates': {
        get: {
          operationId: 'userCandidates',
          summary: "Top k entities by inner product with the user's vector, computed at query time.",
          parameters: [params.userId, params.k, params.exclude, params.snapshot],
          responses: { '200': json(ref('Candidates'), 'The list, naming its snapshot and the user vector version.'), ...queryErrors },
        },
      },
      '/v1/entities/{id}/similar': {
        get: {
          operationId: 'similarEntities',
          summary: 'The k nearest entities, itself left out.',
          parameters: [params.entityId, params.k, params.snapshot],
          responses: { '200': json(ref('Similar'), 'The list, naming its snapshot.'), ...queryErrors },
        },
      },
      '/v1/snapshots': {
        get: {
          operationId: 'snapshots',
          summary: "Every snapshot in the doorman's log, with its phase.",
          responses: { '200': json(ref('Snapshots'), 'The snapshots.'), default: error('An error.') },
        },
      },
      '/v1/status': {
        get: {
          operationId: 'status',
          summary: 'What the status page shows: readiness, snapshot timeline, partition reports, throughput, lag, dead letters.',
          responses: { '200': json(ref('Status'), 'The status.'), default: error('An error.') },
        },
      },
      '/healthz': {
        get: {
          operationId: 'health',
          summary: 'Liveness.',
          responses: { '200': json(ref('Health'), 'The topology runs.'), '503': error('The topology stopped.'), default: error('An error.') },
        },
      },
      '/readyz': {
        get: {
          operationId: 'ready',
          summary: 'Readiness: every assigned task restored and the active snapshot loaded.',
          responses: {
            '200': json(ref('Ready'), 'Ready: the active snapshot and the tasks served here.'),
            '503': json(ref('NotReady'), 'Not ready, with the problems (no active snapshot, tasks still restoring, ...).'),
            default: error('An error.'),
          },
        },
      },
      '/metrics': {
        get: {
          operationId: 'metrics',
          summary: "Prometheus metrics: the runtime's and the API's.",
          responses: { '200': { description: 'Prometheus text exposition format.', content: { 'text/plain': { schema: str } } }, default: error('An error.') },
        },
      },
      '/openapi.json': {
        get: {
          operationId: 'openapi',
          summary: 'This document.',
          responses: {
            '200': json(
              { type: 'object', properties: { openapi: str, paths: { type: 'object' } }, required: ['openapi', 'paths'] },
              'The OpenAPI 3.1 document.',
            ),
            default: error('An error.'),
          },
        },
      },
      '/': {
        get: {
          operationId: 'statusPage',
          summary: 'The status page (HTML; it polls /v1/status).',
          responses: { '200': { description: 'A self-contained HTML page.', content: { 'text/html': { schema: str } } }, default: error('An error.') },
        },
      },
    },
    // When the server has a token (docs/SECURITY.md), every route but /healthz and /readyz needs it; without one, none does.
    security: [{}, { bearer: [] }],
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  };
}
