import { forwardedUrl, parseRequestTarget, type RequestTarget } from '../../../src/api/request-target';

const parsed = (target: string) => {
  const t = parseRequestTarget(target);
  if (!t.ok) throw new Error(`'${target}' did not parse: ${t.problem}`);
  return t as RequestTarget;
};

describe('parseRequestTarget', () => {
  it.each([
    ['/v1/users/u1/vector', 'user_vector', 'u1'],
    ['/v1/users/u1/candidates?k=10', 'user_candidates', 'u1'],
    ['/v1/entities/e%201/similar', 'entity_similar', 'e 1'],
    ['/v1/users/a%2F..%2Fb/vector', 'user_vector', 'a/../b'],
    ['/v1/users/%C3%A9%3F%23/vector', 'user_vector', 'é?#'],
    ['/v1/users/.../vector', 'user_vector', '...'],
    ['/v1/snapshots', 'snapshots', undefined],
    ['/metrics', 'metrics', undefined],
    ['/healthz?x=1', 'healthz', undefined],
    ['/readyz', 'readyz', undefined],
    ['/v1/status', 'status', undefined],
    ['/openapi.json', 'openapi', undefined],
    ['/', 'status_page', undefined],
    ['/?poll=1', 'status_page', undefined],
    ['http://any.host:1/v1/users/u1/vector', 'user_vector', 'u1'],
  ])('%s is route %s, id %s', (target, route, id) => {
    const t = parsed(target);
    expect(t.route).toBe(route);
    expect(t.id).toBe(id);
  });

  it.each([
    ['/.//v1/users/x/vector'],
    ['//v1/users/x/vector'],
    ['//evil.example/v1/users/x/vector'],
    ['/v1//users/x/vector'],
    ['/v1/users//vector'],
    ['/v1/users/x/vector/'],
    ['/v1/snapshots/'],
    ['/./v1/users/x/vector'],
    ['/v1/users/x/../y/vector'],
    ['/v1/users/./vector'],
    ['/v1/users/../vector'],
    ['/v1/users/%2e%2E/vector'],
    ['/v1/users/%2E/vector'],
    ['//'],
    ['*'],
  ])('%s, with an empty or dot segment (or no path), matches no route', (target) => {
    expect(parsed(target).route).toBe('unknown');
  });

  it('decodes query parameters (+ as a space), keeping the first of a repeated name', () => {
    expect([...parsed('/v1/users/u/vector?snapshot=s+1%2Bx&k=3&snapshot=other&flag&=v').query]).toEqual([
      ['snapshot', 's 1+x'],
      ['k', '3'],
      ['flag', ''],
      ['', 'v'],
    ]);
  });

  it.each([
    ['/v1/users/%E0%A4%A/vector', "path segment '%E0%A4%A' is not valid percent-encoding"],
    ['/v1/users/%ZZ/candidates', "path segment '%ZZ' is not valid percent-encoding"],
    ['/v1/users/x/vector%', "path segment 'vector%' is not valid percent-encoding"],
    ['/v1/users/x/vector?snapshot=%E0%A4%A', "query parameter 'snapshot' has value '%E0%A4%A', which is not valid percent-encoding"],
    ['/v1/users/x/vector?k%FF=1', "query parameter name 'k%FF' is not valid percent-encoding"],
  ])('refuses %s, naming the bad part', (target, problem) => {
    const t = parseRequestTarget(target);
    expect(t.ok).toBe(false);
    expect(!t.ok && t.problem).toContain(problem);
    expect(!t.ok && t.problem).toContain('encodeURIComponent');
  });
});

describe('forwardedUrl', () => {
  it.each([
    [{ route: 'user_vector' as const, userId: 'u1' }, 'http://10.0.0.2:8090/v1/users/u1/vector'],
    [{ route: 'user_vector' as const, userId: 'u1', k: 5, snapshot: 's 1&k=9' }, 'http://10.0.0.2:8090/v1/users/u1/vector?snapshot=s+1%26k%3D9'],
    [{ route: 'user_candidates' as const, userId: 'u1', k: 5, snapshot: 's1' }, 'http://10.0.0.2:8090/v1/users/u1/candidates?k=5&snapshot=s1'],
    [{ route: 'user_candidates' as const, userId: '//v1/a/../b?c#d' }, 'http://10.0.0.2:8090/v1/users/%2F%2Fv1%2Fa%2F..%2Fb%3Fc%23d/candidates'],
    [{ route: 'user_vector' as const, userId: '@evil.example' }, 'http://10.0.0.2:8090/v1/users/%40evil.example/vector'],
    [{ route: 'user_vector' as const, userId: 'é' }, 'http://10.0.0.2:8090/v1/users/%C3%A9/vector'],
  ])('forwards %j to the owner origin only: %s', (q, url) => {
    expect(forwardedUrl('http://10.0.0.2:8090', q)).toBe(url);
    // The endpoint's own path and query are not the owner's routes: only its origin counts.
    expect(forwardedUrl('http://10.0.0.2:8090/some/prefix?x=1', q)).toBe(url);
  });

  it('round-trips: the owner parses the forwarded URL into the same route, user and parameters', () => {
    for (const userId of ['u1', 'a/../b', '%E0', ' +x', 'é?#&=', '...']) {
      const url = new URL(forwardedUrl('http://h:1', { route: 'user_candidates', userId, k: 7, snapshot: 'a b+c' }));
      const t = parsed(url.pathname + url.search);
      expect([t.route, t.id, t.query.get('k'), t.query.get('snapshot')]).toEqual(['user_candidates', userId, '7', 'a b+c']);
    }
  });

  it.each([
    ['not a url', /endpoint 'not a url' is not an http\(s\) URL/],
    ['file:///etc/passwd', /endpoint 'file:\/\/\/etc\/passwd' is not an http\(s\) URL/],
  ])('refuses the endpoint %s', (endpoint, message) => {
    expect(() => forwardedUrl(endpoint, { route: 'user_vector', userId: 'u' })).toThrow(message);
  });

  it.each(['.', '..'])('refuses the user id %s, which a URL path cannot carry', (userId) => {
    expect(() => forwardedUrl('http://h:1', { route: 'user_vector', userId })).toThrow(/cannot be carried in a URL path/);
  });
});
