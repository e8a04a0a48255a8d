/**
 * A small line chart as SVG text, for benchmark figures: categories on x
 * (evenly spaced, so 10k, 100k, 1M users read as a log scale), one or two y
 * axes that start at zero, a legend, a value label at every point and a
 * footer line (the machine). No dependencies: the PNG is rendered by
 * rasterising the SVG in a browser (bench/growth.ts).
 */

export interface ChartSeries {
  name: string;
  /** One value per category; null: not measured (no point, the line breaks). */
  values: (number | null)[];
  axis: 'left' | 'right';
  dashed?: boolean;
  /** Label at each point; default {@link formatNumber}. */
  format?: (v: number) => string;
}

export interface ChartSpec {
  title: string;
  subtitle?: string;
  /** Small text under the chart, e.g. the machine line. */
  footer?: string;
  categories: string[];
  xLabel: string;
  leftLabel: string;
  rightLabel?: string;
  series: ChartSeries[];
  width?: number;
  height?: number;
}

export interface Ticks {
  step: number;
  /** From 0 to the first tick ≥ the maximum. */
  ticks: number[];
  top: number;
}

/**
 * Ticks from 0 covering `max`, at a step of 1, 2, 2.5 or 5 × 10^k giving
 * about `count` intervals. Zero (or less) gives the axis 0..1.
 */
export function niceTicks(max: number, count = 5): Ticks {
  if (!(max > 0) || !Number.isFinite(max)) return { step: 1, ticks: [0, 1], top: 1 };
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  // toPrecision: 3 × 0.1 must print as 0.3, and 0.3 × n stay on the grid.
  const clean = (v: number) => Number(v.toPrecision(12));
  const n = Math.ceil(clean(max / step));
  const ticks = Array.from({ length: n + 1 }, (_, i) => clean(i * step));
  return { step: clean(step), ticks, top: ticks[ticks.length - 1]! };
}

/** The affine map of `domain` onto `range` (either may be reversed, as SVG's y axis is). */
export function linearScale(domain: [number, number], range: [number, number]): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** 1234567 → "1,234,567"; below 10 with up to two decimals (ratios). */
export function formatNumber(v: number): string {
  if (Math.abs(v) < 10 && !Number.isInteger(v)) return v.toFixed(2);
  return Math.round(v).toLocaleString('en-US');
}

/** An axis tick: 15000 → "15k", 1500000 → "1.5M", 0.25 → "0.25". */
export function formatTick(v: number): string {
  const trim = (x: number) => String(Number(x.toPrecision(6)));
  if (Math.abs(v) >= 1e6) return `${trim(v / 1e6)}M`;
  if (Math.abs(v) >= 1e4) return `${trim(v / 1e3)}k`;
  return trim(v);
}

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const FONT = `font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif"`;

