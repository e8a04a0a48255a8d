package vectors.anchors;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;

/**
 * The Kafka Streams peer of `npm run bench`. Runs one job over a pre-loaded
 * input topic with one stream thread and stops by itself once it has
 * processed `--expected` events and the group has committed every input
 * offset; then prints one line of JSON:
 * {"job", "guarantee", "events", "elapsedMs", "processedMs", "eventsPerSec", "peakRssMiB"}.
 * elapsedMs runs from the first record processed until every input offset is
 * committed (state and outputs durable), as bench/common.ts `drain` measures ours.
 * With `--until-running true` it measures a restart instead: from start() until
 * the instance is RUNNING (every task restored from its state directory or
 * changelog and processing), printed as {"job", "restartMs", "peakRssMiB"}.
 *
 * Usage: java -jar anchors.jar counting|user-vectors --input T --output T --app-id ID --state-dir DIR --expected N
 *   [--bootstrap H:P] [--registry URL] [--guarantee at-least-once|exactly-once] [--commit-interval-ms 1000] [--timeout-s 900]
 *   [--config key=value ...] (any Kafka Streams setting, e.g. producer.linger.ms=5) [--until-running true]
 *   user-vectors: --snapshot BASE --snapshot-id ID [--schemas DIR] [--tau-ms MS]
 */
public final class Main {
  public static void main(String[] argv) throws Exception {
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", System.getProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn"));
    Args a;
    try {
      a = Args.parse(argv);
    } catch (IllegalArgumentException e) {
      System.err.println("anchors: " + e.getMessage());
      System.exit(64);
      return;
    }
    Registry registry = new Registry(a.registry);
    Topology topology = a.job.equals("counting") ? Counting.topology(a, registry) : UserVectors.topology(a, registry);

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, a.appId);
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, 1);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, a.guarantee.equals("exactly-once") ? StreamsConfig.EXACTLY_ONCE_V2 : StreamsConfig.AT_LEAST_ONCE);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, a.commitIntervalMs);
    p.put(StreamsConfig.STATE_DIR_CONFIG, a.stateDir);
    p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");
    p.putAll(a.config);

    try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, a.bootstrap))) {
      List<TopicPartition> parts = admin.describeTopics(List.of(a.input)).allTopicNames().get().get(a.input).partitions().stream()
          .map(i -> new TopicPartition(a.input, i.partition())).collect(Collectors.toList());
      Map<TopicPartition, Long> low = offsets(admin, parts, OffsetSpec.earliest());
      Map<TopicPartition, Long> high = offsets(admin, parts, OffsetSpec.latest());

      KafkaStreams streams = new KafkaStreams(topology, p);
      streams.setUncaughtExceptionHandler(e -> {
        System.err.println("anchors: stream thread failed: " + e);
        e.printStackTrace();
        System.out.println("{\"error\":" + json(String.valueOf(e)) + "}");
        System.out.flush();
        Runtime.getRuntime().halt(1);
        return null;
      });
      long started = System.nanoTime();
      streams.start();
      long deadline = System.nanoTime() + a.timeoutS * 1_000_000_000L;
      if (a.untilRunning) {
        // RUNNING comes once every stream thread has restored its active tasks and processes.
        while (streams.state() != KafkaStreams.State.RUNNING) {
          if (System.nanoTime() > deadline) fail(a, "not RUNNING within " + a.timeoutS + " s (state " + streams.state() + ")");
          Thread.sleep(5);
        }
        String line = String.format(java.util.Locale.ROOT, "{\"job\":%s,\"restartMs\":%.1f,\"peakRssMiB\":%.1f}", json(a.job), (System.nanoTime() - started) / 1e6, peakRssMiB());
        close(streams);
        System.out.println(line);
        System.out.flush();
        System.exit(0);
      }
      while (Progress.processed < a.expected) {
        if (System.nanoTime() > deadline) fail(a, "processed " + Progress.processed + " of " + a.expected + " events within " + a.timeoutS + " s");
        Thread.sleep(5);
      }
      long lastProcessed = Progress.lastNanos;
      // Done when the group has committed every record the input held (as bench/common.ts drain).
      for (;;) {
        Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(a.appId).partitionsToOffsetAndMetadata().get();
        boolean all = parts.stream().allMatch(tp -> low.get(tp).equals(high.get(tp)) || (committed.get(tp) != null && committed.get(tp).offset() >= high.get(tp)));
        if (all) break;
        if (System.nanoTime() > deadline) fail(a, "the group did not commit every input offset within " + a.timeoutS + " s");
        Thread.sleep(20);
      }
      long done = System.nanoTime();
      double elapsedMs = (done - Progress.firstNanos) / 1e6;
      long events = Progress.processed;
      String line = String.format(java.util.Locale.ROOT,
          "{\"job\":%s,\"guarantee\":%s,\"events\":%d,\"elapsedMs\":%.1f,\"processedMs\":%.1f,\"eventsPerSec\":%.1f,\"peakRssMiB\":%.1f}",
          json(a.job), json(a.guarantee), events, elapsedMs, (lastProcessed - Progress.firstNanos) / 1e6, a.expected / (elapsedMs / 1000), peakRssMiB());
      close(streams);
      System.out.println(line);
      System.out.flush();
    }
    System.exit(0);
  }

  /**
   * Closes and leaves the group, as our runner does on stop: by default a
   * Kafka Streams member stays in the group until its session times out, and
   * the restart measured next would wait for that rather than restore.
   */
  private static void close(KafkaStreams streams) {
    streams.close(CloseOptions.timeout(Duration.ofSeconds(30)).withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
  }

  private static Map<TopicPartition, Long> offsets(Admin admin, List<TopicPartition> parts, OffsetSpec spec) throws Exception {
    Map<TopicPartition, OffsetSpec> q = new HashMap<>();
    for (TopicPartition tp : parts) q.put(tp, spec);
    Map<TopicPartition, Long> out = new HashMap<>();
    admin.listOffsets(q).all().get().forEach((tp, info) -> out.put(tp, info.offset()));
    return out;
  }

  private static void fail(Args a, String message) {
    System.err.println("anchors: " + a.job + ": " + message);
    System.out.println("{\"error\":" + json(message) + "}");
    System.out.flush();
    Runtime.getRuntime().halt(2);
  }

  /** VmHWM of this JVM, MiB (0 when /proc is not there). */
  private static double peakRssMiB() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
        if (l.startsWith("VmHWM:")) return Long.parseLong(l.replaceAll("[^0-9]", "")) / 1024.0;
      }
    } catch (Exception ignored) {
      // not Linux
    }
    return 0;
  }

  private static String json(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n") + "\"";
  }

  private Main() {}
}
