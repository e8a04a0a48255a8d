import { SchemaRegistryClient } from '@confluentinc/schemaregistry';
import { SchemaIncompatibleError, SchemaRegistryError, UnknownSchemaIdError } from '../errors';
import type { CompatibilityLevel, SchemaRegistry } from './schema-registry';

interface RestErrorLike {
  status?: number;
  errorCode?: number;
  message?: string;
}

/**
 * How the client authenticates to the registry: HTTP basic auth, or a bearer
 * token sent as is (`Authorization: Bearer <token>`). Credentials are never
 * put in an error message or a log line.
 */
export type RegistryAuth = { username: string; password: string } | { token: string };

/**
 * `url` as it may be printed: without user info (`https://user:secret@host/`
 * becomes `https://host/`) and without a query string (which can carry keys).
 * Text that is not a URL gets {@link redactUrlsIn}.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    return redactUrlsIn(url);
  }
}

/** `text` with the user info of every URL in it removed (`http://u:p@h/` → `http://h/`). */
export function redactUrlsIn(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s@]*@/gi, '$1');
}

/**
 * The cause to attach to our error: an HTTP client error carries its request
 * config, headers and credentials included, which a logger printing the cause
 * chain would write out; only its message and status are kept.
 */
function safeCause(err: unknown): unknown {
  if (err && typeof err === 'object' && ('config' in err || 'request' in err)) {
    const e = err as RestErrorLike & { code?: string };
    return Object.assign(new Error(redactUrlsIn(e.message ?? 'HTTP request failed')), { status: e.status, code: e.code });
  }
  return err;
}

/**
 * A real Confluent-compatible schema registry over HTTP (Confluent Schema
 * Registry, or Apicurio's `/apis/ccompat/v7` API), through the Confluent
 * client. Ids are cached: one HTTP round trip per subject/schema and per id.
 */
export class ConfluentSchemaRegistry implements SchemaRegistry {
  private readonly client: SchemaRegistryClient;
  private readonly schemaById = new Map<number, string>();
  /** The URL without user info: the form every message prints. */
  readonly url: string;

  /**
   * @param url base URL, e.g. `http://127.0.0.1:8081/apis/ccompat/v7`; user
   *   info in it (`https://user:secret@host/...`) is used as basic auth too.
   * @param options.auth basic auth or a bearer token (see {@link RegistryAuth}).
   */
  constructor(url: string, options: { auth?: RegistryAuth } = {}) {
    this.url = redactUrl(url);
    const auth = options.auth;
    this.client = new SchemaRegistryClient({
      baseURLs: [url],
      maxRetries: 2,
      retriesWaitMs: 200,
      retriesMaxWaitMs: 2000,
      // A request that gets no answer must fail, not hang (seen with Apicurio on paths it lacks).
      // The client's own bearer support needs Confluent Cloud's logical cluster; a plain header fits every registry.
      createAxiosDefaults: { timeout: 10_000, ...(auth && 'token' in auth ? { headers: { Authorization: `Bearer ${auth.token}` } } : {}) },
      ...(auth && 'username' in auth
        ? { basicAuthCredentials: { credentialsSource: 'USER_INFO' as const, userInfo: `${auth.username}:${auth.password}` } }
        : {}),
    });
  }

  async register(subject: string, schema: string): Promise<number> {
    try {
      return await this.client.register(subject, { schemaType: 'AVRO', schema }, false);
    } catch (err) {
      const e = err as RestErrorLike;
      if (e.status === 409) throw new SchemaIncompatibleError(subject, e.message ?? 'HTTP 409', safeCause(err));
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
      if ((err as RestErrorLike).status === 404) throw new UnknownSchemaIdError(id, safeCause(err));
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
    const hint =
      status === undefined
        ? 'Is the registry running? Start the local stack with `npm run stack:up`.'
        : status === 401 || status === 403
          ? 'The registry refused the credentials: check SCHEMA_REGISTRY_USER and SCHEMA_REGISTRY_PASSWORD, or SCHEMA_REGISTRY_TOKEN (docs/SECURITY.md).'
          : '';
    return new SchemaRegistryError(
      `schema registry at ${this.url}: ${what} failed${status ? ` (HTTP ${status})` : ''}: ${redactUrlsIn(e.message ?? String(err))}. ${hint}`,
      { retriable, cause: safeCause(err) },
    );
  }
}
