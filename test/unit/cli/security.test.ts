/**
 * The Kafka TLS/SASL flags, the registry and API credentials from the
 * environment or files: what each setting gives the clients, the usage errors
 * for incomplete settings, and that a secret is never taken from argv nor
 * printed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIo } from '../../../src/cli/common';
import { main } from '../../../src/cli/main';
import { apiTokenFrom, kafkaSecurityFrom, registryAuthFrom } from '../../../src/cli/security';
import { UsageError } from '../../../src/errors';

let dir: string;
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cli-sec-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Kafka TLS and SASL from flags and environment', () => {
  it('nothing set: plaintext, no SASL', () => {
    expect(kafkaSecurityFrom({}, {})).toEqual({});
  });

  it('--kafka-tls alone (or KAFKA_TLS=true): TLS with the system CAs; KAFKA_TLS=false is off', () => {
    expect(kafkaSecurityFrom({ kafkaTls: true }, {})).toEqual({ tls: true });
    expect(kafkaSecurityFrom({}, { KAFKA_TLS: 'true' })).toEqual({ tls: true });
    expect(kafkaSecurityFrom({}, { KAFKA_TLS: '1' })).toEqual({ tls: true });
    expect(kafkaSecurityFrom({}, { KAFKA_TLS: 'false' })).toEqual({});
  });

  it('CA, client certificate and key are read from their files', () => {
    const tls = kafkaSecurityFrom({ kafkaCa: file('ca.pem', 'CA'), kafkaCert: file('c.pem', 'CERT'), kafkaKey: file('k.pem', 'KEY') }, {});
    expect(tls).toEqual({ tls: { ca: 'CA', cert: 'CERT', key: 'KEY' } });
  });

  it('SASL: the password from KAFKA_SASL_PASSWORD', () => {
    expect(kafkaSecurityFrom({ kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'bob' }, { KAFKA_SASL_PASSWORD: 'pw' }).sasl).toEqual({
      mechanism: 'scram-sha-512',
      username: 'bob',
      password: 'pw',
    });
  });

  it('SASL: the password file wins over the environment; its trailing newline is dropped', () => {
    const o = { kafkaSaslMechanism: 'plain' as const, kafkaSaslUsername: 'alice', kafkaSaslPasswordFile: file('pw', 'from-file\n') };
    expect(kafkaSecurityFrom(o, { KAFKA_SASL_PASSWORD: 'from-env' }).sasl?.password).toBe('from-file');
  });

  it.each([
    ['a key without a certificate', { kafkaKey: '/k.pem' }, {}, '--kafka-key needs --kafka-cert'],
    ['a certificate without a key', { kafkaCert: '/c.pem' }, {}, '--kafka-cert needs --kafka-key'],
    ['a user without a mechanism', { kafkaSaslUsername: 'bob' }, { KAFKA_SASL_PASSWORD: 'x' }, 'need --kafka-sasl-mechanism'],
    ['a mechanism without a user', { kafkaSaslMechanism: 'plain' as const }, { KAFKA_SASL_PASSWORD: 'x' }, 'needs --kafka-sasl-username'],
    ['no password', { kafkaSaslMechanism: 'plain' as const, kafkaSaslUsername: 'bob' }, {}, 'set KAFKA_SASL_PASSWORD or give --kafka-sasl-password-file'],
    ['a missing CA file', { kafkaCa: '/nonexistent/ca.pem' }, {}, "cannot read --kafka-ca '/nonexistent/ca.pem': ENOENT"],
  ])('%s is a usage error naming the fix', (_what, o, env, message) => {
    expect(() => kafkaSecurityFrom(o, env)).toThrow(UsageError);
    expect(() => kafkaSecurityFrom(o, env)).toThrow(message);
  });

  it('an empty password file is refused without showing anything of it', () => {
    const o = { kafkaSaslMechanism: 'plain' as const, kafkaSaslUsername: 'a', kafkaSaslPasswordFile: file('empty', '') };
    expect(() => kafkaSecurityFrom(o, {})).toThrow("the SASL password file '");
  });
});

describe('registry credentials from the environment', () => {
  it.each([
    [{}, undefined],
    [
      { SCHEMA_REGISTRY_USER: 'u', SCHEMA_REGISTRY_PASSWORD: 'p' },
      { username: 'u', password: 'p' },
    ],
    [{ SCHEMA_REGISTRY_TOKEN: 't' }, { token: 't' }],
  ])('%j → %j', (env, auth) => expect(registryAuthFrom(env)).toEqual(auth));

  it('password and token from files', () => {
    expect(registryAuthFrom({ SCHEMA_REGISTRY_USER: 'u', SCHEMA_REGISTRY_PASSWORD_FILE: file('rp', 'secret\n') })).toEqual({
      username: 'u',
      password: 'secret',
    });
    expect(registryAuthFrom({ SCHEMA_REGISTRY_TOKEN_FILE: file('rt', 'tok') })).toEqual({ token: 'tok' });
  });

  it.each([
    [{ SCHEMA_REGISTRY_USER: 'u' }, 'SCHEMA_REGISTRY_USER needs SCHEMA_REGISTRY_PASSWORD'],
    [{ SCHEMA_REGISTRY_PASSWORD: 'p' }, 'SCHEMA_REGISTRY_PASSWORD is set but SCHEMA_REGISTRY_USER is not'],
    [{ SCHEMA_REGISTRY_USER: 'u', SCHEMA_REGISTRY_PASSWORD: 'p', SCHEMA_REGISTRY_TOKEN: 't' }, 'not both'],
  ])('%j is refused', (env, message) => expect(() => registryAuthFrom(env)).toThrow(message));
});

describe('the API token', () => {
  it('from --api-token-file, else VECTORS_API_TOKEN, else none', () => {
    expect(apiTokenFrom(file('api', 'abc\n'), { VECTORS_API_TOKEN: 'env' })).toBe('abc');
    expect(apiTokenFrom(undefined, { VECTORS_API_TOKEN: 'env' })).toBe('env');
    expect(apiTokenFrom(undefined, {})).toBeUndefined();
  });
});

describe('secrets are never flags', () => {
  async function cli(args: string[]) {
    const err: string[] = [];
    const io: CliIo = { out: () => undefined, err: (t) => void err.push(t) };
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
    try {
      return { code: await main(args, io), err: err.join('') };
    } finally {
      spy.mockRestore();
    }
  }

  it.each([['--kafka-sasl-password'], ['--registry-password'], ['--api-token']])(
    '%s is an unknown option (exit 2), and the value is not echoed',
    async (flag) => {
      const r = await cli(['status', flag, 'Sup3r-secret']);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`unknown option '${flag}'`);
      expect(r.err).not.toContain('Sup3r-secret');
    },
  );

  it('--help of a Kafka command lists the TLS and SASL flags with their environment variables', async () => {
    const out: string[] = [];
    await main(['status', '--help'], { out: (t) => void out.push(t), err: (t) => void out.push(t) });
    const help = out.join('').replace(/\s+/g, ' ');
    for (const s of ['--kafka-ca <file>', 'KAFKA_CA_FILE', '--kafka-sasl-mechanism', 'scram-sha-256', 'KAFKA_SASL_PASSWORD', '--kafka-sasl-password-file'])
      expect(help).toContain(s);
  });

  it('an unknown SASL mechanism is a usage error naming the ones there are', async () => {
    const r = await cli(['status', '--brokers', '127.0.0.1:1', '--kafka-sasl-mechanism', 'gssapi']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('plain, scram-sha-256, scram-sha-512');
  });
});
