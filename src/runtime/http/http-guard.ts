/**
 * What every HTTP endpoint of a process checks before it routes a request:
 * the size of the request target, a per-process rate limit, and (when a token
 * is configured) `Authorization: Bearer <token>`. Shared by the query API and
 * the metrics server of the topologies without one, so both refuse the same
 * way (docs/SECURITY.md).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Longest request target (path and query) accepted; longer ones get 414. User and entity ids are far shorter. */
export const MAX_URL_LENGTH = 4096;
/** Largest request line plus headers Node accepts before it answers 431 itself (its default is 16 KiB). */
export const MAX_HEADER_BYTES = 8192;

export interface HttpGuardOptions {
  /** The bearer token every request but the exempt paths must carry; none when undefined. */
  token?: string;
  /** Requests per second the process answers (a token bucket that holds one second's worth); 0 or undefined: no limit. */
  ratePerSecond?: number;
  /** Paths that need no token and are never rate limited: liveness and readiness probes. */
  exempt?: readonly string[];
}

/** A refusal: the status, a stable code and a message for the JSON error body, and extra headers. */
export interface Refusal {
  status: number;
  code: string;
  message: string;
  headers: Record<string, string>;
}

/**
 * Checks requests in the order that costs least: target length, then the rate
 * limit (so a flood of bad tokens is limited too), then the token. Tokens are
 * compared in constant time (as SHA-256 digests, so lengths leak nothing).
 */
export class HttpGuard {
  private readonly digest?: Buffer;
  private readonly exempt: ReadonlySet<string>;
  private tokens: number;
  private refilledAt = Date.now();

  constructor(private readonly o: HttpGuardOptions) {
    if (o.token !== undefined) this.digest = sha256(o.token);
    this.exempt = new Set(o.exempt ?? ['/healthz', '/readyz']);
    this.tokens = o.ratePerSecond ?? 0;
  }

  /** Whether requests need a token. */
  get protected(): boolean {
    return this.digest !== undefined;
  }

  /** The header a client of a guarded endpoint sends (forwarding between instances, scraping peers). */
  get authorization(): Record<string, string> {
    return this.o.token !== undefined ? { authorization: `Bearer ${this.o.token}` } : {};
  }

  /** Undefined when the request may proceed, else why not. */
  check(req: IncomingMessage): Refusal | undefined {
    const url = req.url ?? '/';
    if (url.length > MAX_URL_LENGTH)
      return {
        status: 414,
        code: 'URI_TOO_LONG',
        message: `the request target has ${url.length} characters; at most ${MAX_URL_LENGTH} are accepted`,
        headers: {},
      };
    const path = url.split('?', 1)[0]!;
    if (this.exempt.has(path)) return undefined;
    if (!this.take())
      return {
        status: 429,
        code: 'TOO_MANY_REQUESTS',
        message: `more than ${this.o.ratePerSecond} requests per second; retry after a second`,
        headers: { 'retry-after': '1' },
      };
    if (this.digest && !this.authorized(req.headers.authorization))
      return {
        status: 401,
        code: 'UNAUTHORIZED',
        message: 'missing or wrong bearer token: send the header "Authorization: Bearer <token>" with the token the server was given (docs/SECURITY.md)',
        headers: { 'www-authenticate': 'Bearer realm="vectors"' },
      };
    return undefined;
  }

  private authorized(header: string | undefined): boolean {
    const m = header ? /^Bearer +(\S+) *$/i.exec(header) : null;
    return m !== null && timingSafeEqual(sha256(m[1]!), this.digest!);
  }

  private take(): boolean {
    const rate = this.o.ratePerSecond ?? 0;
    if (rate <= 0) return true;
    const now = Date.now();
    this.tokens = Math.min(rate, this.tokens + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Whether `host` is a loopback address (binding elsewhere without a token deserves a warning). */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);
}
