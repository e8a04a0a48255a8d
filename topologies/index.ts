/** The topologies `vectors run <name>` knows, each built from string options (`--opt key=value`). */
import type { Topology } from '../src';
import { ConfigError } from '../src/errors';
import { EXCLUDE_POLICIES, type ExcludePolicy, parseExcludePolicy } from '../src/vectors/candidate-search';
import { eventTimeWindow, type EventTimeWindow } from '../src/vectors/event-time';
import type { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import { candidates } from './candidates';
import { doorman } from './doorman';
import { eventCounter } from './event-counter';
import { userVectors } from './user-vectors';

/** What a topology factory gets from the CLI. */
export interface TopologyContext {
  options: Record<string, string>;
  /** The process's snapshot catalog (loads snapshots from Kafka). */
  catalog(): SnapshotCatalog;
}

export type TopologyFactory = (ctx: TopologyContext) => Topology;

const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));

/** `--opt topic.listens=...` etc.: other topic names than docs/CONTRACTS.md's (several systems on one cluster, tests). */
function topicOptions(o: Record<string, string>) {
  const t: Record<string, string> = {};
  for (const k of ['listens', 'feedback', 'control', 'userVectors', 'candidates', 'candidateRequests']) if (o[`topic.${k}`]) t[k] = o[`topic.${k}`]!;
  return t;
}

/**
 * `--opt max-event-age-ms=... --opt max-event-future-ms=...`: the user-vectors
 * event-time window. Not `max-age-ms`, which candidates reads as the age of a
 * list: one set of options may be given to both.
 */
function eventTimeOptions(o: Record<string, string>): EventTimeWindow {
  const names = { maxAgeMs: '--opt max-event-age-ms', maxFutureMs: '--opt max-event-future-ms' };
  const w: Partial<EventTimeWindow> = {};
  for (const [field, name] of Object.entries(names) as [keyof EventTimeWindow, string][]) {
    const raw = o[name.slice('--opt '.length)];
    if (raw === undefined) continue;
    const ms = raw.trim() === '' ? Number.NaN : Number(raw);
    if (Number.isNaN(ms)) throw new ConfigError(`${name} must be a number of ms, got '${raw}'`);
    w[field] = ms;
  }
  return eventTimeWindow(w, names);
}

/** `--opt name=N`: a positive integer, or undefined when not given. */
function positiveInt(o: Record<string, string>, name: string): number | undefined {
  const raw = o[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--opt ${name} must be a positive integer, got '${raw}'`);
  return n;
}

/** `--opt exclude=consumed|recent|none`. */
function excludeOption(o: Record<string, string>): ExcludePolicy | undefined {
  if (o.exclude === undefined) return undefined;
  const p = parseExcludePolicy(o.exclude);
  if (!p) throw new ConfigError(`--opt exclude must be one of ${EXCLUDE_POLICIES.join(', ')}, got '${o.exclude}'`);
  return p;
}

export const topologies: Record<string, TopologyFactory> = {
  'event-counter': ({ options: o }) =>
    eventCounter({ ...(o.name ? { name: o.name } : {}), ...(o.input ? { input: o.input } : {}), ...(o.output ? { output: o.output } : {}) }),
  /** `--opt max-event-age-ms=31536000000 --opt max-event-future-ms=3600000` (the defaults; `Infinity`: no age bound) */
  'user-vectors': ({ options: o, catalog }) =>
    userVectors({
      catalog: catalog(),
      ...(o.name ? { name: o.name } : {}),
      eventTime: eventTimeOptions(o),
      ...(positiveInt(o, 'history-capacity') ? { historyCapacity: positiveInt(o, 'history-capacity')! } : {}),
      ...(positiveInt(o, 'consumed-capacity') ? { consumedCapacity: positiveInt(o, 'consumed-capacity')! } : {}),
      topics: topicOptions(o),
    }),
  /** `--opt k=100 --opt ef-search=100 --opt exclude=consumed --opt min-interval-ms=5000 --opt min-move=0.01 --opt max-age-ms=3600000` */
  candidates: ({ options: o, catalog }) =>
    candidates({
      catalog: catalog(),
      ...(o.name ? { name: o.name } : {}),
      ...(o.k ? { k: num(o.k)! } : {}),
      ...(o['ef-search'] ? { efSearch: num(o['ef-search'])! } : {}),
      ...(excludeOption(o) ? { exclude: excludeOption(o)! } : {}),
      refresh: {
        ...(o['min-interval-ms'] ? { minIntervalMs: num(o['min-interval-ms'])! } : {}),
        ...(o['min-move'] ? { minMove: num(o['min-move'])! } : {}),
        ...(o['max-age-ms'] ? { maxAgeMs: num(o['max-age-ms'])! } : {}),
      },
      topics: topicOptions(o),
    }),
  doorman: ({ options: o }) =>
    doorman({
      ...(o.name ? { name: o.name } : {}),
      ...(o['timeout-ms'] ? { timeoutMs: num(o['timeout-ms'])! } : {}),
      ...(o['topic.control'] ? { controlTopic: o['topic.control'] } : {}),
    }),
};
