package vectors.anchors;

import java.io.IOException;
import java.io.InputStream;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.LongSerializer;
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
 * The peer of topologies/event-counter.ts: decode the CountedEvent, add one to
 * its key's count in a persistent (RocksDB) store with a changelog and the
 * record cache (as ours has its write-behind cache), emit the new count
 * (String key, 8-byte big-endian long, as our Int64Serde).
 */
final class Counting {
  static Topology topology(Args a, Registry registry) {
    Schema schema = schema();
    Topology t = new Topology();
    t.addSource("events", new StringDeserializer(), new ByteArrayDeserializer(), a.input);
    t.addProcessor("count", () -> new CountProcessor(new WireReader(registry, schema)), "events");
    t.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("counts"), Serdes.String(), Serdes.Long()).withCachingEnabled(), "count");
    t.addSink("counts-out", a.output, new StringSerializer(), new LongSerializer(), "count");
    return t;
  }

  private static Schema schema() {
    try (InputStream in = Counting.class.getResourceAsStream("/CountedEvent.avsc")) {
      return new Schema.Parser().parse(in);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  static final class CountProcessor implements Processor<String, byte[], String, Long> {
    private final WireReader reader;
    private ProcessorContext<String, Long> ctx;
    private KeyValueStore<String, Long> counts;

    CountProcessor(WireReader reader) {
      this.reader = reader;
    }

    @Override
    public void init(ProcessorContext<String, Long> context) {
      ctx = context;
      counts = context.getStateStore("counts");
    }

    @Override
    public void process(Record<String, byte[]> record) {
      GenericRecord event = reader.read(record.value());
      String key = event.get("key").toString();
      if (!key.equals(record.key())) throw new IllegalArgumentException("event " + event.get("id") + " has key '" + key + "' but was published under '" + record.key() + "'");
      Long before = counts.get(key);
      long next = before == null ? 1 : before + 1;
      counts.put(key, next);
      ctx.forward(record.withKey(key).withValue(next));
      Progress.record();
    }
  }

  private Counting() {}
}
