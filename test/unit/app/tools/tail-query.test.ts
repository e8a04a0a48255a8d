/** The broker-free parts of `vectors tail` and `vectors query`: JSON-safe values, and the query API client against a local HTTP server. */
import { createServer, type Server } from 'node:http';
import { queryUser, querySimilar } from '../../../../src/app/tools/query';
import { float32Decimal, jsonSafe } from '../../../../src/app/tools/tail';
import { ApiUnreachableError, ConfigError } from '../../../../src/errors';

describe('jsonSafe (tail output)', () => {
  it('prints float32 vectors as their shortest decimals, which read back as the same floats', () => {
    const v = Float32Array.from([0.1, -2.5, 1 / 3, 0, 3.4e38]);
    const out = jsonSafe({ vector: v }) as { vector: number[] };
    expect(out.vector).toEqual([0.1, -2.5, 0.33333334, 0, 3.4e38]);
    expect(Float32Array.from(out.vector)).toEqual(v);
    for (let i = 0; i < 1000; i++) {
      const x = Math.fround((Math.random() - 0.5) * 10 ** Math.floor(Math.random() * 20 - 10));
      expect(Math.fround(float32Decimal(x))).toBe(x);
    }
  });

  it('turns bytes into base64, big longs into strings, and keeps the rest', () => {
    expect(
      JSON.parse(JSON.stringify(jsonSafe({ consumed: Buffer.from([1, 2, 3]), big: 2n ** 60n, small: 5n, nested: [{ a: null, b: 'x', c: true }], nan: NaN }))),
    ).toEqual({
      consumed: 'AQID',
      big: '1152921504606846976',
      small: 5,
      nested: [{ a: null, b: 'x', c: true }],
      nan: 'NaN',
    });
  });
});

describe('queryUser / querySimilar', () => {
  let server: Server;
  let url: string;
  const seen: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.url!);
      if (req.url!.startsWith('/v1/users/nobody')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'NOT_FOUND', message: "unknown user 'nobody'" } }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: req.url }));
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('asks the routes of docs/API.md with the id encoded and only the parameters each takes', async () => {
    const c = await queryUser(url, 'a/b c', 'candidates', { k: 5, exclude: 'none', snapshot: 's2' });
    expect(c).toMatchObject({ status: 200, body: { ok: '/v1/users/a%2Fb%20c/candidates?k=5&exclude=none&snapshot=s2' } });
    expect(c.error).toBeUndefined();
    expect((await queryUser(url, 'u1', 'vector', { k: 5 })).body).toEqual({ ok: '/v1/users/u1/vector' });
    expect((await querySimilar(url, 'e1', { k: 3 })).body).toEqual({ ok: '/v1/entities/e1/similar?k=3' });
  });

  it('gives an API error as status and error, not as a throw', async () => {
    expect(await queryUser(url, 'nobody', 'vector')).toMatchObject({ status: 404, error: { code: 'NOT_FOUND', message: "unknown user 'nobody'" } });
  });

  it('says clearly when nothing answers, or something that is not the API', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
    const run = queryUser(dead, 'u1', 'vector');
    await expect(run).rejects.toThrow(ApiUnreachableError);
    await expect(run).rejects.toThrow(`the query API at ${dead} is not reachable (ECONNREFUSED); is the query API running there?`);
    // A server that answers HTML is not the API.
    const html = createServer((_req, res) => res.end('<html>'));
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    const htmlUrl = `http://127.0.0.1:${(html.address() as { port: number }).port}`;
    await expect(queryUser(htmlUrl, 'u1', 'vector')).rejects.toThrow(/answered .* with HTTP 200 and no JSON: it is not the query API/);
    await new Promise<void>((r) => html.close(() => r()));
  });

  it.each([
    ['an empty id', () => queryUser(url, '', 'vector'), 'the user id must not be empty'],
    ['a dot id', () => querySimilar(url, '..'), "the entity id '..' cannot be queried"],
    ['a bad URL', () => queryUser('localhost:8090', 'u1', 'vector'), "'localhost:8090' is not an http(s) URL"],
  ])('refuses %s', async (_label, call, message) => {
    await expect(call()).rejects.toThrow(ConfigError);
    await expect(call()).rejects.toThrow(message);
  });
});
