package vectors.anchors;

/** Written by the one stream thread, read by the main thread. */
final class Progress {
  static volatile long firstNanos;
  static volatile long lastNanos;
  static volatile long processed;

  static void record() {
    long now = System.nanoTime();
    if (firstNanos == 0) firstNanos = now;
    lastNanos = now;
    processed = processed + 1; // one writer
  }

  private Progress() {}
}
