/**
 * Credentials and certificates for Kafka, the schema registry and the query
 * API, read from files and the environment. Secrets (passwords, tokens) are
 * never taken from the command line, where `ps` and shell history show them:
 * only from an environment variable or a file named by a flag. See
 * docs/SECURITY.md.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { UsageError } from '../errors';
import type { KafkaSaslMechanism, KafkaSaslOptions, KafkaTlsOptions } from '../runtime/kafka/client';
import type { RegistryAuth } from '../runtime/serde/confluent-registry';
import { isLoopback } from '../runtime/http/http-guard';

export const SASL_MECHANISMS: readonly KafkaSaslMechanism[] = ['plain', 'scram-sha-256', 'scram-sha-512'];

/** The Kafka security flags, as commander parses them. */
export interface KafkaSecurityOptions {
  kafkaTls?: boolean;
  kafkaCa?: string;
  kafkaCert?: string;
  kafkaKey?: string;
  kafkaSaslMechanism?: KafkaSaslMechanism;
  kafkaSaslUsername?: string;
  kafkaSaslPasswordFile?: string;
}

function saslMechanism(raw: string): KafkaSaslMechanism {
  const m = raw.toLowerCase() as KafkaSaslMechanism;
  if (!SASL_MECHANISMS.includes(m)) throw new InvalidArgumentError(`expected one of ${SASL_MECHANISMS.join(', ')}`);
  return m;
}

/** Adds the Kafka TLS and SASL flags (each also from its environment variable). */
export function addKafkaSecurityOptions(cmd: Command): Command {
  return (
    cmd
      // Not commander's .env(): it would take KAFKA_TLS=false as true.
      .addOption(new Option('--kafka-tls', 'connect to the brokers over TLS (implied by --kafka-ca/--kafka-cert; env KAFKA_TLS=true)'))
      .addOption(
        new Option('--kafka-ca <file>', "PEM CA certificate that signed the brokers' certificates (TLS; default: the system's CAs)").env('KAFKA_CA_FILE'),
      )
      .addOption(new Option('--kafka-cert <file>', 'PEM client certificate for mutual TLS (with --kafka-key)').env('KAFKA_CERT_FILE'))
      .addOption(new Option('--kafka-key <file>', 'PEM private key of the client certificate (unencrypted)').env('KAFKA_KEY_FILE'))
      .addOption(
        new Option('--kafka-sasl-mechanism <mechanism>', `SASL mechanism: ${SASL_MECHANISMS.join(', ')}`).env('KAFKA_SASL_MECHANISM').argParser(saslMechanism),
      )
      .addOption(new Option('--kafka-sasl-username <name>', 'SASL user name').env('KAFKA_SASL_USERNAME'))
      .addOption(
        new Option('--kafka-sasl-password-file <file>', 'file holding the SASL password (or set KAFKA_SASL_PASSWORD; never a flag)').env(
          'KAFKA_SASL_PASSWORD_FILE',
        ),
      )
  );
}

/** A secret from a file: its content without the trailing newline. Fails naming the file, never showing its content. */
export function readSecretFile(file: string, what: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} from '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new UsageError(`${what} file '${file}' is empty`);
  return secret;
}

function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${flag} '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * The Kafka client's `tls` and `sasl` from the flags and the environment
 * (`KAFKA_SASL_PASSWORD`). Bad combinations (a key without a certificate, a
 * user without a password or mechanism) fail with a usage error naming the fix.
 */
