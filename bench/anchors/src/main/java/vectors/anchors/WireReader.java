package vectors.anchors;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

/**
 * Avro in the Confluent wire format (magic byte 0, 4-byte big-endian schema id,
 * Avro binary), decoded with org.apache.avro's GenericDatumReader: the writer
 * schema is fetched by id once and resolved against the reader schema, as our
 * AvroSerde does. One per processor (not thread-safe: it reuses its decoder and record).
 */
final class WireReader {
  private final Registry registry;
  private final Schema reader;
  private final Map<Integer, GenericDatumReader<GenericRecord>> readers = new HashMap<>();
  private BinaryDecoder decoder;
  private GenericRecord reuse;

  WireReader(Registry registry, Schema reader) {
    this.registry = registry;
    this.reader = reader;
  }

  GenericRecord read(byte[] bytes) {
    if (bytes == null || bytes.length < 5 || bytes[0] != 0) throw new IllegalArgumentException("not a Confluent wire-format Avro value");
    int id = ((bytes[1] & 0xff) << 24) | ((bytes[2] & 0xff) << 16) | ((bytes[3] & 0xff) << 8) | (bytes[4] & 0xff);
    GenericDatumReader<GenericRecord> r = readers.computeIfAbsent(id, i -> new GenericDatumReader<>(registry.schemaById(i), reader));
    decoder = DecoderFactory.get().binaryDecoder(bytes, 5, bytes.length - 5, decoder);
    try {
      reuse = r.read(reuse, decoder);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return reuse;
  }
}
