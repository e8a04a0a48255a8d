import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MetricNames } from './names';
import { RecordHistogram } from './record-histogram';

/** The runtime's Prometheus metrics, registered on one registry per process (or per test). */
export class RuntimeMetrics {
  readonly recordsIn: Counter<'topology' | 'component'>;
  readonly recordsOut: Counter<'topology' | 'sink'>;
  /** Observed for every input record: a histogram without prom-client's per-call label hashing (record-histogram.ts). */
  readonly processLatency: RecordHistogram<'topology'>;
  readonly consumerLag: Gauge<'topology' | 'topic' | 'partition'>;
  readonly dlqRecords: Counter<'topology' | 'reason'>;
  readonly storeEntries: Gauge<'topology' | 'store'>;
  readonly storeCacheHits: Counter<'topology' | 'store'>;
  readonly storeCacheMisses: Counter<'topology' | 'store'>;
  readonly restoreRecords: Counter<'topology' | 'store'>;
  readonly restoreRemaining: Gauge<'topology' | 'store' | 'partition'>;
  readonly restoringTasks: Gauge<'topology'>;
  readonly standbyTasks: Gauge<'topology'>;
  readonly standbyRecords: Counter<'topology' | 'store'>;
  readonly standbyLag: Gauge<'topology' | 'store' | 'partition'>;
  readonly commitLatency: Histogram<'topology' | 'guarantee'>;
  readonly commits: Counter<'topology' | 'guarantee'>;
  readonly tasks: Gauge<'topology'>;
  readonly rebalances: Counter<'topology'>;
  readonly commitsRefused: Counter<'topology' | 'reason'>;
  readonly retries: Counter<'topology' | 'reason'>;
  readonly kafkaOutages: Counter<'topology'>;
  readonly kafkaConnected: Gauge<'topology'>;
  readonly dlqTruncated: Counter<'topology'>;
  readonly misroutedRecords: Counter<'topology' | 'topic' | 'action'>;

  /** Where the store-size gauge gets its values when scraped; set by the runner. */
  storeSizes?: () => Promise<{ topology: string; store: string; entries: number }[]>;

  constructor(readonly registry: Registry = new Registry()) {
    const r = [registry];
    this.recordsIn = new Counter({ name: MetricNames.recordsIn, help: 'Records a component received.', labelNames: ['topology', 'component'], registers: r });
    this.recordsOut = new Counter({ name: MetricNames.recordsOut, help: 'Records written to a sink topic.', labelNames: ['topology', 'sink'], registers: r });
    this.processLatency = new RecordHistogram(
      MetricNames.processLatency,
      'Time to process one input record through its task, seconds.',
      ['topology'],
      [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      r,
    );
    this.consumerLag = new Gauge({
      name: MetricNames.consumerLag,
      help: 'Records behind the high watermark, per input partition.',
      labelNames: ['topology', 'topic', 'partition'],
      registers: r,
    });
    this.dlqRecords = new Counter({
      name: MetricNames.dlqRecords,
      help: 'Records sent to the dead-letter topic, by error code.',
      labelNames: ['topology', 'reason'],
      registers: r,
    });
    const metrics = this;
    this.storeEntries = new Gauge({
      name: MetricNames.storeEntries,
      help: 'Entries in a store (sum over local tasks; estimated).',
      labelNames: ['topology', 'store'],
      registers: r,
      // Measured when scraped: sizes are cheap estimates, and always current.
      async collect() {
        const source = metrics.storeSizes;
        if (!source) return;
        const sizes = await source();
        this.reset();
        for (const { topology, store, entries } of sizes) this.set({ topology, store }, entries);
      },
    });
    this.storeCacheHits = new Counter({
      name: MetricNames.storeCacheHits,
      help: 'Store reads answered from the cache.',
      labelNames: ['topology', 'store'],
      registers: r,
    });
    this.storeCacheMisses = new Counter({
      name: MetricNames.storeCacheMisses,
      help: 'Store reads that went to the backend.',
      labelNames: ['topology', 'store'],
      registers: r,
    });
    this.restoreRecords = new Counter({
      name: MetricNames.restoreRecords,
      help: 'Changelog records applied while restoring.',
      labelNames: ['topology', 'store'],
      registers: r,
    });
    this.restoreRemaining = new Gauge({
      name: MetricNames.restoreRemaining,
      help: 'Changelog records left to restore.',
      labelNames: ['topology', 'store', 'partition'],
      registers: r,
    });
    this.restoringTasks = new Gauge({
      name: MetricNames.restoringTasks,
      help: 'Tasks assigned to this instance still restoring their stores in the background, their inputs paused.',
      labelNames: ['topology'],
      registers: r,
    });
    this.standbyTasks = new Gauge({
      name: MetricNames.standbyTasks,
      help: 'Standby replicas this instance keeps warm from the changelogs (tasks active on other instances).',
      labelNames: ['topology'],
      registers: r,
    });
    this.standbyRecords = new Counter({
      name: MetricNames.standbyRecords,
      help: 'Changelog records applied to standby replicas.',
      labelNames: ['topology', 'store'],
      registers: r,
    });
    this.standbyLag = new Gauge({
      name: MetricNames.standbyLag,
      help: 'Committed changelog records a standby replica has not applied yet, as of its last read (0: caught up; a takeover would restore only these).',
      labelNames: ['topology', 'store', 'partition'],
      registers: r,
    });
    this.commitLatency = new Histogram({
      name: MetricNames.commitLatency,
      help: 'Time to commit outputs, state and offsets, seconds.',
      labelNames: ['topology', 'guarantee'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    });
    this.commits = new Counter({ name: MetricNames.commits, help: 'Commits completed.', labelNames: ['topology', 'guarantee'], registers: r });
    this.tasks = new Gauge({ name: MetricNames.tasks, help: 'Tasks this instance runs.', labelNames: ['topology'], registers: r });
    this.rebalances = new Counter({ name: MetricNames.rebalances, help: 'Assignments received from the group.', labelNames: ['topology'], registers: r });
    this.commitsRefused = new Counter({
      name: MetricNames.commitsRefused,
      help: 'Offset commits the group refused (reason rebalance: the records since the last commit are processed again).',
      labelNames: ['topology', 'reason'],
      registers: r,
    });
    this.retries = new Counter({
      name: MetricNames.retries,
      help: 'Input records held back by a retriable failure (registry or broker unavailable) and retried after a backoff, by error code.',
      labelNames: ['topology', 'reason'],
      registers: r,
    });
    this.kafkaOutages = new Counter({
      name: MetricNames.kafkaOutages,
      help: 'Times the cluster became unavailable to this instance: its tasks were closed without committing and it reconnected.',
      labelNames: ['topology'],
      registers: r,
    });
    this.kafkaConnected = new Gauge({
      name: MetricNames.kafkaConnected,
      help: '1 while this instance is connected and running its tasks, 0 while it waits for the cluster to come back.',
      labelNames: ['topology'],
      registers: r,
    });
    this.dlqTruncated = new Counter({
      name: MetricNames.dlqTruncated,
      help: 'Dead-letter records whose payload was cut to fit the topic (the original stays at the source offset in their headers).',
      labelNames: ['topology'],
      registers: r,
    });
    this.misroutedRecords = new Counter({
      name: MetricNames.misroutedRecords,
      help: 'Keyed input records found on another partition than murmur2(key) (a producer with another partitioner), by what was done with them; skip-other-application-copy: copies another application rerouted, left to it.',
      labelNames: ['topology', 'topic', 'action'],
      registers: r,
    });
  }
}
