import { escapeXml, formatTick, legendLayout, linearScale, lineChart, niceTicks, spreadLabels } from '../../../bench/svg-chart';

describe('niceTicks', () => {
  it.each([
    // max, ticks
    [13606, [0, 5000, 10000, 15000]],
    [2900, [0, 1000, 2000, 3000]],
    [0.51, [0, 0.2, 0.4, 0.6]],
    [0.3, [0, 0.1, 0.2, 0.3]],
    [1, [0, 0.2, 0.4, 0.6, 0.8, 1]],
    [24, [0, 5, 10, 15, 20, 25]],
    [0, [0, 1]],
    [-3, [0, 1]],
    [Number.NaN, [0, 1]],
  ])('covers %p with %p', (max, ticks) => {
    expect(niceTicks(max).ticks).toEqual(ticks);
  });

  it.each([1, 7, 42, 999, 1001, 12345, 0.049, 3.3e6])('ends at the first tick at or above %p, at a step of 1, 2, 2.5 or 5 × 10^k', (max) => {
    const { ticks, top, step } = niceTicks(max);
    expect(top).toBeGreaterThanOrEqual(max);
    expect(top - step).toBeLessThan(max);
    expect(ticks[ticks.length - 1]).toBe(top);
    expect([1, 2, 2.5, 5]).toContain(Number((step / 10 ** Math.floor(Math.log10(step))).toPrecision(6)));
  });
});

describe('linearScale', () => {
  it('maps the domain onto a reversed range, as the y axis of an SVG', () => {
    const y = linearScale([0, 100], [400, 100]);
    expect([y(0), y(50), y(100)]).toEqual([400, 250, 100]);
  });

  it('maps an empty domain to the start of the range', () => {
    expect(linearScale([5, 5], [0, 10])(5)).toBe(0);
  });
});

describe('spreadLabels', () => {
  it.each([
    // wishes, gap, placed
    [[100, 200], 15, [100, 200]],
    [[100, 105, 200], 15, [90, 105, 200]],
    [[50, 50, 50], 15, [50, 35, 20]],
  ])('places %p with gap %p at %p: the lowest where it wished, crowded ones moved up', (wishes, gap, placed) => {
    expect(spreadLabels(wishes, gap)).toEqual(placed);
  });
});

describe('legendLayout', () => {
  it('wraps to a new row before the right edge', () => {
    const entries = legendLayout(['a'.repeat(40), 'b'.repeat(40), 'c'.repeat(10)], 0, 800);
    expect(entries.map((e) => e.row)).toEqual([0, 0, 1]);
    expect(entries[2]!.x).toBe(0);
  });
});

describe('formatTick', () => {
  it.each([
    [0, '0'],
    [5000, '5000'],
    [15000, '15k'],
    [1500000, '1.5M'],
    [0.25, '0.25'],
    [0.1 + 0.2, '0.3'],
  ])('%p → %p', (v, s) => expect(formatTick(v)).toBe(s));
});

describe('lineChart', () => {
  const spec = {
    title: 'Throughput <by> workers & "users"',
    categories: ['1', '2', '3'],
    xLabel: 'workers',
    leftLabel: 'updates/s',
    rightLabel: 'ratio',
    series: [
      { name: 'updates/s', values: [10000, null, 15000], axis: 'left' as const },
      { name: 'ratio', values: [0.1, 0.2, 0.3], axis: 'right' as const },
    ],
  };

  it('is a standalone SVG document with its text escaped', () => {
    const svg = lineChart(spec);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain(escapeXml(spec.title));
    expect(svg).not.toContain('<by>');
  });

  it('draws one point per measured value and breaks the line at a missing one', () => {
    const svg = lineChart(spec);
    const points = svg.match(/<circle cx="[\d.]+" cy="[\d.]+" r="4.5"/g) ?? [];
    expect(points).toHaveLength(5);
    const paths = [...svg.matchAll(/<path d="([^"]+)"/g)].map((m) => m[1]!);
    expect(paths[0]!.match(/M/g)).toHaveLength(2); // 10000, gap, 15000
    expect(paths[1]!.match(/L/g)).toHaveLength(2);
  });

  it('puts the largest value of an axis on or below its top tick and zero on the x axis', () => {
    const svg = lineChart({ ...spec, series: [{ name: 's', values: [0, 15000, 20000], axis: 'left' as const }] });
    const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)" r="4.5"/g)].map((m) => Number(m[1]));
    const height = 520;
    const bottomMargin = 64;
    expect(ys[0]).toBe(height - bottomMargin); // 0 on the x axis
    expect(ys[2]).toBeLessThan(ys[1]!); // higher values higher up
    // 20000 is the top tick (0..20k by 5k): the point sits at the top of the plot area.
    const gridTop = Math.min(...[...svg.matchAll(/<line x1="[\d.]+" y1="([\d.]+)" x2="[\d.]+" y2="[\d.]+" stroke="#e3e3e3"/g)].map((m) => Number(m[1])));
    expect(ys[2]).toBe(gridTop);
  });
});