export function kafkaSecurityFrom(o: KafkaSecurityOptions, env: NodeJS.ProcessEnv = process.env): { tls?: KafkaTlsOptions | boolean; sasl?: KafkaSaslOptions } {
  const out: { tls?: KafkaTlsOptions | boolean; sasl?: KafkaSaslOptions } = {};
  if (o.kafkaKey && !o.kafkaCert) throw new UsageError('--kafka-key needs --kafka-cert (the client certificate it belongs to)');
  if (o.kafkaCert && !o.kafkaKey) throw new UsageError('--kafka-cert needs --kafka-key (the private key of the client certificate)');
  if (o.kafkaCa || o.kafkaCert) {
    out.tls = {
      ...(o.kafkaCa ? { ca: readPem(o.kafkaCa, '--kafka-ca') } : {}),
      ...(o.kafkaCert ? { cert: readPem(o.kafkaCert, '--kafka-cert') } : {}),
      ...(o.kafkaKey ? { key: readPem(o.kafkaKey, '--kafka-key') } : {}),
    };
  } else if (o.kafkaTls || /^(1|true|yes)$/i.test(env.KAFKA_TLS ?? '')) {
    out.tls = true;
  }
  const passwordFromFile = o.kafkaSaslPasswordFile !== undefined && o.kafkaSaslPasswordFile !== '';
  const passwordFromEnv = env.KAFKA_SASL_PASSWORD !== undefined && env.KAFKA_SASL_PASSWORD !== '';
  if (o.kafkaSaslMechanism || o.kafkaSaslUsername || passwordFromFile) {
    if (!o.kafkaSaslMechanism) throw new UsageError(`SASL credentials need --kafka-sasl-mechanism (or KAFKA_SASL_MECHANISM): ${SASL_MECHANISMS.join(', ')}`);
    if (!o.kafkaSaslUsername) throw new UsageError('--kafka-sasl-mechanism needs --kafka-sasl-username (or KAFKA_SASL_USERNAME)');
    if (!passwordFromFile && !passwordFromEnv) throw new UsageError('SASL needs a password: set KAFKA_SASL_PASSWORD or give --kafka-sasl-password-file');
    const password = passwordFromFile ? readSecretFile(o.kafkaSaslPasswordFile!, 'the SASL password') : env.KAFKA_SASL_PASSWORD!;
    out.sasl = { mechanism: o.kafkaSaslMechanism, username: o.kafkaSaslUsername, password };
  }
  return out;
}

/**
 * Registry credentials from the environment: `SCHEMA_REGISTRY_USER` with
 * `SCHEMA_REGISTRY_PASSWORD` (or `SCHEMA_REGISTRY_PASSWORD_FILE`) for basic
 * auth, or `SCHEMA_REGISTRY_TOKEN` (or `SCHEMA_REGISTRY_TOKEN_FILE`) for a
 * bearer token. Undefined when none is set.
 */
export function registryAuthFrom(env: NodeJS.ProcessEnv = process.env): RegistryAuth | undefined {
  const set = (name: string): string | undefined => (env[name] !== undefined && env[name] !== '' ? env[name] : undefined);
  const token =
    set('SCHEMA_REGISTRY_TOKEN') ?? (set('SCHEMA_REGISTRY_TOKEN_FILE') ? readSecretFile(set('SCHEMA_REGISTRY_TOKEN_FILE')!, 'the registry token') : undefined);
  const user = set('SCHEMA_REGISTRY_USER');
  if (token !== undefined && user !== undefined)
    throw new UsageError('set either SCHEMA_REGISTRY_USER (basic auth) or SCHEMA_REGISTRY_TOKEN (bearer), not both');
  if (token !== undefined) return { token };
  if (user === undefined) {
    if (set('SCHEMA_REGISTRY_PASSWORD') || set('SCHEMA_REGISTRY_PASSWORD_FILE'))
      throw new UsageError('SCHEMA_REGISTRY_PASSWORD is set but SCHEMA_REGISTRY_USER is not');
    return undefined;
  }
  const password =
    set('SCHEMA_REGISTRY_PASSWORD') ??
    (set('SCHEMA_REGISTRY_PASSWORD_FILE') ? readSecretFile(set('SCHEMA_REGISTRY_PASSWORD_FILE')!, 'the registry password') : undefined);
  if (password === undefined) throw new UsageError('SCHEMA_REGISTRY_USER needs SCHEMA_REGISTRY_PASSWORD (or SCHEMA_REGISTRY_PASSWORD_FILE)');
  return { username: user, password };
}

/**
 * The query API's bearer token: `--api-token-file`, else `VECTORS_API_TOKEN`;
 * undefined when neither is set (the API is then open).
 */
export function apiTokenFrom(tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (tokenFile) return readSecretFile(tokenFile, 'the API token');
  const t = env.VECTORS_API_TOKEN;
  return t !== undefined && t !== '' ? t : undefined;
}

/**
 * One warning per listening flag (`--http`, `--metrics`) bound to an address
 * other machines can reach while no token protects it; none when a token is set.
 */
export function exposureWarnings(listeners: Record<string, { host: string } | undefined>, token: string | undefined): string[] {
  if (token !== undefined) return [];
  return Object.entries(listeners)
    .filter(([, a]) => a !== undefined && !isLoopback(a.host))
    .map(([flag, a]) => `${flag} listens on ${a!.host}, reachable from other machines, without a token: anyone who reaches it can read what it serves`);
}
