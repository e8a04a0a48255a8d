/** The chaos run's report as plain-text tables (also valid Markdown, for docs/RELIABILITY.md). */
import type { ChaosReport } from './run';
import { describeFault } from './schedule';

function table(head: string[], rows: (string | number)[][]): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...cells.slice(1).map(line)].join(
    '\n',
  );
}

const s = (ms: number | undefined) => (ms === undefined ? 'not within timeout' : (ms / 1000).toFixed(1));
const n = (x: number) => x.toLocaleString('en-US');

export function formatReport(r: ChaosReport): string {
  const c = r.config;
  const out: string[] = [];
  out.push(
    `chaos run: seed ${c.seed}, ${c.durationMs / 1000} s of faults (${(r.wallMs / 1000).toFixed(0)} s wall), ${c.rate} events/s, ${c.users} users, ${c.partitions} partitions, ` +
      `user-vectors ×${c.userVectorsInstances} exactly-once${c.alosInstances ? `, ${'user-vectors-alos'} ×${c.alosInstances} at-least-once` : ''}, candidates ×${c.candidatesInstances} exactly-once, doorman ×1 exactly-once`,
  );
  out.push('');
  out.push('Faults (recovery: from the end of the fault until a fresh event on every partition is in the output)');
  out.push('');
  out.push(
    table(
      ['fault', 'outage s', 'user-vectors s', 'candidates s', ...(r.alos ? ['alos s'] : []), 'exited by itself', 'notes'],
      [
        ['baseline (no fault)', '-', s(r.baseline.userVectors), s(r.baseline.candidates), ...(r.alos ? [s(r.baseline.alos)] : []), '', ''],
        ...r.faults.map((f) => [
          describeFault(f.fault).replace(/^#\d+ /, `#${f.fault.index} `),
          (f.outageMs / 1000).toFixed(1),
          s(f.recoveryMs.userVectors),
          s(f.recoveryMs.candidates),
          ...(r.alos ? [s(f.recoveryMs.alos)] : []),
          f.selfExits.map((e) => `${e.instance}(${e.code ?? e.signal})`).join(' ') || '-',
          [...(f.instance ? [f.instance] : []), ...f.notes, ...(f.error ? [`ERROR ${f.error.split('\n')[0]}`] : [])].join('; ').slice(0, 160),
        ]),
      ],
    ),
  );
  out.push('');
  const uv = r.userVectors;
  const a = r.alos;
  const cand = r.candidates;
  const row = (what: string, eos: number | string, alos: number | string | undefined, expected: string): (string | number)[] => [
    what,
    eos,
    ...(a ? [alos ?? '-'] : []),
    expected,
  ];
  out.push(
    `Figures (events in: ${n(r.eventsIn)} good — ${n(r.eventsByTopic.listens ?? 0)} listens, ${n(r.eventsByTopic.feedback ?? 0)} feedback — of ${n(r.users)} users; ${n(r.misroutedIn)} of them produced to a non-murmur2 partition; ${r.poison.length} poison records)`,
  );
  out.push('');
  out.push(
    table(
      ['figure', 'user-vectors (exactly-once)', ...(a ? ['user-vectors-alos (at-least-once)'] : []), 'expected'],
      [
        row('output records', n(uv.records), a && n(a.records), ''),
        row('lost: versions 1..n never emitted', uv.lost, a?.lost, '0'),
        row('double-applied: version repeated / out of order', uv.repeated, a ? '(see re-emitted)' : undefined, '0 (exactly-once)'),
        row(
          '… of them in a transaction whose commit markers the broker dropped at its restart (Kafka, docs/RELIABILITY.md)',
          uv.repeatedKafkaDroppedMarkers ?? 0,
          a ? '-' : undefined,
          'any',
        ),
        row('re-emitted after a crash (same version again)', '-', a?.reEmitted, 'any (at-least-once)'),
        row('applied twice to the state (version or eventCount > n)', uv.overApplied, a?.overApplied, '0'),
        row('differ from the reference', uv.differs, a?.differs, '0'),
        row('outputs of poison keys', uv.unexpectedKeys, a?.unexpectedKeys, '0'),
        row('I3: partitions whose snapshot goes back', uv.orderPartitions.length, a?.orderPartitions.length, '0'),
        row('users whose snapshot goes back', uv.orderUsers, a?.orderUsers, '0'),
        row(`users with late events (${n(r.lateUsers)}) not ending in S2`, uv.notSwitched, a?.notSwitched, '0'),
        row('S2 records visible before S2 was active', r.earlyS2['user-vectors'] ?? 0, a && (r.earlyS2['user-vectors-alos'] ?? 0), '0'),
      ],
    ),
  );
  out.push('');
  out.push(
    table(
      ['candidates (exactly-once)', 'value', 'expected'],
      [
        ['lists', n(cand.lists), ''],
        ['lost: last request due a list that never came', cand.lost, '0'],
        ['repeated lists', cand.repeated, '0'],
        [
          '… of them in a transaction whose commit markers the broker dropped at its restart (Kafka, docs/RELIABILITY.md)',
          cand.repeatedKafkaDroppedMarkers ?? 0,
          'any',
        ],
        [`differ from the reference top ${c.k} (${n(cand.comparedWithReference)} against the reference's request)`, cand.differs, '0'],
        ['I3: partitions whose snapshot goes back', cand.orderPartitions.length, '0'],
        ['users whose snapshot goes back', cand.orderUsers, '0'],
        ['S2 lists visible before S2 was active', r.earlyS2['recommendation-candidates'] ?? 0, '0'],
        ['last request in S1 unanswered after the switch (I3, by design)', cand.supersededUnanswered, 'any'],
      ],
    ),
  );
  out.push('');
  const codes = [...new Set(Object.values(r.deadLetters).flatMap((d) => Object.keys(d.byCode)))].sort();
  out.push('Dead letters by reason');
  out.push('');
  out.push(
    table(
      ['DLQ', ...codes.map((x) => x.replace('VEC_ERR_', '')), 'good records', 'poison missing', 'duplicates', 'wrong code'],
      Object.entries(r.deadLetters).map(([app, d]) => [
        `${app}-dlq`,
        ...codes.map((x) => d.byCode[x] ?? 0),
        d.goodRecords,
        d.missing,
        d.duplicates,
        d.wrongCode,
      ]),
    ),
  );
  out.push('');
  const byKind = new Map<string, number>();
  for (const p of r.poison) byKind.set(p.kind, (byKind.get(p.kind) ?? 0) + 1);
  out.push(
    `Poison written: ${[...byKind].map(([k, v]) => `${v} ${k}`).join(', ') || 'none'} (expected in each event application's DLQ exactly once; at-least-once may repeat).`,
  );
  out.push(
    `Misrouted: ${n(r.misroutedIn)} records produced off their murmur2 partition; ${n(r.reroutedCopies)} rerouted copies on listens (one per application reading the topic).`,
  );
  out.push(
    `State changelog offsets written: ${Object.entries(r.changelogOffsets)
      .map(([app, x]) => `${app} ${n(x)}`)
      .join(', ')} (exactly-once commits every 100 ms, at-least-once every 1 s; markers count as offsets).`,
  );
  out.push(
    `Switch: S2 ${r.control.active === 's2' ? 'active' : `NOT active (active: ${r.control.active})`}${r.switchMs !== undefined ? `, ${(r.switchMs / 1000).toFixed(1)} s from staged to active` : ''}; I1 early activations ${r.control.earlyActivations}; failed ${r.control.failed.length}.`,
  );
  const exits = new Map<string, number>();
  for (const e of r.selfExits) exits.set(e.instance, (exits.get(e.instance) ?? 0) + 1);
  out.push(`Exits not caused by the schedule (restarted by the supervisor): ${[...exits].map(([k, v]) => `${k} ×${v}`).join(', ') || 'none'}.`);
  out.push(
    `Exit codes of the final graceful stop: ${Object.entries(r.stopCodes)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  );
  const examples = [
    ...uv.examples.map((e) => `user-vectors ${e.key} v${e.version} ${e.snapshotId}: ${e.what}`),
    ...(a?.examples ?? []).map((e) => `alos ${e.key} v${e.version} ${e.snapshotId}: ${e.what}`),
    ...cand.examples.map((e) => `candidates ${e.key} v${e.version} ${e.snapshotId}: ${e.what}`),
    ...Object.entries(r.deadLetters).flatMap(([app, d]) => d.examples.map((x) => `${app}-dlq: ${x}`)),
  ];
  if (examples.length) {
    out.push('');
    out.push('Examples:');
    for (const e of examples.slice(0, 30)) out.push(`  ${e}`);
  }
  out.push('');
  out.push(
    r.failures.length ? `FAILED (${r.failures.length}):\n${r.failures.map((f) => `  - ${f}`).join('\n')}` : 'PASSED: every zero-expected figure is zero.',
  );
  out.push(`Logs: ${r.runDir}`);
  return out.join('\n');
}
