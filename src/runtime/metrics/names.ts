/**
 * Every metric the runtime exports, in one place. Labels are bounded: topology,
 * component and store names come from the topology definition, partitions from
 * the topic layout; never a record key.
 */
export const MetricNames = {
  recordsIn: 'vectors_runtime_records_in_total',
  recordsOut: 'vectors_runtime_records_out_total',
  processLatency: 'vectors_runtime_process_latency_seconds',
  consumerLag: 'vectors_runtime_consumer_lag',
  dlqRecords: 'vectors_runtime_dlq_records_total',
  storeEntries: 'vectors_runtime_store_entries',
  storeCacheHits: 'vectors_runtime_store_cache_hits_total',
  storeCacheMisses: 'vectors_runtime_store_cache_misses_total',
  restoreRecords: 'vectors_runtime_restore_records_total',
  restoreRemaining: 'vectors_runtime_restore_remaining_records',
  restoringTasks: 'vectors_runtime_restoring_tasks',
  standbyTasks: 'vectors_runtime_standby_tasks',
  standbyRecords: 'vectors_runtime_standby_records_total',
  standbyLag: 'vectors_runtime_standby_lag_records',
  commitLatency: 'vectors_runtime_commit_latency_seconds',
  commits: 'vectors_runtime_commits_total',
  tasks: 'vectors_runtime_tasks',
  rebalances: 'vectors_runtime_rebalances_total',
  commitsRefused: 'vectors_runtime_commits_refused_total',
  retries: 'vectors_runtime_retries_total',
  kafkaOutages: 'vectors_runtime_kafka_outages_total',
  kafkaConnected: 'vectors_runtime_kafka_connected',
  dlqTruncated: 'vectors_runtime_dlq_truncated_total',
  misroutedRecords: 'vectors_runtime_misrouted_records_total',
} as const;

/**
 * Node's process metrics that the docs cite (`registerProcessMetrics` in ./process-metrics.ts:
 * prom-client's default metrics, under their standard names rather than the
 * runtime's prefix, so that Node.js dashboards read them as they are).
 */
export const ProcessMetricNames = {
  /** Histogram of pauses, label `kind`: minor (scavenge), major (mark-compact), incremental (marking steps), weakcb. */
  gcDuration: 'nodejs_gc_duration_seconds',
  eventLoopLagP99: 'nodejs_eventloop_lag_p99_seconds',
  heapUsed: 'nodejs_heap_size_used_bytes',
  residentMemory: 'process_resident_memory_bytes',
  cpu: 'process_cpu_seconds_total',
} as const;
