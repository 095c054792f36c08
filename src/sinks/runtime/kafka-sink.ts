/**
 * A sink connector from a writer: the runtime on a real consumer group and
 * dead-letter topic. A warehouse's Connector.run is one call to runKafkaSink.
 */
import type { ConnectorContext } from '../../core/connector.js';
import { createKafka, releaseKafka } from '../../kafka/client.js';
import { DeadLetterWriter } from '../../kafka/dead-letters.js';
import { KafkaGroupConsumer } from '../../kafka/group-consumer.js';
import { hasTopicPatterns } from '../../kafka/topic-patterns.js';
import { listTopics } from '../../kafka/topics.js';
import { SinkRuntime, type SinkSettings, type TopicWatch } from './sink-runtime.js';
import { TopicDiscovery } from './topic-discovery.js';
import type { SinkWriter } from './writer.js';

/**
 * The largest fetch. A batch fills from several fetches; a smaller fetch
 * lets the first write start sooner (at maxBatchDelayMs instead of after a
 * whole 16 MiB fetch was decoded), so that the next records are converted
 * while it runs: the sink's pipeline starts a fetch or two into a backlog.
 */
const MAX_FETCH_BYTES = 4 * 1024 * 1024;

/** Default of topicDiscoveryIntervalMs. */
export const TOPIC_DISCOVERY_INTERVAL_MS = 10_000;

/** The settings every sink has (the ClickHouse sink's config holds them). */
export interface KafkaSinkConfig extends SinkSettings {
  /** Topic names and glob patterns (src/kafka/topic-patterns.ts). */
  topics: string[];
  /** With patterns: how often the matching topics are looked up. Default TOPIC_DISCOVERY_INTERVAL_MS. */
  topicDiscoveryIntervalMs?: number | undefined;
  /** Default: tideline-<connector name>. */
  groupId?: string | undefined;
  /** Default: <connector name>.dlq. */
  deadLetterTopic?: string | undefined;
}

export async function runKafkaSink<Prepared>(
  context: ConnectorContext<unknown>,
  config: KafkaSinkConfig,
  writer: SinkWriter<Prepared>,
  signal: AbortSignal,
): Promise<void> {
  const { name, logger } = context;
  const kafka = createKafka(context.kafka, `tideline-${name}`, logger, context.health);
  const deadLetterTopic = config.deadLetterTopic ?? `${name}.dlq`;
  try {
    let topics: readonly string[] = config.topics;
    let watch: TopicWatch | undefined;
    if (hasTopicPatterns(config.topics)) {
      const discovery = new TopicDiscovery({
        entries: config.topics,
        exclude: [deadLetterTopic],
        intervalMs: config.topicDiscoveryIntervalMs ?? TOPIC_DISCOVERY_INTERVAL_MS,
        listTopics: () => listTopics(kafka),
      });
      // A group cannot join subscribed to nothing: wait for a first match.
      topics = await discovery.firstMatch(signal, () => {
        context.setState('degraded', `waiting for topics matching ${discovery.patterns.join(', ')}`);
        logger.info({ patterns: discovery.patterns }, 'no topic matches the patterns yet');
      });
      if (signal.aborted) return;
      logger.info({ topics }, 'topics matching the patterns');
      watch = { initial: topics, intervalMs: discovery.intervalMs, resolve: () => discovery.resolve() };
    }
    const consumer = new KafkaGroupConsumer(
      kafka,
      {
        groupId: config.groupId ?? `tideline-${name}`,
        topics,
        maxBytes: Math.min(config.maxBatchBytes, MAX_FETCH_BYTES),
        onWaitingForTopics: (missing) => {
          context.setState('degraded', `waiting for topics: ${missing.join(', ')}`);
          logger.info({ missing }, 'waiting for topics to be created');
        },
      },
      logger,
    );
    const deadLetters = new DeadLetterWriter(kafka, deadLetterTopic, name);
    await new SinkRuntime({ context, settings: config, writer, consumer, deadLetters, ...(watch && { topics: watch }) }).run(signal);
  } finally {
    releaseKafka(kafka);
  }
}
