package vectors.anchors;

/**
 * Written by the stream threads (one by default; `--config
 * num.stream.threads=N` runs more), read by the main thread. The lock keeps
 * the count exact with more than one writer; uncontended with one.
 */
final class Progress {
  static volatile long firstNanos;
  static volatile long lastNanos;
  static volatile long processed;

  static synchronized void record() {
    long now = System.nanoTime();
    if (firstNanos == 0) firstNanos = now;
    lastNanos = now;
    processed = processed + 1;
  }

  private Progress() {}
}
