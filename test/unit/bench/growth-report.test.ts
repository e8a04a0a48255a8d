import {
  eventsFor,
  geometric,
  growthPlan,
  growthSection,
  keptText,
  KEEP_MARKER,
  parseCounts,
  SECTION_TITLE,
  usersChart,
  workersChart,
  type GrowthResult,
  type GrowthRun,
} from '../../../bench/growth-report';

const defaults = { workers: [1, 2, 3], workerUsers: 100_000, users: [10_000, 100_000, 1_000_000], eventsPerUser: 2, minEvents: 200_000 };

describe('growthPlan', () => {
  it('runs the shared configuration (1 worker at the workers sweep’s users) once, in both sweeps', () => {
    expect(growthPlan(defaults)).toEqual([
      { id: 'w1-u100000', workers: 1, users: 100_000, events: 200_000, sweeps: ['workers', 'users'] },
      { id: 'w2-u100000', workers: 2, users: 100_000, events: 200_000, sweeps: ['workers'] },
      { id: 'w3-u100000', workers: 3, users: 100_000, events: 200_000, sweeps: ['workers'] },
      { id: 'w1-u10000', workers: 1, users: 10_000, events: 200_000, sweeps: ['users'] },
      { id: 'w1-u1000000', workers: 1, users: 1_000_000, events: 2_000_000, sweeps: ['users'] },
    ]);
  });

  it('runs one sweep alone when the other is empty', () => {
    expect(growthPlan({ ...defaults, users: [] }).map((c) => c.id)).toEqual(['w1-u100000', 'w2-u100000', 'w3-u100000']);
    expect(growthPlan({ ...defaults, workers: [] }).every((c) => c.workers === 1 && c.sweeps.join() === 'users')).toBe(true);
  });

  it.each([
    [1_000, 2, 0, 2_000],
    [1_000, 2, 200_000, 200_000],
    [1_000_000, 2, 200_000, 2_000_000],
  ])('events for %p users at %p per user, at least %p: %p', (users, eventsPerUser, minEvents, events) => {
    expect(eventsFor(users, { eventsPerUser, minEvents })).toBe(events);
  });
});

describe('parseCounts', () => {
  it.each([
    ['1,2,3', [1, 2, 3]],
    [' 3, 1 ,3', [3, 1]],
    ['1_000_000', [1_000_000]],
    ['', []],
  ])('%p → %p', (text, counts) => expect(parseCounts('workers', text)).toEqual(counts));

  it.each(['0', '-1', '1.5', 'a', '1,,x', '1e3'])('rejects %p, naming the flag', (text) => {
    expect(() => parseCounts('users', text)).toThrow(/--users takes comma-separated integers ≥ 1/);
  });
});

describe('geometric', () => {
  it.each([
    [[10_000, 100_000, 1_000_000], true],
    [[1, 2, 4], true],
    [[1_000, 2_000, 3_000], false],
  ])('%p: %p', (xs, yes) => expect(geometric(xs)).toBe(yes));
});

const run = (workers: number, users: number, sweeps: GrowthRun['sweeps'], updatesPerSec: number): GrowthRun => ({
  id: `w${workers}-u${users}`,
  workers,
  users,
  events: 200_000,
  sweeps,
  seconds: 200_000 / updatesPerSec,
  updatesPerSec,
  updatesPerSecPerWorker: updatesPerSec / workers,
  passthroughPerSec: 100_000,
  ratio: updatesPerSec / 100_000,
  peakRssMiB: 1000 * workers,
  sumOfPeaksMiB: 1010 * workers,
  recordsPerWorker: [],
  firstRecordAfterMs: 50,
  loadAverage: { before: [0.5, 0, 0], after: [1.5, 0, 0] },
  at: '2026-12-01T10:00:00.000Z',
});

const result: GrowthResult = {
  machine: '2 × test CPU',
  settings: { entities: 100_000, dims: 128, partitions: 12, guarantee: 'at-least-once', eventsPerUser: 2, minEvents: 200_000, workerUsers: 100_000 },
  // Out of order on purpose: tables and charts sort by the swept quantity.
  runs: [run(2, 100_000, ['workers'], 20_000), run(1, 100_000, ['workers', 'users'], 13_000), run(1, 10_000, ['users'], 15_000)],
};

describe('charts', () => {
  it('plot each sweep in the order of its quantity', () => {
    expect(workersChart(result)!.categories).toEqual(['1', '2']);
    expect(workersChart(result)!.series[0]!.values).toEqual([13_000, 20_000]);
    expect(usersChart(result)!.categories).toEqual(['10k', '100k']);
    expect(usersChart(result)!.series.map((s) => s.values)).toEqual([
      [15_000, 13_000],
      [1000, 1000],
    ]);
  });

  it('are left out for a sweep not run', () => {
    expect(workersChart({ ...result, runs: result.runs.filter((r) => !r.sweeps.includes('workers')) })).toBeUndefined();
  });
});

describe('growthSection', () => {
  it('has both tables, the images and the kept explanation after the marker', () => {
    const body = growthSection(result, { workers: 'growth-workers.png', users: 'growth-users.png' }, 'Why: the lead says so.');
    expect(body).toContain('| 2 | 100,000 | 200,000 | 20,000 | 10,000 | 100,000 | **0.20** | 2,000 | 2,020 | 10.0 |');
    expect(body).toContain('![updates/s and ratio to the passthrough by worker processes](growth-workers.png)');
    expect(body.indexOf('### By worker processes')).toBeLessThan(body.indexOf('### By users'));
    expect(body.endsWith(`${KEEP_MARKER}\n\nWhy: the lead says so.`)).toBe(true);
  });

  it('says it was not run yet when there are no runs, with a placeholder explanation', () => {
    const body = growthSection({ ...result, runs: [] }, {}, undefined);
    expect(body).toContain('Not run yet');
    expect(body).not.toContain('| workers |');
    expect(body).toContain(KEEP_MARKER);
  });
});

describe('keptText', () => {
  it('returns what follows the marker in the section, up to the next section', () => {
    const md = `# Benchmarks\n\n## ${SECTION_TITLE}\n\nold table\n\n${KEEP_MARKER}\n\nThe explanation.\n\n### More of it\n\n## Next section\n\nnot this`;
    expect(keptText(md)).toBe('The explanation.\n\n### More of it');
  });

  it('is undefined without the section or without the marker', () => {
    expect(keptText('# Benchmarks\n\n## Other\n\ntext')).toBeUndefined();
    expect(keptText(`# Benchmarks\n\n## ${SECTION_TITLE}\n\nno marker\n`)).toBeUndefined();
  });
});
