/**
 * Read-only views of a consumer group's progress for the admin API: the
 * offsets a group committed and how far they are behind the topics' ends.
 * Nothing here joins a group or moves an offset.
 */
import type { Kafka } from 'kafkajs';
import type { ConsumerGroupInput, StoredOffset } from '../core/connector.js';
import type { KafkaConnection } from '../core/kafka-connection.js';
import type { Logger } from '../core/logger.js';
import type { ServiceHealth } from '../core/service-health.js';
import { createKafka, releaseKafka } from './client.js';
import { withDeadline } from './compacted-topic-reader.js';
import { resolveTopics } from './topic-patterns.js';
import { withAdmin } from './topics.js';

export interface CommittedOffset {
  topic: string;
  partition: number;
  /** The next offset the group reads. */
  offset: string;
}

/** A health that tells nobody: a short-lived admin look-up is no connector's outage. */
const unobserved: ServiceHealth = {
  unreachable: () => undefined,
  reachable: () => undefined,
  isUnreachable: () => false,
};

/**
 * Runs `work` on a short-lived Kafka client of `connection` (its sockets are
 * released afterwards), failing after `timeoutMs` rather than waiting out
 * kafkajs's retries while Kafka is down.
 */
export async function withKafka<T>(connection: KafkaConnection, clientId: string, logger: Logger, timeoutMs: number, work: (kafka: Kafka) => Promise<T>): Promise<T> {
  const kafka = createKafka(connection, clientId, logger, unobserved);
  try {
    return await withDeadline(work(kafka), timeoutMs, `Kafka did not answer within ${timeoutMs / 1000} s`);
  } finally {
    releaseKafka(kafka);
  }
}

/** The existing topics a group's `topics` (names or patterns) stand for now. */
function presentTopics(group: Pick<ConsumerGroupInput, 'topics' | 'excludeTopics'>, existing: readonly string[]): string[] {
  const all = new Set(existing);
  return resolveTopics(group.topics, existing, group.excludeTopics).filter((topic) => all.has(topic));
}

/** The offsets `groupId` committed for `topics` (names or patterns; partitions it never committed are left out). */
export async function readGroupOffsets(kafka: Kafka, groupId: string, topics: readonly string[], excludeTopics: readonly string[] = []): Promise<CommittedOffset[]> {
  if (topics.length === 0) return [];
  const existing = await withAdmin(kafka, (admin) => admin.listTopics());
  const present = presentTopics({ topics: [...topics], excludeTopics: [...excludeTopics] }, existing);
  if (present.length === 0) return [];
  const fetched = await withAdmin(kafka, (admin) => admin.fetchOffsets({ groupId, topics: present }));
  const offsets: CommittedOffset[] = [];
  for (const { topic, partitions } of fetched) {
    for (const { partition, offset } of partitions) if (BigInt(offset) >= 0n) offsets.push({ topic, partition, offset });
  }
  return offsets;
}

export interface PartitionLag {
  group: string;
  topic: string;
  partition: number;
  /** End offset (high watermark) minus the group's next offset; a partition never committed counts from its first offset. */
  lag: number;
}

/** How many offsets each input partition of `groups` is behind its topic's end. */
export async function consumerLag(kafka: Kafka, groups: readonly ConsumerGroupInput[]): Promise<PartitionLag[]> {
  return withAdmin(kafka, async (admin) => {
    const existing = await admin.listTopics();
    const lags: PartitionLag[] = [];
    const ends = new Map<string, { partition: number; high: string; low: string }[]>();
    for (const group of groups) {
      const topics = presentTopics(group, existing);
      if (topics.length === 0) continue;
      const committed = new Map<string, bigint>();
      for (const { topic, partitions } of await admin.fetchOffsets({ groupId: group.groupId, topics })) {
        for (const { partition, offset } of partitions) if (BigInt(offset) >= 0n) committed.set(`${topic}:${partition}`, BigInt(offset));
      }
      for (const topic of topics) {
        let offsets = ends.get(topic);
        if (!offsets) ends.set(topic, (offsets = await admin.fetchTopicOffsets(topic)));
        for (const { partition, high, low } of offsets) {
          const next = committed.get(`${topic}:${partition}`) ?? BigInt(low);
          const behind = BigInt(high) - next;
          lags.push({ group: group.groupId, topic, partition, lag: behind > 0n ? Number(behind) : 0 });
        }
      }
    }
    return lags;
  });
}

/** The offsets of every group a processor reads through, as the admin API shows them. */
export async function readConsumerGroupOffsets(connection: KafkaConnection, name: string, logger: Logger, groups: readonly ConsumerGroupInput[]): Promise<StoredOffset[]> {
  return withKafka(connection, `tideline-${name}-admin`, logger, 15_000, async (kafka) => {
    const offsets: StoredOffset[] = [];
    for (const group of groups) {
      for (const { topic, partition, offset } of await readGroupOffsets(kafka, group.groupId, group.topics, group.excludeTopics)) offsets.push({ type: 'kafka', topic, partition, offset });
    }
    return offsets;
  });
}
