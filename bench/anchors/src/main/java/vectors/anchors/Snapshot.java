package vectors.anchors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The entity vectors of one snapshot in one float[] (row-major), read at start
 * from the binary snapshot file the benchmark publishes
 * (src/vectors/snapshot/formats.ts: `<base>.json` header with dims and count,
 * `<base>.f32` little-endian float32 rows, `<base>.ids` "entityId\ttype" lines):
 * the very bytes our `publish` puts on the snapshot topic.
 */
final class Snapshot {
  final int dims;
  final int count;
  final float[] vectors;
  final Map<String, Integer> rows;

  private Snapshot(int dims, int count, float[] vectors, Map<String, Integer> rows) {
    this.dims = dims;
    this.count = count;
    this.vectors = vectors;
    this.rows = rows;
  }

  static Snapshot read(String base) throws IOException {
    String stem = base.replaceAll("\\.(json|f32|ids)$", "");
    JsonNode header = new ObjectMapper().readTree(Path.of(stem + ".json").toFile());
    if (!"vectors-snapshot-f32".equals(header.path("format").asText())) throw new IOException(stem + ".json is not a vectors-snapshot-f32 header");
    int dims = header.get("dims").asInt();
    int count = header.get("count").asInt();
    ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(Path.of(stem + ".f32"))).order(ByteOrder.LITTLE_ENDIAN);
    if (bytes.remaining() != (long) dims * count * 4) throw new IOException(stem + ".f32 holds " + bytes.remaining() + " bytes, expected " + (long) dims * count * 4);
    float[] vectors = new float[dims * count];
    bytes.asFloatBuffer().get(vectors);
    Map<String, Integer> rows = new HashMap<>(count * 2);
    try (BufferedReader in = Files.newBufferedReader(Path.of(stem + ".ids"))) {
      String line;
      while ((line = in.readLine()) != null) {
        if (line.isEmpty()) continue;
        int tab = line.indexOf('\t');
        rows.put(tab < 0 ? line : line.substring(0, tab), rows.size());
      }
    }
    if (rows.size() != count) throw new IOException(stem + ".ids names " + rows.size() + " entities, the header " + count);
    return new Snapshot(dims, count, vectors, rows);
  }
}
