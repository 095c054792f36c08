import type { Consumer, ConsumerConfig, ICustomPartitioner, Kafka as KafkaType, KafkaConfig, SASLOptions } from 'kafkajs';
import { Kafka, Partitioners, logLevel } from './kafkajs.js';
import type { KafkaConnection } from '../core/kafka-connection.js';
import type { Logger } from '../core/logger.js';
import { instanceId, removeEarlierIncarnations, taggedRoundRobin } from './group-membership.js';

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

/** A kafkajs client for one connector, logging through the daemon's logger. */
export function createKafka(connection: KafkaConnection, clientId: string, logger: Logger): KafkaType {
  const config: KafkaConfig = {
    clientId: connection.clientId ?? clientId,
    brokers: connection.brokers,
    ssl: connection.ssl,
    connectionTimeout: 10_000,
    requestTimeout: 30_000,
    retry: { initialRetryTime: 300, retries: 8, maxRetryTime: 10_000 },
    // kafkajs is chatty at INFO (every group join); keep its WARN and above.
    logLevel: logLevel.WARN,
    logCreator: () => (entry) => {
      const level = LEVELS[entry.level] ?? 'info';
      const { message, ...rest } = entry.log;
      if (IGNORED_MESSAGES.some((pattern) => pattern.test(message))) return;
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
  return new Kafka(config);
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
