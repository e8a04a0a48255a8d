package vectors.anchors;

/** Command line: `<counting|user-vectors> --name value ...`; see Main's usage. */
final class Args {
  String job;
  String bootstrap = "127.0.0.1:9092";
  String registry = "http://127.0.0.1:8081/apis/ccompat/v7";
  String input;
  String output;
  String appId;
  String stateDir;
  String guarantee = "at-least-once";
  long expected;
  long commitIntervalMs = 1000;
  long timeoutS = 900;
  String schemas = "schemas";
  String snapshot;
  String snapshotId;
  double tauMs;
  /** Measure a restart instead of a run: stop as soon as every task is restored and processing (state RUNNING). */
  boolean untilRunning;
  /** `--config key=value`, repeatable: any Kafka Streams (or prefixed client) setting, applied last. */
  final java.util.Map<String, String> config = new java.util.LinkedHashMap<>();

  static Args parse(String[] argv) {
    Args a = new Args();
    if (argv.length == 0) throw new IllegalArgumentException("name a job: counting or user-vectors");
    a.job = argv[0];
    for (int i = 1; i < argv.length; i += 2) {
      if (i + 1 >= argv.length) throw new IllegalArgumentException("option " + argv[i] + " has no value");
      String v = argv[i + 1];
      switch (argv[i]) {
        case "--bootstrap" -> a.bootstrap = v;
        case "--registry" -> a.registry = v;
        case "--input" -> a.input = v;
        case "--output" -> a.output = v;
        case "--app-id" -> a.appId = v;
        case "--state-dir" -> a.stateDir = v;
        case "--guarantee" -> a.guarantee = v;
        case "--expected" -> a.expected = Long.parseLong(v);
        case "--commit-interval-ms" -> a.commitIntervalMs = Long.parseLong(v);
        case "--timeout-s" -> a.timeoutS = Long.parseLong(v);
        case "--schemas" -> a.schemas = v;
        case "--snapshot" -> a.snapshot = v;
        case "--snapshot-id" -> a.snapshotId = v;
        case "--tau-ms" -> a.tauMs = Double.parseDouble(v);
        case "--until-running" -> a.untilRunning = Boolean.parseBoolean(v);
        case "--config" -> {
          int eq = v.indexOf('=');
          if (eq <= 0) throw new IllegalArgumentException("--config takes key=value, got '" + v + "'");
          a.config.put(v.substring(0, eq), v.substring(eq + 1));
        }
        default -> throw new IllegalArgumentException("unknown option " + argv[i]);
      }
    }
    if (!a.job.equals("counting") && !a.job.equals("user-vectors")) throw new IllegalArgumentException("job must be counting or user-vectors, got '" + a.job + "'");
    if (!a.guarantee.equals("at-least-once") && !a.guarantee.equals("exactly-once")) throw new IllegalArgumentException("--guarantee must be at-least-once or exactly-once, got '" + a.guarantee + "'");
    for (String[] req : new String[][] {{"--input", a.input}, {"--output", a.output}, {"--app-id", a.appId}, {"--state-dir", a.stateDir}}) {
      if (req[1] == null) throw new IllegalArgumentException(req[0] + " is required");
    }
    if (a.expected <= 0 && !a.untilRunning) throw new IllegalArgumentException("--expected must be the number of input events (> 0): the job stops when it has processed them");
    if (a.job.equals("user-vectors") && (a.snapshot == null || a.snapshotId == null)) throw new IllegalArgumentException("user-vectors needs --snapshot <base of the binary snapshot file> and --snapshot-id");
    return a;
  }
}
