import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { HttpGuard, MAX_HEADER_BYTES } from '../http/http-guard';

/** A running {@link startMetricsServer}. */
export interface MetricsServer {
  /** e.g. `http://127.0.0.1:9101`. */
  readonly url: string;
  close(): Promise<void>;
}

export interface MetricsServerOptions {
  registry: Registry;
  /** Interface to bind. Default 127.0.0.1. */
  host?: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** What `/healthz` reports: undefined when healthy, else the problem (503). */
  problem?: () => string | undefined;
  /** Bearer token `/metrics` needs (401 otherwise); `/healthz` stays open for probes. Default none. */
  token?: string;
}

/**
 * Serves a process's Prometheus metrics at `GET /metrics` and its liveness at
 * `GET /healthz`, for topology instances that have no query API (the doorman,
 * candidates): `vectors run <topology> --metrics 127.0.0.1:9101`.
 */
export async function startMetricsServer(o: MetricsServerOptions): Promise<MetricsServer> {
  const guard = new HttpGuard({ ...(o.token !== undefined ? { token: o.token } : {}), ratePerSecond: 100 });
  const server: Server = createServer({ maxHeaderSize: MAX_HEADER_BYTES }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const refused = guard.check(req);
    if (refused) {
      res
        .writeHead(refused.status, { 'content-type': 'application/json', ...refused.headers })
        .end(JSON.stringify({ error: { code: refused.code, message: refused.message } }));
    } else if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain' }).end('only GET\n');
    } else if (path === '/metrics') {
      o.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    } else if (path === '/healthz') {
      const problem = o.problem?.();
      res
        .writeHead(problem ? 503 : 200, { 'content-type': 'application/json' })
        .end(JSON.stringify(problem ? { status: 'failing', problem } : { status: 'ok' }));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics and /healthz\n');
    }
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  return {
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
