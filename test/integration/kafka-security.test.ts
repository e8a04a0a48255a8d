/**
 * Kafka over TLS with SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and a client
 * certificate, on a broker of its own: the stack's Kafka started on other
 * ports and STACK_DIR with an extra SASL_SSL listener (KAFKA_EXTRA_PROPERTIES;
 * the shared stack is not touched). The CA, the broker's and the client's
 * certificates are made here with openssl; the SCRAM users with Kafka's
 * ConfigCommand. The clients are built the way every command builds them
 * (src/cli/common.ts `kafkaFrom`), from the same flags and environment.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaFrom, type KafkaOptions } from '../../src/cli/common';
import type { KafkaClient } from '../../src/runtime/kafka/client';
import { readRange } from '../../src/runtime/kafka/read-range';
import { ROOT, uniqueName } from './helpers';

jest.setTimeout(120_000);

const PORTS = { KAFKA_PORT: '19692', KAFKA_CONTROLLER_PORT: '19693' };
const SASL_PORT = 19694;
const SECURE = `127.0.0.1:${SASL_PORT}`;
const PASSWORDS = { alice: 'alice-Pl41n-pw', bob: 'bob-Scr4m-pw' };

let dir: string;
let stackEnv: NodeJS.ProcessEnv;
let started = false;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, and a broker and a client certificate it signed (the broker's for 127.0.0.1 and localhost). */
function makeCertificates(): void {
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=vectors-test-ca');
  for (const [name, ext] of [
    ['broker', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    // -nodes with OpenSSL 3 writes PKCS#8 ("BEGIN PRIVATE KEY"), the form Kafka's PEM keystore reads.
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  }
  writeFileSync(join(dir, 'broker.pem'), readFileSync(join(dir, 'broker.key'), 'utf8') + readFileSync(join(dir, 'broker.crt'), 'utf8'));
}

function brokerProperties(): string {
  const { KAFKA_PORT: p, KAFKA_CONTROLLER_PORT: c } = PORTS;
  return [
    `listeners=PLAINTEXT://127.0.0.1:${p},CONTROLLER://127.0.0.1:${c},SASL_SSL://127.0.0.1:${SASL_PORT}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${p},SASL_SSL://127.0.0.1:${SASL_PORT}`,
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL',
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    `listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="${PASSWORDS.alice}";`,
    'listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;',
    'ssl.keystore.type=PEM',
    `ssl.keystore.location=${join(dir, 'broker.pem')}`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${join(dir, 'ca.crt')}`,
    // Mutual TLS: a client without a certificate the CA signed is refused before SASL.
    'ssl.client.auth=required',
    '',
  ].join('\n');
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kafka-sec-'));
  makeCertificates();
  writeFileSync(join(dir, 'extra.properties'), brokerProperties());
  mkdirSync(join(dir, 'stack'));
  stackEnv = { ...process.env, ...PORTS, STACK_DIR: join(dir, 'stack'), KAFKA_EXTRA_PROPERTIES: join(dir, 'extra.properties'), KAFKA_READY_TIMEOUT: '90' };
  started = true;
  execFileSync('bash', ['scripts/stack/kafka.sh', 'up'], { cwd: ROOT, env: stackEnv, stdio: ['ignore', 'ignore', 'pipe'], timeout: 110_000 });
  // SCRAM credentials live in the cluster's metadata: added through the PLAINTEXT listener (one mechanism per request).
  for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512']) {
    execFileSync(
      'bash',
      [
        ...['scripts/stack/kafka.sh', 'run-class', 'org.apache.kafka.tools.ConfigCommand', '--bootstrap-server', `127.0.0.1:${PORTS.KAFKA_PORT}`],
        ...['--alter', '--entity-type', 'users', '--entity-name', 'bob', '--add-config', `${mechanism}=[password=${PASSWORDS.bob}]`],
      ],
      { cwd: ROOT, env: stackEnv, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 },
    );
  }
  writeFileSync(join(dir, 'bob.password'), `${PASSWORDS.bob}\n`);
}, 180_000);

afterAll(() => {
  // Stops only the broker this file started (by the pid in its own STACK_DIR).
  if (started) execFileSync('bash', ['scripts/stack/kafka.sh', 'down'], { cwd: ROOT, env: stackEnv, stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
});

function tlsFlags(): KafkaOptions {
  return { brokers: SECURE, kafkaCa: join(dir, 'ca.crt'), kafkaCert: join(dir, 'client.crt'), kafkaKey: join(dir, 'client.key') };
}

async function roundTrip(kafka: KafkaClient): Promise<string[]> {
  const topic = uniqueName('sec');
  const admin = await kafka.admin();
  try {
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const producer = await kafka.producer();
    await producer.send([
      { topic, key: 'k1', value: Buffer.from('one') },
      { topic, key: 'k2', value: Buffer.from('two') },
    ]);
    await producer.close();
    // The partition reader builds its own kafkajs cluster: it must carry TLS and SASL too.
    const reader = await kafka.partitionReader();
    const values: string[] = [];
    try {
      await readRange(reader, { topic, partition: 0 }, 0n, 2n, (records) => void values.push(...records.map((r) => r.value!.toString())));
    } finally {
      await reader.close();
    }
    await admin.deleteTopics([topic]);
    return values;
  } finally {
    await admin.close();
  }
}

describe('Kafka over SASL_SSL with a client certificate', () => {
  it.each([
    ['plain', 'alice', { KAFKA_SASL_PASSWORD: PASSWORDS.alice }, undefined],
    ['scram-sha-256', 'bob', {}, 'bob.password'],
    ['scram-sha-512', 'bob', { KAFKA_SASL_PASSWORD: PASSWORDS.bob }, undefined],
  ] as const)('%s as %s: produce, then read back through the partition reader', async (mechanism, user, env, passwordFile) => {
    const saved = process.env.KAFKA_SASL_PASSWORD;
    Object.assign(process.env, env);
    try {
      const kafka = kafkaFrom(
        { ...tlsFlags(), kafkaSaslMechanism: mechanism, kafkaSaslUsername: user, ...(passwordFile ? { kafkaSaslPasswordFile: join(dir, passwordFile) } : {}) },
        `sec-${mechanism}`,
        true,
      );
      expect(await roundTrip(kafka)).toEqual(['one', 'two']);
    } finally {
      if (saved === undefined) delete process.env.KAFKA_SASL_PASSWORD;
      else process.env.KAFKA_SASL_PASSWORD = saved;
    }
  });

  it('a consumer group reads over TLS+SASL too', async () => {
    const kafka = kafkaFrom(
      { ...tlsFlags(), kafkaSaslMechanism: 'scram-sha-256', kafkaSaslUsername: 'bob', kafkaSaslPasswordFile: join(dir, 'bob.password') },
      'sec-group',
      true,
    );
    const topic = uniqueName('sec-group');
    const admin = await kafka.admin();
    await admin.createTopics([{ name: topic, partitions: 1 }]);
    const producer = await kafka.producer();
    await producer.send([{ topic, key: 'k', value: Buffer.from('hello') }]);
    await producer.close();
    const consumer = await kafka.consumer({ groupId: uniqueName('sec-g') });
    const got = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no record within 30 s')), 30_000);
      consumer.subscribe([topic]).then(
        () =>
          consumer.run({
            onBatch: async (batch) => {
              clearTimeout(timer);
              resolve(batch.records[0]!.value!.toString());
              return true;
            },
          }),
        reject,
      );
    });
    await consumer.close();
    await admin.deleteTopics([topic]);
    await admin.close();
    expect(got).toBe('hello');
  });

  it('a wrong password fails at once with a clear error that holds no password', async () => {
    const wrong = 'not-bobs-Pa55word';
    const saved = process.env.KAFKA_SASL_PASSWORD;
    process.env.KAFKA_SASL_PASSWORD = wrong;
    try {
      const kafka = kafkaFrom({ ...tlsFlags(), kafkaSaslMechanism: 'scram-sha-512', kafkaSaslUsername: 'bob' }, 'sec-wrong', true);
      const t0 = Date.now();
      const err = (await kafka.admin().then(
        () => undefined,
        (e: unknown) => e,
      )) as Error & { code?: string; retriable?: boolean };
      expect(err).toBeDefined();
      expect(err.code).toBe('VEC_ERR_KAFKA');
      expect(err.retriable).toBe(false);
      expect(err.message).toMatch(/authentication/i);
      expect(err.message).toMatch(/check the SASL mechanism, username and password/);
      for (const secret of [wrong, PASSWORDS.bob, PASSWORDS.alice]) expect(JSON.stringify({ m: err.message, s: err.stack })).not.toContain(secret);
      expect(Date.now() - t0).toBeLessThan(20_000);
    } finally {
      if (saved === undefined) delete process.env.KAFKA_SASL_PASSWORD;
      else process.env.KAFKA_SASL_PASSWORD = saved;
    }
  });

  it('without the CA the broker certificate is not trusted: the client does not connect', async () => {
    const kafka = kafkaFrom(
      { brokers: SECURE, kafkaTls: true, kafkaSaslMechanism: 'plain', kafkaSaslUsername: 'alice', kafkaSaslPasswordFile: writePassword('alice') },
      'sec-noca',
      true,
    );
    await expect(kafka.admin()).rejects.toThrow(/connect to 127\.0\.0\.1:19694 failed/);
  });
});

function writePassword(user: keyof typeof PASSWORDS): string {
  const file = join(dir, `${user}.password`);
  writeFileSync(file, PASSWORDS[user]);
  return file;
}

describe('the vectors binary with a wrong password (what an operator would see)', () => {
  const wrong = 'Wr0ng-pw-for-bob';
  const registrySecret = 'reg-S3cret-pw';
  const apiToken = 'api-T0k3n-5ecret';

  /** `vectors ARGS` over the SASL_SSL listener as bob with the wrong password; the registry and API secrets set too. */
  function vectors(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [
          'bin/vectors.js',
          ...args,
          ...['--brokers', SECURE, '--kafka-ca', join(dir, 'ca.crt'), '--kafka-cert', join(dir, 'client.crt'), '--kafka-key', join(dir, 'client.key')],
          ...['--kafka-sasl-mechanism', 'scram-sha-256', '--kafka-sasl-username', 'bob'],
        ],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            KAFKA_SASL_PASSWORD: wrong,
            SCHEMA_REGISTRY_URL: `http://ops:${registrySecret}@127.0.0.1:1/apis/ccompat/v7`,
            SCHEMA_REGISTRY_USER: 'ops',
            SCHEMA_REGISTRY_PASSWORD: registrySecret,
            VECTORS_API_TOKEN: apiToken,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      let err = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, err });
      });
    });
  }

  const secrets = [wrong, PASSWORDS.bob, registrySecret, apiToken, Buffer.from(`ops:${registrySecret}`).toString('base64')];

  it('a one-shot command exits 1 with one error line naming the authentication failure, and no secret in stdout or stderr', async () => {
    const r = await vectors(['status']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/authentication/i);
    for (const secret of secrets)
      expect(`${r.out}
${r.err}`).not.toContain(secret);
  });

  it('a topology process (its own logs and the client library’s) stops with the authentication failure and logs no secret', async () => {
    const r = await vectors(['run', 'event-counter', '--store', 'memory', '--state-dir', join(dir, 'state'), '--metrics', '127.0.0.1:19695']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/authentication/i);
    for (const secret of secrets)
      expect(`${r.out}
${r.err}`).not.toContain(secret);
  });
});