/** The chart as a standalone SVG document. */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 900;
  const height = spec.height ?? 520;
  const hasRight = spec.series.some((s) => s.axis === 'right');
  const legend = legendLayout(
    spec.series.map((s) => (hasRight ? `${s.name} (${s.axis})` : s.name)),
    92,
    width - 24,
  );
  const legendRows = Math.max(1, ...legend.map((l) => l.row + 1));
  const margin = { top: 84 + 22 * legendRows, right: hasRight ? 92 : 32, bottom: spec.footer ? 86 : 64, left: 92 };
  const plot = { x0: margin.left, x1: width - margin.right, y0: height - margin.bottom, y1: margin.top };
  const maxOf = (axis: 'left' | 'right') =>
    Math.max(0, ...spec.series.filter((s) => s.axis === axis).flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v))));
  const axes = {
    left: niceTicks(maxOf('left')),
    right: niceTicks(maxOf('right')),
  };
  const y = {
    left: linearScale([0, axes.left.top], [plot.y0, plot.y1]),
    right: linearScale([0, axes.right.top], [plot.y0, plot.y1]),
  };
  const n = spec.categories.length;
  // Categories sit in the middles of n equal slots, so one category is centred and the ends are not on the axes.
  const x = (i: number) => plot.x0 + ((i + 0.5) * (plot.x1 - plot.x0)) / Math.max(1, n);
  const out: string[] = [];
  const text = (tx: number, ty: number, s: string, attrs = '') => `<text x="${r(tx)}" y="${r(ty)}" ${attrs}>${escapeXml(s)}</text>`;

  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT} font-size="13">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(text(width / 2, 28, spec.title, 'text-anchor="middle" font-size="18" font-weight="bold" fill="#111"'));
  if (spec.subtitle) out.push(text(width / 2, 50, spec.subtitle, 'text-anchor="middle" font-size="13" fill="#444"'));

  // Grid and left axis.
  for (const t of axes.left.ticks) {
    const ty = y.left(t);
    out.push(`<line x1="${plot.x0}" y1="${r(ty)}" x2="${plot.x1}" y2="${r(ty)}" stroke="#e3e3e3"/>`);
    out.push(text(plot.x0 - 8, ty + 4, formatTick(t), 'text-anchor="end" fill="#333"'));
  }
  out.push(`<line x1="${plot.x0}" y1="${plot.y0}" x2="${plot.x0}" y2="${plot.y1}" stroke="#333"/>`);
  out.push(text(24, (plot.y0 + plot.y1) / 2, spec.leftLabel, `text-anchor="middle" fill="#111" transform="rotate(-90 24 ${r((plot.y0 + plot.y1) / 2)})"`));
  if (hasRight) {
    for (const t of axes.right.ticks) out.push(text(plot.x1 + 8, y.right(t) + 4, formatTick(t), 'text-anchor="start" fill="#333"'));
    out.push(`<line x1="${plot.x1}" y1="${plot.y0}" x2="${plot.x1}" y2="${plot.y1}" stroke="#333"/>`);
    const rx = width - 20;
    out.push(
      text(rx, (plot.y0 + plot.y1) / 2, spec.rightLabel ?? '', `text-anchor="middle" fill="#111" transform="rotate(90 ${rx} ${r((plot.y0 + plot.y1) / 2)})"`),
    );
  }
  // x axis.
  out.push(`<line x1="${plot.x0}" y1="${plot.y0}" x2="${plot.x1}" y2="${plot.y0}" stroke="#333"/>`);
  spec.categories.forEach((c, i) => {
    out.push(`<line x1="${r(x(i))}" y1="${plot.y0}" x2="${r(x(i))}" y2="${plot.y0 + 5}" stroke="#333"/>`);
    out.push(text(x(i), plot.y0 + 20, c, 'text-anchor="middle" fill="#333"'));
  });
  out.push(text((plot.x0 + plot.x1) / 2, plot.y0 + 44, spec.xLabel, 'text-anchor="middle" fill="#111"'));

  // Legend under the subtitle, wrapped into rows.
  spec.series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length]!;
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    const { x: lx, row, label } = legend[k]!;
    const ly = 74 + 22 * row;
    out.push(`<line x1="${r(lx)}" y1="${ly}" x2="${r(lx + 26)}" y2="${ly}" stroke="${colour}" stroke-width="2.5"${dash}/>`);
    out.push(`<circle cx="${r(lx + 13)}" cy="${ly}" r="3.5" fill="${colour}"/>`);
    out.push(text(lx + 32, ly + 4, label, 'fill="#111"'));
  });

  // Series: a line through consecutive measured points and a dot at each; value labels after all lines, so none is drawn over.
  const labels: { i: number; y: number; s: string; colour: string }[] = [];
  spec.series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length]!;
    const ys = y[s.axis];
    const fmt = s.format ?? formatNumber;
    let path = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      path += `${pen ? 'L' : 'M'}${r(x(i))} ${r(ys(v))} `;
      pen = true;
    });
    if (path) out.push(`<path d="${path.trim()}" fill="none" stroke="${colour}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) return;
      out.push(`<circle cx="${r(x(i))}" cy="${r(ys(v))}" r="4.5" fill="${colour}"/>`);
      labels.push({ i, y: ys(v) - 10, s: fmt(v), colour });
    });
  });
  const labelStyle = 'text-anchor="middle" font-size="12" font-weight="bold" stroke="#ffffff" stroke-width="3" paint-order="stroke"';
  for (let i = 0; i < n; i++) {
    const at = labels.filter((l) => l.i === i);
    const placed = spreadLabels(
      at.map((l) => l.y),
      15,
    );
    at.forEach((l, k) => out.push(text(x(i), placed[k]!, l.s, `${labelStyle} fill="${l.colour}"`)));
  }

  if (spec.footer) out.push(text(width / 2, height - 14, spec.footer, 'text-anchor="middle" font-size="11" fill="#666"'));
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const r = (v: number) => Math.round(v * 10) / 10;

/** Approximate width of `s` at 13 px in DejaVu Sans (no font metrics here): enough to lay out a legend. */
const textWidth = (s: string) => s.length * 7.8;

/** Legend entries (a 26 px line sample, a gap, the label) left to right from `x0`, wrapping before `x1`. */
export function legendLayout(labels: string[], x0: number, x1: number): { label: string; x: number; row: number }[] {
  let x = x0;
  let row = 0;
  return labels.map((label) => {
    const w = 32 + textWidth(label);
    if (x > x0 && x + w > x1) {
      x = x0;
      row++;
    }
    const entry = { label, x, row };
    x += w + 28;
    return entry;
  });
}

/**
 * Label baselines (each wished just above its point) at least `gap` apart:
 * the lowest stays where it wished, and any that would overlap the one
 * below moves up, so a crowd of labels stacks above its points rather than over them.
 */
export function spreadLabels(wishes: number[], gap: number): number[] {
  const order = wishes.map((y, k) => ({ y, k })).sort((a, b) => b.y - a.y || a.k - b.k);
  const out = new Array<number>(wishes.length);
  let below = Infinity;
  for (const { y, k } of order) {
    const placed = Math.min(y, below - gap);
    out[k] = placed;
    below = placed;
  }
  return out;
}
