/**
 * What the status page shows (`GET /v1/status`): the snapshot timeline, the
 * readiness reports of the active and staged snapshots per partition, and
 * per-topology throughput, lag and dead letters sampled from Prometheus
 * metrics — this process's registry and, optionally, other processes'
 * `/metrics` (the doorman, candidates).
 */
import type { Registry } from 'prom-client';
import type { ControlChange } from '../app/snapshots';
import { MetricNames } from '../runtime/metrics/names';
import type { DoormanView } from '../vectors/doorman/doorman-state';

/** One sample of a metric: its labels and value (histogram counts as `<name>_count`). */
export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** One point of a topology's series. */
export interface TopologyPoint {
  /** Sample time, ms since the epoch. */
  at: number;
  /** Input records processed per second since the previous sample. */
  eventsPerSecond: number;
  /** Records behind the high watermark, summed over the topology's input partitions. */
  lag: number;
}

export interface TopologyStatus {
  topology: string;
  /** Where its metrics came from: `local` (this process) or a peer's /metrics URL. */
  source: string;
  eventsPerSecond: number;
  /** Input records processed since that process started. */
  processed: number;
  lag: number;
  dlq: { total: number; byReason: Record<string, number> };
  /** Oldest first, at most {@link StatusSampler.keep} points. */
  series: TopologyPoint[];
  /** Set when the last scrape of a peer failed. */
  error?: string;
}

const PROCESSED = `${MetricNames.processLatency}_count`;

/**
 * Parses the Prometheus text exposition format, keeping only the metrics
 * named in `names` (the status page needs three).
 */
export function parsePrometheusText(text: string, names: ReadonlySet<string>): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || !names.has(m[1]!)) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = Number(m[4]);
    if (Number.isFinite(value)) out.push({ name: m[1]!, labels, value });
  }
  return out;
}

const WANTED = new Set([PROCESSED, MetricNames.consumerLag, MetricNames.dlqRecords]);

async function localSamples(registry: Registry): Promise<MetricSample[]> {
  const out: MetricSample[] = [];
  for (const name of [MetricNames.processLatency, MetricNames.consumerLag, MetricNames.dlqRecords]) {
    const metric = registry.getSingleMetric(name);
    if (!metric) continue;
    const got = await metric.get();
    for (const v of got.values) {
      const sampleName = (v as { metricName?: string }).metricName ?? name;
      if (WANTED.has(sampleName)) out.push({ name: sampleName, labels: v.labels as Record<string, string>, value: v.value });
    }
  }
  return out;
}

interface Totals {
  processed: number;
  lag: number;
  dlq: Record<string, number>;
}

function totalsByTopology(samples: MetricSample[]): Map<string, Totals> {
  const out = new Map<string, Totals>();
  for (const s of samples) {
    const topology = s.labels.topology;
    if (!topology) continue;
    let t = out.get(topology);
    if (!t) out.set(topology, (t = { processed: 0, lag: 0, dlq: {} }));
    if (s.name === PROCESSED) t.processed += s.value;
    else if (s.name === MetricNames.consumerLag) t.lag += s.value;
    else if (s.name === MetricNames.dlqRecords) t.dlq[s.labels.reason ?? 'unknown'] = (t.dlq[s.labels.reason ?? 'unknown'] ?? 0) + s.value;
  }
  return out;
}

/**
 * Samples throughput, lag and dead letters per topology at a fixed interval
 * and keeps the last {@link keep} points, so that a page opened late still
 * draws the last minutes. Rates come from counter deltas between samples.
 */
export class StatusSampler {
  private readonly topologies = new Map<string, TopologyStatus & { marks: { at: number; processed: number }[] }>();
  private timer?: NodeJS.Timeout;
  private sampling?: Promise<void>;
  /** Headers sent with every scrape of a peer (its bearer token, when the peers need one). */
  peerHeaders: Record<string, string> = {};

  constructor(
    private readonly registry: Registry,
    private readonly peers: readonly string[] = [],
    /** Points kept per topology (default 150: five minutes at 2 s). */
    readonly keep = 150,
    /**
     * Rates are averaged over this window, ms (default 6000): a process adds
     * to its counters once per batch, so the delta between two samples a
     * second apart jumps between zero and twice the rate.
     */
    private readonly rateWindowMs = 6000,
    private readonly timeoutMs = 1500,
  ) {}

  /** Samples now and every `everyMs` until {@link stop}. */
  start(everyMs: number): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Takes one sample (one at a time: a call during a sample waits for it). */
  sample(): Promise<void> {
    this.sampling ??= this.takeSample().finally(() => (this.sampling = undefined));
    return this.sampling;
  }

  /** The topologies seen so far, by name. */
  get current(): TopologyStatus[] {
    return [...this.topologies.values()].map(({ marks: _m, ...t }) => ({ ...t, series: [...t.series] })).sort((a, b) => a.topology.localeCompare(b.topology));
  }

