import type { Admin, Kafka } from 'kafkajs';

/** Kafka's admin client, as withAdmin lends it. */
export type TopicAdmin = Admin;

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Kafka topic configs, e.g. { 'cleanup.policy': 'compact' }. */
  configs?: Record<string, string>;
}

/** Kafka's admin client, for the duration of `work`. */
export async function withAdmin<T>(kafka: Kafka, work: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Every topic of the cluster (Kafka's metadata), internal ones included. */
export async function listTopics(kafka: Kafka): Promise<string[]> {
  return withAdmin(kafka, (admin) => admin.listTopics());
}

/**
 * Creates the topics that do not exist yet. Existing topics are left as they
 * are (their partition count is the operator's decision once data is in them).
 */
export async function ensureTopics(admin: Admin, specs: readonly TopicSpec[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = specs.filter((spec) => !existing.has(spec.topic));
  if (missing.length === 0) return [];
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((spec) => ({
      topic: spec.topic,
      numPartitions: spec.partitions,
      replicationFactor: -1, // the broker's default.replication.factor
      configEntries: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
    })),
  });
  return missing.map((spec) => spec.topic);
}

/**
 * Waits until every topic exists (another connector may create it), checking
 * every `intervalMs`; `onWaiting` is told which ones are still missing.
 */
export async function waitForTopics(
  admin: Admin,
  topics: readonly string[],
  signal: AbortSignal,
  onWaiting: (missing: string[]) => void,
  intervalMs = 2_000,
): Promise<void> {
  for (;;) {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((topic) => !existing.has(topic));
    if (missing.length === 0 || signal.aborted) return;
    onWaiting(missing);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The number of partitions of `topic` (1 if the metadata names none). */
export async function partitionCount(admin: Admin, topic: string): Promise<number> {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0]?.partitions.length ?? 1;
}
