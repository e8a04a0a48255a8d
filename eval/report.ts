/**
 * The evaluation's output: a printed table, and with `--write` the figures in
 * docs/evaluation.json and the generated sections of docs/EVALUATION.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EvalReport, MethodRow, ProtocolReport } from './evaluate';
import { METHOD_NAMES } from './methods';

const DOCS = join(__dirname, '..', 'docs');

/** Main rows in the order of METHOD_NAMES, then each method's variants. */
export function orderedRows(rows: readonly MethodRow[]): MethodRow[] {
  const rank = (r: MethodRow) =>
    (r.variant === null ? 0 : 100) + METHOD_NAMES.indexOf(r.base) * 10 + ['with-negatives', 'no-negatives', 'stream-only'].indexOf(r.variant ?? '');
  return [...rows].sort((a, b) => rank(a) - rank(b));
}

const f3 = (x: number) => x.toFixed(3);
const signed = (x: number) => (x >= 0 ? '+' : '−') + Math.abs(x).toFixed(3);
const interval = ([lo, hi]: [number, number], f = f3) => `[${f(lo)}, ${f(hi)}]`;

function protocolTable(p: ProtocolReport, markdown: boolean): string {
  const header = ['method', 'negatives', 'recall@10', 'recall@50 [95% CI]', 'NDCG@50', 'Δ recall@50 vs stale-batch [95% CI]', 'fallbacks'];
  const rows = orderedRows(p.rows).map((r) => [
    r.method,
    r.negatives,
    f3(r['recall@10']),
    `${f3(r['recall@50'])} ${interval(r.ci95['recall@50'])}`,
    f3(r['ndcg@50']),
    r.vsStaleBatch
      ? `${signed(r.vsStaleBatch['recall@50'].mean)} ${interval(r.vsStaleBatch['recall@50'].ci95, signed)}${excludesZero(r.vsStaleBatch['recall@50'].ci95) ? '' : ' ~0'}`
      : '—',
    String(r.fallbacks),
  ]);
  if (markdown) {
    return [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i < 2 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
      '\n',
    );
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function excludesZero([lo, hi]: [number, number]): boolean {
  return lo > 0 || hi < 0;
}

function pairLines(p: ProtocolReport, markdown: boolean): string {
  const byPair = new Map<string, string[]>();
  for (const d of p.pairs) {
    const key = `${d.a} − ${d.b}`;
    const text = `${d.metric} ${signed(d.mean)} ${interval(d.ci95, signed)}${excludesZero(d.ci95) ? '' : ' ~0'}`;
    (byPair.get(key) ?? byPair.set(key, []).get(key)!).push(text);
  }
  const lines = [...byPair].map(([key, texts]) => `${markdown ? '- ' : '  '}${markdown ? `\`${key}\`` : key}: ${texts.join('; ')}`);
  const quiet = `Users without a stream event: ${p.quiet.users}; their lifetime-realtime list equals their stale-batch list for ${p.quiet.sameListAsStale} of them.`;
  return `Paired differences over the same users:\n${lines.join('\n')}\n\n${quiet}`;
}

function protocolHeading(report: EvalReport, p: ProtocolReport): string {
  return (
    `${report.dataset}, ${p.protocol} split: ${p.users} users evaluated (${p.trainedUsers} with ≥ 5 training events), ` +
    `${p.testItemsPerUser.toFixed(1)} test items per user; events ${p.events.training} training / ${p.events.stream} stream / ${p.events.test} test; ${p.description}`
  );
}

function settings(report: EvalReport): string {
  const { als } = report.config;
  const grid = report.lifetime.grid.map((g) => `${g.variant} λₚ=${g.priorWeight}: ${f3(g['recall@50'])}`).join('; ');
  return [
    `ALS: ${als.factors} factors, λ ${als.lambda}, α ${als.alpha}, ${als.iterations} sweeps (CG, last user pass exact), seed ${report.config.seed}; bootstrap ${report.config.bootstrap} resamples of users.`,
    `Events: ${report.mapping}`,
    `lifetime-realtime: ${report.lifetime.variant}, λₚ = ${report.lifetime.priorWeight}, chosen on ${report.lifetime.on}. Grid (recall@50): ${grid}.`,
    `Users without new events get x₀ in either variant: on the held-out split x₀ scores recall@50 ${f3(report.lifetime.idle.x0)}, ` +
      `the ridge formula without events, (YᵀY + λₚI)⁻¹λₚx₀ at λₚ = ${report.lifetime.idle.priorWeight}, ${f3(report.lifetime.idle.ridgeFormula)}.`,
  ].join('\n');
}

/** The printed report. */
export function formatReport(report: EvalReport): string {
  const parts = [`\n${settings(report)}\n`];
  for (const p of report.protocols) parts.push(`${protocolHeading(report, p)}\n\n${protocolTable(p, false)}\n\n${pairLines(p, false)}\n`);
  parts.push(
    '"~0": the interval of the difference includes 0. fallbacks: users without a vector from the method, given the popularity list.\n' +
      "lifetime-realtime runs through the user-vectors topology, on a snapshot carrying the stale ALS user factors (the lifetime model's λₚ and variant are chosen on a held-out split in process).\n" +
      `${report.events} events, ${report.seconds.toFixed(0)} s.\n`,
  );
  return parts.join('\n');
}

/** The rows of docs/evaluation.json for this report. */
export function jsonRows(report: EvalReport): object[] {
  const r4 = (x: number) => Math.round(x * 1e4) / 1e4;
  const iv = (i: [number, number]) => [r4(i[0]), r4(i[1])];
  return report.protocols.flatMap((p) =>
    orderedRows(p.rows).map((r) => ({
      dataset: r.dataset,
      protocol: r.protocol,
      method: r.method,
      'recall@10': r4(r['recall@10']),
      'recall@50': r4(r['recall@50']),
      'ndcg@50': r4(r['ndcg@50']),
      ci95: { 'recall@50': iv(r.ci95['recall@50']), 'recall@10': iv(r.ci95['recall@10']), 'ndcg@50': iv(r.ci95['ndcg@50']) },
      users: r.users,
      variant: r.variant,
      negatives: r.negatives,
      vsStaleBatch: r.vsStaleBatch && {
        'recall@50': { mean: r4(r.vsStaleBatch['recall@50'].mean), ci95: iv(r.vsStaleBatch['recall@50'].ci95) },
        'ndcg@50': { mean: r4(r.vsStaleBatch['ndcg@50'].mean), ci95: iv(r.vsStaleBatch['ndcg@50'].ci95) },
      },
      fallbacks: r.fallbacks,
      ...(r.note ? { note: r.note } : {}),
    })),
  );
}

/** The generated part of docs/EVALUATION.md for one dataset. */
export function markdownSection(report: EvalReport): string {
  const parts = [
    settings(report)
      .split('\n')
      .map((l) => `- ${l}`)
      .join('\n'),
  ];
  for (const p of report.protocols) {
    parts.push(`**${protocolHeading(report, p)}**\n\n${protocolTable(p, true)}\n\n${pairLines(p, true)}`);
    const secs = Object.entries(p.timings)
      .map(([k, v]) => `${k} ${v.toFixed(1)} s`)
      .join(', ');
    parts.push(`Timings: ${secs}.`);
  }
  parts.push(`Whole run: ${report.seconds.toFixed(0)} s. "~0": the 95% interval of the paired difference includes 0.`);
  return parts.join('\n\n');
}

const begin = (dataset: string) => `<!-- results:${dataset}:begin (generated by npm run eval -- --write) -->`;
const end = (dataset: string) => `<!-- results:${dataset}:end -->`;

/**
 * Replaces this dataset's rows in docs/evaluation.json and its generated
 * section in docs/EVALUATION.md (appended when missing); other datasets'
 * figures and the hand-written text stay.
 */
export function writeReport(report: EvalReport, docs = DOCS): void {
  const jsonFile = join(docs, 'evaluation.json');
  const old = existsSync(jsonFile) ? (JSON.parse(readFileSync(jsonFile, 'utf8')) as { dataset: string }[]) : [];
  const rows = [...old.filter((r) => r.dataset !== report.dataset), ...jsonRows(report)];
  writeFileSync(jsonFile, `${JSON.stringify(rows, null, 2)}\n`);

  const mdFile = join(docs, 'EVALUATION.md');
  let text = existsSync(mdFile) ? readFileSync(mdFile, 'utf8') : '# Evaluation\n';
  const section = `${begin(report.dataset)}\n\n${markdownSection(report)}\n\n${end(report.dataset)}`;
  const a = text.indexOf(begin(report.dataset));
  const b = text.indexOf(end(report.dataset));
  if (a >= 0 && b > a) text = text.slice(0, a) + section + text.slice(b + end(report.dataset).length);
  else text = `${text.trimEnd()}\n\n${section}\n`;
  writeFileSync(mdFile, text);
}
