import type { Socket } from 'node:net';
import type { Consumer, ConsumerConfig, ICustomPartitioner, Kafka as KafkaType, KafkaConfig, SASLOptions } from 'kafkajs';
import { Kafka, Partitioners, logLevel } from './kafkajs.js';
import type { KafkaConnection } from '../core/kafka-connection.js';
import type { Logger } from '../core/logger.js';
import type { ServiceHealth } from '../core/service-health.js';
import { instanceId, removeEarlierIncarnations, taggedRoundRobin } from './group-membership.js';
import { isRetryEntry, KafkaReachability } from './reachability.js';
import { withDeadline } from './compacted-topic-reader.js';

/** A connector's handle on Kafka (pass it back to the functions of src/kafka). */
export type KafkaClient = KafkaType;

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

// kafkajs 2 warns at every start that its default partitioner changed; tideline
// uses the default (Java-compatible murmur2) partitioner on purpose.
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

/**
 * Noise filtered out of kafkajs logs. "Limiting retries for the idempotent
 * producer" is about re-sending after a give-up; tideline aborts the whole
 * Kafka transaction on any failed send instead, so the warning does not apply.
 */
const IGNORED_MESSAGES = [/^Limiting retries for the idempotent producer/];

/**
 * A kafkajs client for one connector, logging through the connector's logger
 * and reporting Kafka's reachability to its health (reachability.ts): retry
 * chatter goes to debug, an outage is one warn line and its end one info line.
 */
export function createKafka(connection: KafkaConnection, clientId: string, logger: Logger, health: ServiceHealth): KafkaType {
  const sockets = new Set<Socket>();
  // The probe's client is the one being built (`kafka`, below): same brokers, TLS and SASL.
  const reachability = new KafkaReachability(health, () => probeKafka(kafka));
  const config: KafkaConfig = {
    clientId: connection.clientId ?? clientId,
    brokers: connection.brokers,
    ssl: connection.ssl,
    socketFactory: reachability.socketFactory(sockets),
    connectionTimeout: 10_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
    // kafkajs is chatty at INFO (every group join); keep its WARN and above.
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      let level = LEVELS[entry.level] ?? 'info';
      const { message, ...rest } = entry.log;
      if (IGNORED_MESSAGES.some((pattern) => pattern.test(message))) return;
      if (reachability.observe(entry) || isRetryEntry(entry)) level = 'debug';
      logger[level]({ kafka: entry.namespace, ...rest }, message);
    },
  };
  if (connection.sasl) {
    config.sasl = {
      mechanism: connection.sasl.mechanism,
      username: connection.sasl.username,
      password: connection.sasl.password,
    } as SASLOptions;
  }
  const kafka = new Kafka(config);
  clients.set(kafka, { sockets, reachability });
  return kafka;
}

/** How long a reachability probe may take before it counts as failed. */
const PROBE_TIMEOUT_MS = 5_000;

/** Resolves when the cluster answers a metadata request on a fresh connection; no retries. */
async function probeKafka(kafka: KafkaType): Promise<void> {
  const admin = kafka.admin({ retry: { retries: 0 } });
  try {
    await withDeadline(admin.connect(), PROBE_TIMEOUT_MS, 'probe timed out');
  } finally {
    // Bounded too: a disconnect racing a connect that never finished can hang,
    // and a probe that never ends would end the probing, and with it the
    // outage's recovery (its sockets go with releaseKafka).
    await withDeadline(admin.disconnect(), PROBE_TIMEOUT_MS, 'probe disconnect timed out').catch(() => undefined);
  }
}

const clients = new WeakMap<KafkaType, { sockets: Set<Socket>; reachability: KafkaReachability }>();

/**
 * Ends every connection `kafka` still has open, once its connector has
 * disconnected its producers, consumers and admins. After a broker restart,
 * kafkajs (2.2.4) can leave broker connections open past disconnect(): a
 * fetch, heartbeat or metadata request in flight while its consumer crashed
 * and restarted reconnects on a broker object the disconnect no longer knows
 * (compare kafkajs issues #1327 and #1174). Such a socket kept a stopped
 * daemon alive until SIGKILL.
 */
export function releaseKafka(kafka: KafkaType): void {
  const client = clients.get(kafka);
  if (!client) return;
  client.reachability.close();
  for (const socket of client.sockets) socket.destroy();
  client.sockets.clear();
}

/**
 * kafkajs's default (Java-compatible murmur2) partitioner, skipped for
 * single-partition topics: hashing every key in JavaScript costs more than the
 * rest of the send path there, and the answer is always 0.
 */
export const keyPartitioner: ICustomPartitioner = () => {
  const murmur2 = Partitioners.DefaultPartitioner();
  return (args) => (args.partitionMetadata.length === 1 ? args.partitionMetadata[0]!.partitionId : murmur2(args));
};

/** What a consumer-group member may set; the rest are tideline's defaults. */
export type GroupConsumerSettings = { groupId: string } & Pick<ConsumerConfig, 'maxBytesPerPartition' | 'maxBytes' | 'maxWaitTimeInMs'>;

/**
 * A consumer-group member with tideline's defaults: read_committed; tagged
 * with this instance, so a restart after a crash removes the member the crash
 * left behind instead of waiting out its session (group-membership.ts); and a
 * 10 s session, the time another instance's crash holds its partitions.
 * kafkajs heartbeats from its fetch loop (and from eachBatch's heartbeat()).
 */
export function groupConsumer(kafka: KafkaType, settings: GroupConsumerSettings): Consumer {
  return kafka.consumer({
    readUncommitted: false,
    partitionAssigners: [taggedRoundRobin(instanceId())],
    sessionTimeout: 10_000,
    heartbeatInterval: 1_000,
    ...settings,
  });
}

/** Connects a group member, after removing the member an earlier crash of this instance left in the group. */
export async function joinGroup(kafka: KafkaType, consumer: Consumer, groupId: string, logger: Logger): Promise<void> {
  await removeEarlierIncarnations(kafka, groupId, instanceId(), logger);
  await consumer.connect();
}

/** Rejects when kafkajs gives the consumer up (a crash it will not restart from); never resolves. */
export function whenCrashed(consumer: Consumer): Promise<never> {
  const crashed = new Promise<never>((_, reject) => {
    consumer.on(consumer.events.CRASH, (event) => {
      if (!event.payload.restart) reject(event.payload.error);
    });
  });
  crashed.catch(() => undefined);
  return crashed;
}
