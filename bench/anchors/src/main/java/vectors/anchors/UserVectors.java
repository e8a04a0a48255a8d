package vectors.anchors;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryEncoder;
import org.apache.avro.io.EncoderFactory;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The peer of the user-vector update (topologies/user-vectors.ts with the
 * default decayed model, src/vectors/models/decayed.ts, and the listen weights
 * of src/vectors/signals.ts): per ListenEvent, the user's decayed sum
 * Σ wᵢ·exp(−(refTime−tᵢ)/τ)·vᵢ (doubles, as ours) is moved to the newest event
 * time and the event's entity vector added; the user vector is the normalised
 * sum, written as a UserVector (Confluent wire format). Per-user state in a
 * persistent (RocksDB) store with changelog and record cache: refTime, count,
 * eventCount, version, updatedAt and the sum, 40 + 8·d bytes.
 *
 * Not reproduced (ours does them on the same path): the bounded history,
 * de-duplication by eventId, recent/consumed sets, the event-time window
 * check, and the CandidateRequest ours writes for every update.
 */
final class UserVectors {
  /** The signal weights' defaults (src/vectors/signals.ts DEFAULT_SIGNAL_WEIGHTS). */
  static final double FULL_LISTEN = 1.0, FULL_LISTEN_COMPLETION = 0.8, PARTIAL_PLAY = 0.5, SKIP_COMPLETION = 0.1, SKIP = -0.5;
  /** src/vectors/models/decayed.ts FORGET_BELOW. */
  static final double FORGET_BELOW = 1e-200;
  /** src/vectors/models/decayed.ts DEFAULT_TAU_MS. */
  static final double DEFAULT_TAU_MS = 7 * 24 * 60 * 60 * 1000.0;

  static Topology topology(Args a, Registry registry) throws IOException {
    Schema listen = new Schema.Parser().parse(Path.of(a.schemas, "ListenEvent.avsc").toFile());
    Schema userVector = new Schema.Parser().parse(Path.of(a.schemas, "UserVector.avsc").toFile());
    int outId = registry.register(a.output + "-value", userVector);
    Snapshot snapshot = Snapshot.read(a.snapshot);
    double tau = a.tauMs > 0 ? a.tauMs : DEFAULT_TAU_MS;
    Topology t = new Topology();
    t.addSource("listens", new StringDeserializer(), new ByteArrayDeserializer(), a.input);
    t.addProcessor("user-state", () -> new UserProcessor(new WireReader(registry, listen), snapshot, a.snapshotId, tau, outId), "listens");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("users"), Serdes.String(), Serdes.ByteArray()).withCachingEnabled(), "user-state");
    t.addSink("user-vectors-out", a.output, new StringSerializer(), new ByteArraySerializer(), "user-state");
    return t;
  }

  /** The weight of a listen, from its completion (signals.ts listenWeight); NaN for a listen ours dead-letters. */
  static double listenWeight(long msPlayed, long durationMs) {
    if (durationMs <= 0 || msPlayed < 0) return Double.NaN;
    double completion = Math.min(1, (double) msPlayed / (double) durationMs);
    if (completion >= FULL_LISTEN_COMPLETION) return FULL_LISTEN;
    if (completion < SKIP_COMPLETION) return SKIP;
    return PARTIAL_PLAY * completion;
  }

  static final class UserProcessor implements Processor<String, byte[], String, byte[]> {
    private static final int HEADER = 40;
    private final WireReader reader;
    private final Snapshot snap;
    private final String snapshotId;
    private final double tau;
    private final int outId;
    private final int d;
    private final double[] sum;
    private final ByteArrayOutputStream out = new ByteArrayOutputStream(1024);
    private BinaryEncoder encoder;
    private ProcessorContext<String, byte[]> ctx;
    private KeyValueStore<String, byte[]> users;

    UserProcessor(WireReader reader, Snapshot snap, String snapshotId, double tau, int outId) {
      this.reader = reader;
      this.snap = snap;
      this.snapshotId = snapshotId;
      this.tau = tau;
      this.outId = outId;
      this.d = snap.dims;
      this.sum = new double[d];
    }

    @Override
    public void init(ProcessorContext<String, byte[]> context) {
      ctx = context;
      users = context.getStateStore("users");
    }

    @Override
    public void process(Record<String, byte[]> record) {
      GenericRecord e = reader.read(record.value());
      String userId = e.get("userId").toString();
      String entityId = e.get("entityId").toString();
      long timestamp = (Long) e.get("timestamp");
      double weight = listenWeight((Long) e.get("msPlayed"), (Long) e.get("durationMs"));
      if (Double.isNaN(weight)) return; // ours dead-letters it: the user is untouched

      long refTime = 0, count = 0, eventCount = 0, version = 0, updatedAt = 0;
      byte[] before = users.get(userId);
      if (before == null) {
        java.util.Arrays.fill(sum, 0);
      } else {
        ByteBuffer b = ByteBuffer.wrap(before);
        refTime = b.getLong();
        count = b.getLong();
        eventCount = b.getLong();
        version = b.getLong();
        updatedAt = b.getLong();
        b.asDoubleBuffer().get(sum);
      }

      Integer row = snap.rows.get(entityId);
      if (weight != 0 && row != null) {
        // DecayedModel.update
        if (count == 0) {
          refTime = timestamp;
        } else if (timestamp > refTime) {
          double factor = Math.exp(-(double) (timestamp - refTime) / tau);
          if (factor < FORGET_BELOW) java.util.Arrays.fill(sum, 0);
          else for (int i = 0; i < d; i++) sum[i] *= factor;
          refTime = timestamp;
        }
        double a = weight * Math.exp(-(double) (refTime - timestamp) / tau);
        int off = row * d;
        float[] v = snap.vectors;
        for (int i = 0; i < d; i++) sum[i] += a * v[off + i];
        count++;
      }
      eventCount++;
      version++;
      updatedAt = Math.max(updatedAt, timestamp);

      ByteBuffer after = ByteBuffer.allocate(HEADER + 8 * d);
      after.putLong(refTime).putLong(count).putLong(eventCount).putLong(version).putLong(updatedAt);
      after.asDoubleBuffer().put(sum);
      users.put(userId, after.array());

      ctx.forward(record.withKey(userId).withValue(userVector(userId, updatedAt, eventCount, version)));
      Progress.record();
    }

    /** UserVector in the wire format; the vector is normalize(sum) (math.ts). */
    private byte[] userVector(String userId, long updatedAt, long eventCount, long version) {
      double ss = 0;
      for (int i = 0; i < d; i++) ss += sum[i] * sum[i];
      double n = Math.sqrt(ss);
      out.reset();
      out.write(0);
      out.write(outId >>> 24);
      out.write(outId >>> 16);
      out.write(outId >>> 8);
      out.write(outId);
      encoder = EncoderFactory.get().binaryEncoder(out, encoder);
      try {
        // Field order of schemas/UserVector.avsc.
        encoder.writeString(userId);
        encoder.writeString(snapshotId);
        encoder.writeArrayStart();
        encoder.setItemCount(d);
        for (int i = 0; i < d; i++) {
          encoder.startItem();
          encoder.writeFloat(n == 0 ? 0f : (float) (sum[i] / n));
        }
        encoder.writeArrayEnd();
        encoder.writeLong(updatedAt);
        encoder.writeLong(eventCount);
        encoder.writeLong(version);
        encoder.flush();
      } catch (IOException ex) {
        throw new UncheckedIOException(ex);
      }
      return out.toByteArray();
    }
  }

  private UserVectors() {}
}
