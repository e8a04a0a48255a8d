#!/usr/bin/env node
// Proves that the Kafka broker really works, not just that its port is open:
// creates a uniquely named topic, produces one plain record and one in a committed
// transaction (the project uses exactly-once producers; this also creates the broker's
// __transaction_state topic up front), consumes both back through a consumer group
// (read_committed), then deletes the topic and the group. One attempt, bounded in time.
//
//   node scripts/stack/kafka-ready.mjs [--brokers 127.0.0.1:9092] [--timeout-ms 20000]
//                                      [--no-transactions] [--verbose]
//
// Env: KAFKA_BROKERS (comma separated), else 127.0.0.1:$KAFKA_PORT (default 9092);
//      KAFKA_READY_TIMEOUT_MS (default 20000).
// Exit 0 on success (one line on stdout), 1 on failure (the failing step and error on stderr).
// scripts/stack/kafka.sh up runs it in a loop until it passes or its own deadline runs out.
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';

const require = createRequire(import.meta.url);
const { Kafka, logLevel, Partitioners } = require('kafkajs');

function parseArgs(argv) {
  const out = {
    brokers: process.env.KAFKA_BROKERS || `127.0.0.1:${process.env.KAFKA_PORT || 9092}`,
    timeoutMs: Number(process.env.KAFKA_READY_TIMEOUT_MS || 20000),
    verbose: false,
    transactions: true,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--brokers') out.brokers = argv[++i];
    else if (a === '--timeout-ms') out.timeoutMs = Number(argv[++i]);
    else if (a === '--verbose') out.verbose = true;
    else if (a === '--no-transactions') out.transactions = false;
    else if (a === '-h' || a === '--help') {
      console.log('usage: kafka-ready.mjs [--brokers host:port[,host:port]] [--timeout-ms N] [--no-transactions] [--verbose]');
      process.exit(0);
    } else {
      console.error(`kafka-ready: unknown argument ${a}`);
      process.exit(64);
    }
  }
  if (!Number.isFinite(out.timeoutMs) || out.timeoutMs <= 0) {
    console.error('kafka-ready: --timeout-ms must be a positive number');
    process.exit(64);
  }
  return out;
}

const opts = parseArgs(process.argv.slice(2));
const brokers = opts.brokers
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const id = randomUUID().slice(0, 8);
const topic = `_vectors-ready-${Date.now()}-${id}`;
const groupId = `_vectors-ready-${id}`;
const expected = [`ready-${id}`];
if (opts.transactions) expected.push(`ready-txn-${id}`);
// One fixed transactional id, so repeated probes leave no growing list of ids on the broker.
const transactionalId = '_vectors-ready-probe';
const started = Date.now();
let step = 'start';

// Hard bound: whatever kafkajs is doing (retrying, reconnecting), give up in time.
setTimeout(() => {
  console.error(`kafka-ready: FAILED: timed out after ${opts.timeoutMs} ms at step '${step}' (brokers ${brokers.join(',')})`);
  process.exit(1);
}, opts.timeoutMs);

const kafka = new Kafka({
  clientId: `vectors-ready-${id}`,
  brokers,
  connectionTimeout: 3000,
  requestTimeout: 10000,
  retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2000 },
  logLevel: opts.verbose ? logLevel.INFO : logLevel.NOTHING,
});

const admin = kafka.admin();
const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
const txProducer = kafka.producer({
  createPartitioner: Partitioners.DefaultPartitioner,
  allowAutoTopicCreation: false,
  transactionalId,
  idempotent: true,
  maxInFlightRequests: 1,
});
const consumer = kafka.consumer({
  groupId,
  sessionTimeout: 10000,
  heartbeatInterval: 1000,
  allowAutoTopicCreation: false,
  readUncommitted: false,
});
let topicCreated = false;

async function main() {
  step = 'admin connect';
  await admin.connect();

  step = 'create topic';
  const created = await admin.createTopics({
    topics: [{ topic, numPartitions: 1, replicationFactor: 1 }],
    waitForLeaders: true,
    timeout: 10000,
  });
  if (!created) throw new Error(`topic ${topic} already existed`);
  topicCreated = true;

  step = 'produce';
  await producer.connect();
  const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: id, value: expected[0] }] });
  if (meta.errorCode) throw new Error(`produce error code ${meta.errorCode}`);

  if (opts.transactions) {
    step = 'transactional produce';
    await txProducer.connect();
    const txn = await txProducer.transaction();
    try {
      await txn.send({ topic, messages: [{ key: id, value: expected[1] }] });
      await txn.commit();
    } catch (err) {
      await txn.abort().catch(() => {});
      throw err;
    }
  }

  step = 'consume';
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const seen = new Set();
  await new Promise((resolve, reject) => {
    // On a freshly formatted broker the first group can hit GROUP_LOAD_IN_PROGRESS while
    // __consumer_offsets is being created; kafkajs then restarts the consumer by itself.
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) reject(e.payload.error);
      else if (opts.verbose) console.error(`kafka-ready: consumer restarts after: ${e.payload.error && e.payload.error.message}`);
    });
    consumer
      .run({
        eachMessage: async ({ message }) => {
          const v = message.value ? message.value.toString() : null;
          if (expected.includes(v)) seen.add(v);
          if (seen.size === expected.length) resolve();
        },
      })
      .catch(reject);
  });

  step = 'cleanup';
  await consumer.disconnect();
  await producer.disconnect();
  await txProducer.disconnect();
  await admin.deleteTopics({ topics: [topic], timeout: 10000 });
  topicCreated = false;
  await admin.deleteGroups([groupId]).catch(() => {});
  await admin.disconnect();
}

try {
  await main();
  console.log(
    `kafka-ready: ok: created ${topic}, produced ${opts.transactions ? '1 plain + 1 transactional record' : '1 record'} and consumed ${opts.transactions ? 'them' : 'it'} in group ${groupId}, deleted the topic (${brokers.join(',')}, ${Date.now() - started} ms)`,
  );
  process.exit(0);
} catch (err) {
  const msg = err && err.message ? err.message : String(err);
  const type = err && err.type ? ` [${err.type}]` : '';
  console.error(`kafka-ready: FAILED at step '${step}' after ${Date.now() - started} ms (brokers ${brokers.join(',')}): ${msg}${type}`);
  if (opts.verbose && err && err.stack) console.error(err.stack);
  // Best effort: leave nothing behind.
  const cleanup = (async () => {
    await consumer.disconnect().catch(() => {});
    await producer.disconnect().catch(() => {});
    await txProducer.disconnect().catch(() => {});
    if (topicCreated) await admin.deleteTopics({ topics: [topic], timeout: 3000 }).catch(() => {});
    await admin.disconnect().catch(() => {});
  })();
  await Promise.race([cleanup, new Promise((r) => setTimeout(r, 3000).unref())]);
  process.exit(1);
}
