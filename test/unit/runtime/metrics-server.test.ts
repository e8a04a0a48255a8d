import { Counter, Registry } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '../../../src/runtime/metrics/metrics-server';

describe('metrics server', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => server?.close());

  it('serves the registry at /metrics and liveness at /healthz', async () => {
    const registry = new Registry();
    new Counter({ name: 'test_things_total', help: 'things', registers: [registry] }).inc(3);
    const health: { problem?: string } = {};
    server = await startMetricsServer({ registry, port: 0, problem: () => health.problem });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('test_things_total 3');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    health.problem = 'the topology stopped: boom';
    const failing = await fetch(`${server.url}/healthz`);
    expect(failing.status).toBe(503);
    expect(await failing.json()).toEqual({ status: 'failing', problem: 'the topology stopped: boom' });
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});
