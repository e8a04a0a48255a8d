import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import { SchemaIncompatibleError, SchemaRegistryError, UnknownSchemaIdError } from '../../errors';
import type { CompatibilityLevel, SchemaRegistry } from './schema-registry';

interface RestErrorLike {
  status?: number;
  errorCode?: number;
  message?: string;
}

/**
 * A real Confluent-compatible schema registry over HTTP (Confluent Schema
 * Registry, or Apicurio's `/apis/ccompat/v7` API), through the Confluent
 * client. Ids are cached: one HTTP round trip per subject/schema and per id.
 */
export class ConfluentSchemaRegistry implements SchemaRegistry {
  private readonly client: SchemaRegistryClient;
  private readonly schemaById = new Map<number, string>();

  /** @param url base URL, e.g. `http://127.0.0.1:8081/apis/ccompat/v7` */
  constructor(readonly url: string) {
    this.client = new SchemaRegistryClient({
      baseURLs: [url],
      maxRetries: 2,
      retriesWaitMs: 200,
      retriesMaxWaitMs: 2000,
      // A request that gets no answer must fail, not hang (seen with Apicurio on paths it lacks).
      createAxiosDefaults: { timeout: 10_000 },
    });
  }

  async register(subject: string, schema: string): Promise<number> {
    try {
      return await this.client.register(subject, { schemaType: 'AVRO', schema }, false);
    } catch (err) {
      const e = err as RestErrorLike;
      if (e.status === 409) throw new SchemaIncompatibleError(subject, e.message ?? 'HTTP 409', err);
      throw this.wrap(`registering a schema under '${subject}'`, err);
    }
  }

  async getSchema(subject: string, id: number): Promise<string> {
    const cached = this.schemaById.get(id);
    if (cached !== undefined) return cached;
    try {
      const info = await this.client.getBySubjectAndId(subject, id);
      this.schemaById.set(id, info.schema);
      return info.schema;
    } catch (err) {
      if ((err as RestErrorLike).status === 404) throw new UnknownSchemaIdError(id, err);
      throw this.wrap(`fetching schema id ${id}`, err);
    }
  }

  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    try {
      await this.client.updateConfig(subject, { compatibility: level as never });
    } catch (err) {
      throw this.wrap(`setting compatibility of '${subject}'`, err);
    }
  }

  async subjects(): Promise<string[]> {
    try {
      return await this.client.getAllSubjects();
    } catch (err) {
      throw this.wrap('listing subjects', err);
    }
  }

  private wrap(what: string, err: unknown): SchemaRegistryError {
    const e = err as RestErrorLike;
    const status = e.status;
    const retriable = status === undefined || status >= 500;
    return new SchemaRegistryError(
      `schema registry at ${this.url}: ${what} failed${status ? ` (HTTP ${status})` : ''}: ${e.message ?? String(err)}. ` +
        (status === undefined ? 'Is the registry running? Start the local stack with `npm run stack:up`.' : ''),
      { retriable, cause: err },
    );
  }
}
