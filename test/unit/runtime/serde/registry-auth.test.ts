/**
 * Schema registry credentials: basic auth and a bearer token reach the
 * request's Authorization header (checked by a local HTTP server standing in
 * for the registry), and no secret appears in an error message, its cause
 * chain, or a printed URL.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { inspect } from 'node:util';
import { ConfluentSchemaRegistry, redactUrl, redactUrlsIn } from '../../../../src/runtime/serde/confluent-registry';

const USER = 'ops';
const PASSWORD = 'Reg1stry-S3cret';
const TOKEN = 'tok-3f9a1c77e2';

let server: Server;
let base: string;
const seen: IncomingHttpHeaders[] = [];
/** What the fake registry answers: 200 with a subject list when the header is one of these, else 401. */
let accepted: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.headers);
    if (accepted.includes(req.headers.authorization ?? '')) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(['s1-value']));
    } else {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/apis/ccompat/v7`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

beforeEach(() => {
  seen.length = 0;
  accepted = [];
});

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Every text a logger could print of an error: message, stack, and the cause chain as util.inspect shows it. */
function printed(err: unknown): string {
  return `${String(err)}\n${(err as Error).stack}\n${inspect(err, { depth: 8 })}`;
}

describe('schema registry credentials', () => {
  it('basic auth: SCHEMA_REGISTRY_USER/PASSWORD become the Authorization header', async () => {
    accepted = [basic(USER, PASSWORD)];
    const reg = new ConfluentSchemaRegistry(base, { auth: { username: USER, password: PASSWORD } });
    expect(await reg.subjects()).toEqual(['s1-value']);
    expect(seen[0]!.authorization).toBe(basic(USER, PASSWORD));
  });

  it('bearer token: sent as "Authorization: Bearer <token>"', async () => {
    accepted = [`Bearer ${TOKEN}`];
    const reg = new ConfluentSchemaRegistry(base, { auth: { token: TOKEN } });
    expect(await reg.subjects()).toEqual(['s1-value']);
    expect(seen[0]!.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('user info in the URL is used as basic auth, and the URL the client reports has none', async () => {
    accepted = [basic(USER, PASSWORD)];
    const withUserInfo = base.replace('http://', `http://${USER}:${PASSWORD}@`);
    const reg = new ConfluentSchemaRegistry(withUserInfo);
    expect(await reg.subjects()).toEqual(['s1-value']);
    expect(reg.url).toBe(base);
  });

  it('without credentials the registry answers 401: the error says so and names the fix', async () => {
    const reg = new ConfluentSchemaRegistry(base);
    await expect(reg.subjects()).rejects.toThrow(/HTTP 401.*SCHEMA_REGISTRY_USER/);
    expect(seen[0]!.authorization).toBeUndefined();
  });

  it.each([
    ['a wrong password', { username: USER, password: PASSWORD }, false],
    ['a wrong token', { token: TOKEN }, false],
    ['a password in the URL', undefined, true],
  ])('refused with %s: no secret in the error, its stack or its causes', async (_what, auth, inUrl) => {
    accepted = ['something else'];
    const url = inUrl ? base.replace('http://', `http://${USER}:${PASSWORD}@`) : base;
    const reg = new ConfluentSchemaRegistry(url, auth ? { auth } : {});
    const err = await reg.subjects().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'VEC_ERR_SCHEMA_REGISTRY' });
    for (const secret of [PASSWORD, TOKEN, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')]) expect(printed(err)).not.toContain(secret);
  });

  it('an unreachable registry: the error names the URL without its user info', async () => {
    const reg = new ConfluentSchemaRegistry(`http://${USER}:${PASSWORD}@127.0.0.1:1/apis/ccompat/v7`, { auth: { username: USER, password: PASSWORD } });
    const err = await reg.subjects().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain('http://127.0.0.1:1/apis/ccompat/v7');
    expect(printed(err)).not.toContain(PASSWORD);
  }, 20_000);
});

describe('redactUrl', () => {
  it.each([
    ['https://u:p@reg.example:8081/apis/ccompat/v7', 'https://reg.example:8081/apis/ccompat/v7'],
    ['http://u@h/', 'http://h/'],
    ['http://h:8081', 'http://h:8081'],
    ['http://h/x?api_key=secret', 'http://h/x'],
    ['not a url u:p@h', 'not a url u:p@h'],
  ])('%s → %s', (url, expected) => expect(redactUrl(url)).toBe(expected));

  it('removes the user info of every URL in a text', () => {
    expect(redactUrlsIn('connect to http://a:b@h1/ then https://c:d@h2:1/x failed')).toBe('connect to http://h1/ then https://h2:1/x failed');
  });
});