  private async takeSample(): Promise<void> {
    const sources: { source: string; samples: Promise<MetricSample[]> }[] = [
      { source: 'local', samples: localSamples(this.registry) },
      ...this.peers.map((url) => ({
        source: url,
        samples: fetch(url, { headers: this.peerHeaders, signal: AbortSignal.timeout(this.timeoutMs) }).then(async (r) => {
          if (!r.ok) throw new Error(`HTTP ${r.status}`);
          return parsePrometheusText(await r.text(), WANTED);
        }),
      })),
    ];
    const at = Date.now();
    // Settled together: a peer's fetch that fails while an earlier source is still awaited must
    // already have its handler, or Node ends the process on an unhandled rejection.
    const settled = await Promise.allSettled(sources.map((s) => s.samples));
    sources.forEach(({ source }, i) => {
      const result = settled[i]!;
      let totals: Map<string, Totals>;
      try {
        if (result.status === 'rejected') throw result.reason;
        totals = totalsByTopology(result.value);
      } catch (err) {
        for (const t of this.topologies.values()) if (t.source === source) t.error = `metrics of ${source} unavailable: ${(err as Error).message}`;
        return;
      }
      for (const [topology, now] of totals) this.record(topology, source, now, at);
    });
  }

  private record(topology: string, source: string, now: Totals, at: number): void {
    const t = this.topologies.get(topology);
    const dlq = { total: Object.values(now.dlq).reduce((a, b) => a + b, 0), byReason: now.dlq };
    if (!t) {
      this.topologies.set(topology, {
        topology,
        source,
        eventsPerSecond: 0,
        processed: now.processed,
        lag: now.lag,
        dlq,
        series: [{ at, eventsPerSecond: 0, lag: now.lag }],
        marks: [{ at, processed: now.processed }],
      });
      return;
    }
    // A counter that went down is a restarted process: rates start again from its new count.
    if (now.processed < t.marks.at(-1)!.processed) t.marks.length = 0;
    t.marks.push({ at, processed: now.processed });
    while (t.marks.length > 2 && t.marks[1]!.at <= at - this.rateWindowMs) t.marks.shift();
    const from = t.marks[0]!;
    const rate = at > from.at ? ((now.processed - from.processed) * 1000) / (at - from.at) : 0;
    t.source = source;
    delete t.error;
    t.eventsPerSecond = Math.round(rate * 10) / 10;
    t.processed = now.processed;
    t.lag = now.lag;
    t.dlq = dlq;
    t.series.push({ at, eventsPerSecond: t.eventsPerSecond, lag: now.lag });
    if (t.series.length > this.keep) t.series.splice(0, t.series.length - this.keep);
  }
}

/** A snapshot on the timeline: its phases in order, each with when it began. */
export interface TimelineSnapshot {
  id: string;
  phase: string;
  reason: string | null;
  model: string | null;
  dims: number | null;
  count: number | null;
  loadedHere: boolean;
  /** Phase changes, oldest first; the last is the current phase. */
  history: { phase: string; at: number }[];
}

/**
 * The timeline of every snapshot the log knows: the phase changes read from
 * the log (compaction keeps only the latest record per key, so older changes
 * of a long-running system may be missing; the staging time and the current
 * phase are always there).
 */
export function timeline(view: DoormanView, changes: readonly ControlChange[], loaded: (id: string) => boolean): TimelineSnapshot[] {
  const byId = new Map<string, { phase: string; at: number }[]>();
  for (const c of changes) {
    const h = byId.get(c.snapshotId) ?? byId.set(c.snapshotId, []).get(c.snapshotId)!;
    if (h.at(-1)?.phase !== c.phase) h.push({ phase: c.phase, at: c.at });
  }
  return [...view.snapshots.values()]
    .map((s) => {
      // Snapshot ids are never reused, so every change read under this id is this snapshot's. (The view's
      // stagedAt, rebuilt from the latest record per key, is the time of the latest phase record.)
      const history = [...(byId.get(s.id) ?? [])];
      if (history[0]?.phase !== 'STAGED') history.unshift({ phase: 'STAGED', at: Math.min(s.stagedAt, history[0]?.at ?? s.stagedAt) });
      // The view decides the current phase (the active pointer overrides phase records).
      // When compaction took the record of the change, its time is unknown: drawn from the last known one.
      if (history.at(-1)!.phase !== s.phase) history.push({ phase: s.phase, at: history.at(-1)!.at });
      return {
        id: s.id,
        phase: s.phase,
        reason: s.reason,
        model: s.manifest?.model ?? null,
        dims: s.manifest?.dims ?? null,
        count: s.manifest?.count ?? null,
        loadedHere: loaded(s.id),
        history,
      };
    })
    .sort((a, b) => a.history[0]!.at - b.history[0]!.at || a.id.localeCompare(b.id));
}

/** Readiness of one snapshot: every member topology's partitions with their latest report. */
export interface SnapshotReadiness {
  snapshotId: string;
  phase: string;
  /** True when every partition of every member reported READY (what the doorman waits for). */
  ready: boolean;
  topologies: { topology: string; partitions: { partition: number; report: 'READY' | 'LOADING' | 'FAILED' | 'MISSING'; reason: string | null }[] }[];
}

/** Readiness reports of the active snapshot and of every staged one. */
export function readinessReports(view: DoormanView): SnapshotReadiness[] {
  const ids = [...view.snapshots.values()].filter((s) => s.id === view.active || s.phase === 'STAGED').map((s) => s.id);
  return ids.map((id) => {
    const reports = view.reports.get(id) ?? new Map();
    const topologies = [...view.members]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([topology, n]) => ({
        topology,
        partitions: Array.from({ length: n }, (_, partition) => {
          const r = reports.get(`${topology}/${partition}`);
          return { partition, report: r?.report ?? ('MISSING' as const), reason: r?.reason ?? null };
        }),
      }));
    const ready = topologies.length > 0 && topologies.every((t) => t.partitions.every((p) => p.report === 'READY'));
    return { snapshotId: id, phase: view.snapshots.get(id)!.phase, ready, topologies };
  });
}
