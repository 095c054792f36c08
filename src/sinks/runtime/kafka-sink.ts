/**
 * A sink connector from a writer: the runtime on a real consumer group and
 * dead-letter topic. A warehouse's Connector.run is one call to runKafkaSink.
 */
import type { ConnectorContext } from '../../core/connector.js';
import { createKafka, releaseKafka } from '../../kafka/client.js';
import { DeadLetterWriter } from '../../kafka/dead-letters.js';
import { KafkaGroupConsumer } from '../../kafka/group-consumer.js';
import { SinkRuntime, type SinkSettings } from './sink-runtime.js';
import type { SinkWriter } from './writer.js';

/** The settings every sink has (the ClickHouse sink's config holds them). */
export interface KafkaSinkConfig extends SinkSettings {
  topics: string[];
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
  const consumer = new KafkaGroupConsumer(
    kafka,
    {
      groupId: config.groupId ?? `tideline-${name}`,
      topics: config.topics,
      maxBytes: config.maxBatchBytes,
      onWaitingForTopics: (missing) => {
        context.setState('degraded', `waiting for topics: ${missing.join(', ')}`);
        logger.info({ missing }, 'waiting for topics to be created');
      },
    },
    logger,
  );
  const deadLetters = new DeadLetterWriter(kafka, config.deadLetterTopic ?? `${name}.dlq`, name);
  try {
    await new SinkRuntime({ context, settings: config, writer, consumer, deadLetters }).run(signal);
  } finally {
    releaseKafka(kafka);
  }
}
