package vectors.anchors;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;

/**
 * The few calls of the Confluent-compatible REST API the peer needs (Confluent's
 * own client is not on Maven Central): writer schemas by id, and the id of a
 * schema under a subject (registered when new, as a producer does).
 */
final class Registry {
  private static final String JSON = "application/vnd.schemaregistry.v1+json";
  private final String base;
  private final HttpClient http = HttpClient.newHttpClient();
  private final ObjectMapper mapper = new ObjectMapper();
  private final Map<Integer, Schema> byId = new ConcurrentHashMap<>();

  Registry(String base) {
    this.base = base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
  }

  Schema schemaById(int id) {
    return byId.computeIfAbsent(id, i -> new Schema.Parser().parse(call(HttpRequest.newBuilder(URI.create(base + "/schemas/ids/" + i)).GET()).get("schema").asText()));
  }

  int register(String subject, Schema schema) {
    String body;
    try {
      body = mapper.writeValueAsString(Map.of("schema", schema.toString()));
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    String url = base + "/subjects/" + URLEncoder.encode(subject, StandardCharsets.UTF_8) + "/versions";
    return call(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", JSON).POST(HttpRequest.BodyPublishers.ofString(body))).get("id").asInt();
  }

  private JsonNode call(HttpRequest.Builder request) {
    try {
      HttpResponse<String> r = http.send(request.header("Accept", JSON).build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() / 100 != 2) throw new IllegalStateException("schema registry " + r.uri() + " answered " + r.statusCode() + ": " + r.body());
      return mapper.readTree(r.body());
    } catch (IOException e) {
      throw new IllegalStateException("schema registry at " + base + " unreachable: " + e, e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
