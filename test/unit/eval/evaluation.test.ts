import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runEvaluation, type EvalReport } from '../../../eval/evaluate';
import { configFor, parseArgs } from '../../../eval/main';
import { METHOD_NAMES } from '../../../eval/methods';
import { writeReport } from '../../../eval/report';

/** The report without its timings, which differ run to run. */
const figures = (r: EvalReport) => ({ ...r, seconds: 0, protocols: r.protocols.map((p) => ({ ...p, timings: {} })) });

describe('npm run eval -- --quick (synthetic world, end to end)', () => {
  const options = parseArgs(['--quick', '--seed', '5']);
  let report: EvalReport;

  beforeAll(async () => {
    report = await runEvaluation(configFor(options));
  }, 60_000);

  it('evaluates exactly the users with ≥ 5 training events and a new positive in their test (per-user split)', () => {
    // Counted here independently of the protocol code, from the dataset's events.
    const byUser = new Map<string, { entityId: string; positive: boolean }[]>();
    for (const e of configFor(options).dataset.events) (byUser.get(e.userId) ?? byUser.set(e.userId, []).get(e.userId)!).push(e);
    let expected = 0;
    for (const list of byUser.values()) {
      const a = Math.round(0.7 * list.length);
      const b = Math.round(0.85 * list.length);
      const before = new Set(list.slice(0, b).map((e) => e.entityId));
      if (a >= 5 && list.slice(b).some((e) => e.positive && !before.has(e.entityId))) expected++;
    }
    const perUser = report.protocols.find((p) => p.protocol === 'per-user')!;
    expect(expected).toBeGreaterThan(50);
    expect(perUser.users).toBe(expected);
    expect(perUser.rows.every((r) => r.users === expected)).toBe(true);
  });

  it('reports the seven methods and the lifetime model under their names on both protocols, each realtime row saying it ran through the topology', () => {
    for (const p of report.protocols) {
      const main = p.rows.filter((r) => r.variant === null).map((r) => r.method);
      expect(main.sort()).toEqual([...METHOD_NAMES].sort());
      for (const method of ['realtime-decayed', 'realtime-fold-in', 'lifetime-realtime']) {
        expect(p.rows.find((r) => r.method === method && r.variant === null)!.note).toMatch(/^user-vectors topology \(TopologyTestDriver/);
      }
      expect(p.rows.find((r) => r.method === 'lifetime-realtime')!.note).toMatch(/snapshot carrying the stale ALS user factors/);
    }
    expect(report.protocols.map((p) => p.protocol)).toEqual(['per-user', 'global']);
  });

  it('gives users without a stream event exactly their stale-batch list under lifetime-realtime', () => {
    const global = report.protocols.find((p) => p.protocol === 'global')!;
    expect(global.quiet.users).toBeGreaterThan(0);
    for (const p of report.protocols) expect(p.quiet.sameListAsStale).toBe(p.quiet.users);
  });

  it('keeps every figure a proportion, inside its interval', () => {
    for (const p of report.protocols) {
      for (const r of p.rows) {
        for (const k of ['recall@10', 'recall@50', 'ndcg@50'] as const) {
          expect(r[k]).toBeGreaterThanOrEqual(0);
          expect(r[k]).toBeLessThanOrEqual(1);
          expect(r.ci95[k][0]).toBeLessThanOrEqual(r[k] + 1e-12);
          expect(r.ci95[k][1]).toBeGreaterThanOrEqual(r[k] - 1e-12);
        }
        expect(r['recall@10']).toBeLessThanOrEqual(r['recall@50']);
      }
    }
  });

  it('finds structure in the world: ideal batch far above random, and batch above popularity (per-user)', () => {
    const rows = new Map(report.protocols.find((p) => p.protocol === 'per-user')!.rows.map((r) => [r.method, r]));
    const ideal = rows.get('ideal-batch')!;
    const random = rows.get('random')!;
    expect(ideal['recall@50']).toBeGreaterThan(random['recall@50'] + 0.2);
    expect(ideal.ci95['recall@50'][0]).toBeGreaterThan(random.ci95['recall@50'][1]);
    expect(rows.get('stale-batch')!['recall@50']).toBeGreaterThan(rows.get('popularity')!['recall@50']);
    // The realtime decayed model follows the drifting tastes: above the stale batch vector on average.
    expect(rows.get('realtime-decayed')!.vsStaleBatch!['recall@50'].mean).toBeGreaterThan(0);
  });

  it('gives identical figures for the same seed', async () => {
    // The per-user protocol again (the global one runs the same code on another split).
    const again = await runEvaluation({ ...configFor(options), protocols: ['per-user'] });
    expect(figures(again).lifetime).toEqual(figures(report).lifetime);
    expect(figures(again).protocols[0]).toEqual(figures(report).protocols[0]);
  }, 60_000);

  it('writes the rows to evaluation.json and replaces, not repeats, its section of EVALUATION.md', () => {
    const dir = mkdtempSync(join(tmpdir(), 'eval-docs-'));
    try {
      writeReport(report, dir);
      writeReport(report, dir);
      const rows = JSON.parse(readFileSync(join(dir, 'evaluation.json'), 'utf8')) as Record<string, unknown>[];
      expect(rows).toHaveLength(report.protocols.reduce((n, p) => n + p.rows.length, 0));
      expect(rows[0]).toMatchObject({
        dataset: 'synthetic',
        protocol: 'per-user',
        method: 'random',
        users: expect.any(Number),
        ci95: { 'recall@50': [expect.any(Number), expect.any(Number)] },
      });
      const md = readFileSync(join(dir, 'EVALUATION.md'), 'utf8');
      expect(md.split('<!-- results:synthetic:begin').length).toBe(2);
      expect(md).toMatch(/\| lifetime-realtime \| used \|/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('refuses to record a quick run, and unknown arguments', () => {
    expect(() => parseArgs(['--quick', '--write'])).toThrow(/--write records the full run only/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown argument '--fast'/);
  });
});
