// Readiness check for a Kafka broker, used by stack/up and test/support/global-setup.ts.
//
//   node stack/lib/kafka-probe.mjs <brokers, comma separated> [timeout seconds]
//
// "Port open" is not "ready": on a fresh broker the first transactional producer
// finds no __transaction_state topic, the coordinator creates it and reports
// COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE for a while. This
// script retries until a transaction that also commits consumer offsets (so the
// group coordinator and __consumer_offsets exist too) succeeds end to end.
// Exit 0 when ready, 1 with the last error on timeout.

import { Kafka, logLevel } from 'kafkajs';

const PROBE_TOPIC = 'tideline-stack-probe';
const PROBE_GROUP = 'tideline-stack-probe';

const brokers = (process.argv[2] ?? '').split(',').filter(Boolean);
const timeoutMs = Number(process.argv[3] ?? 120) * 1000;
if (brokers.length === 0) {
  console.error('usage: kafka-probe.mjs <brokers> [timeout-seconds]');
  process.exit(2);
}

const kafka = new Kafka({
  clientId: 'tideline-stack-probe',
  brokers,
  connectionTimeout: 3000,
  requestTimeout: 10000,
  // Errors while the broker is still starting are expected; the last one is printed.
  logLevel: logLevel.NOTHING,
  retry: { retries: 3, initialRetryTime: 200 },
});

async function ensureTopic() {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    if (!topics.includes(PROBE_TOPIC)) {
      await admin.createTopics({
        topics: [{ topic: PROBE_TOPIC, numPartitions: 1, replicationFactor: 1 }],
        waitForLeaders: true,
      });
    }
  } finally {
    await admin.disconnect();
  }
}

async function transactionalProduce() {
  const producer = kafka.producer({
    transactionalId: 'tideline-stack-probe',
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    const tx = await producer.transaction();
    try {
      await tx.send({ topic: PROBE_TOPIC, messages: [{ key: 'probe', value: new Date().toISOString() }] });
      await tx.sendOffsets({
        consumerGroupId: PROBE_GROUP,
        topics: [{ topic: PROBE_TOPIC, partitions: [{ partition: 0, offset: '0' }] }],
      });
      await tx.commit();
    } catch (err) {
      await tx.abort().catch(() => {});
      throw err;
    }
  } finally {
    await producer.disconnect();
  }
}

const deadline = Date.now() + timeoutMs;
let lastError;
let attempts = 0;
while (Date.now() < deadline) {
  attempts += 1;
  try {
    await ensureTopic();
    await transactionalProduce();
    process.exit(0);
  } catch (err) {
    lastError = err;
    await new Promise((r) => setTimeout(r, 1000));
  }
}
console.error(
  `kafka probe: broker ${brokers.join(',')} not ready after ${attempts} attempts: ${lastError?.stack ?? lastError}`,
);
process.exit(1);
