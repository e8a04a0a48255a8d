import * as avsc from 'avsc';
import { SchemaIncompatibleError, UnknownSchemaIdError } from '../errors';

/** Compatibility rules, as the Confluent Schema Registry names them. */
export type CompatibilityLevel = 'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

/**
 * The part of a Confluent-compatible schema registry the runtime needs.
 *
 * Implementations: {@link ConfluentSchemaRegistry} (a real server over HTTP) and
 * {@link InMemorySchemaRegistry} (for the test driver and unit tests).
 */
export interface SchemaRegistry {
  /**
   * Registers an Avro schema under `subject`, or finds it when already
   * registered, and returns its id. Idempotent.
   * @throws SchemaIncompatibleError when the subject's compatibility rule refuses it.
   * @throws SchemaRegistryError when the registry cannot be reached.
   */
  register(subject: string, schema: string): Promise<number>;
  /**
   * The schema text for an id.
   * @throws UnknownSchemaIdError when the registry has no such id.
   */
  getSchema(subject: string, id: number): Promise<string>;
  /** Sets the compatibility rule of one subject. */
  setCompatibility(subject: string, level: CompatibilityLevel): Promise<void>;
  /** The subjects the registry holds; a registry may cap the list (Apicurio's compatibility API returns at most 1,000). */
  subjects(): Promise<string[]>;
}

/**
 * A registry in process memory that checks BACKWARD compatibility the way the
 * real one does (the new schema must be able to read data written with the
 * latest registered one). For tests and the test driver only.
 */
export class InMemorySchemaRegistry implements SchemaRegistry {
  private readonly byId = new Map<number, string>();
  private readonly bySubject = new Map<string, { id: number; schema: string }[]>();
  private readonly compat = new Map<string, CompatibilityLevel>();
  private nextId = 1;

  async register(subject: string, schema: string): Promise<number> {
    const canonical = canonicalise(schema);
    const versions = this.bySubject.get(subject) ?? [];
    const existing = versions.find((v) => v.schema === canonical);
    if (existing) return existing.id;
    const level = this.compat.get(subject) ?? 'BACKWARD';
    const latest = versions[versions.length - 1];
    if (latest && level.startsWith('BACKWARD')) {
      const checkAgainst = level === 'BACKWARD_TRANSITIVE' ? versions : [latest];
      for (const old of checkAgainst) {
        try {
          avsc.Type.forSchema(JSON.parse(canonical)).createResolver(avsc.Type.forSchema(JSON.parse(old.schema)));
        } catch (err) {
          throw new SchemaIncompatibleError(subject, (err as Error).message, err);
        }
      }
    }
    let id = [...this.byId.entries()].find(([, s]) => s === canonical)?.[0];
    if (id === undefined) {
      id = this.nextId++;
      this.byId.set(id, canonical);
    }
    versions.push({ id, schema: canonical });
    this.bySubject.set(subject, versions);
    return id;
  }

  async getSchema(_subject: string, id: number): Promise<string> {
    const s = this.byId.get(id);
    if (s === undefined) throw new UnknownSchemaIdError(id);
    return s;
  }

  async setCompatibility(subject: string, level: CompatibilityLevel): Promise<void> {
    this.compat.set(subject, level);
  }

  async subjects(): Promise<string[]> {
    return [...this.bySubject.keys()];
  }
}

function canonicalise(schema: string): string {
  return JSON.stringify(JSON.parse(schema));
}
