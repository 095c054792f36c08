/**
 * The `transform` processor: each input record through the step chain, the
 * survivors to the output topic (or where a route step sends them), exactly
 * once through ProcessorLoop. Stateless, so any instance can take any
 * partition at once.
 */
import type { ConnectSchema } from '../../core/connect-schema.js';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import type { Row } from '../../core/events.js';
import { createKafka, releaseKafka } from '../../kafka/client.js';
import { ProcessorLoop, type BatchContext } from '../../kafka/processor-loop.js';
import type { ConsumedMessage, OutputRecord, PartitionBatch } from '../../kafka/records.js';
import { TopicCreator } from '../../kafka/topic-creator.js';
import { metrics } from '../../metrics/registry.js';
import { IncompatibleSchemaError } from '../../registry/schema-registry.js';
import type { Converter, SchemaEntry } from '../../serde/index.js';
import { TransformChain, type ChainPlan } from './chain.js';
import type { RecordSchemas, TransformRecord, ValueShape } from './record.js';
import type { TransformConfig } from './spec.js';
import { createStep } from './steps.js';

interface Plan {
  chain: ChainPlan;
  /** Encoders of the plan's output schemas, by output topic (formats with a registry register per topic). */
  encoders: Map<string, Encoders>;
}

interface Encoders {
  key: Encoder;
  value: Encoder;
}

type Encoder = (payload: unknown) => Buffer | null;

const NO_SCHEMA = {};

/** Null payloads stay null (tombstones); a null schema writes schemaless messages. */
async function encoder(converter: Converter, topic: string, part: 'key' | 'value', schema: ConnectSchema | null): Promise<Encoder> {
  const encode = await converter.encoder(topic, part, schema);
  return (payload) => (payload === null ? null : encode.encode(payload));
}

/** Debezium's envelope has before, after and op; anything else is taken as a flat row. */
export function shapeOf(schema: ConnectSchema | null, payload: Row | null): ValueShape {
  if (schema) {
    const names = new Set(schema.fields?.map((field) => field.field));
    return names.has('after') && names.has('op') ? 'envelope' : 'row';
  }
  return payload === null || ('after' in payload && 'op' in payload) ? 'envelope' : 'row';
}

export class TransformProcessor implements Connector {
  private readonly config: TransformConfig;
  private readonly chain: TransformChain;
  /** Plans by key schema, value schema and shape (the schema cache bounds how many there are). */
  private readonly plans = new Map<object, Map<object, Partial<Record<ValueShape, Plan>>>>();
  private topics: TopicCreator | null = null;

  constructor(private readonly context: ConnectorContext<TransformConfig>) {
    this.config = context.config;
    this.chain = new TransformChain(this.config.steps.map(createStep));
  }

  async run(signal: AbortSignal): Promise<void> {
    const { name, logger } = this.context;
    const kafka = createKafka(this.context.kafka, `tideline-${name}`, logger, this.context.health);
    this.topics = new TopicCreator(kafka, this.config.outputPartitions);
    const loop = new ProcessorLoop({
      context: this.context as ConnectorContext<unknown>,
      kafka,
      stage: name,
      groupId: this.config.groupId ?? `tideline-${name}`,
      transactionalIdPrefix: `tideline-${name}`,
      topics: this.config.topics,
      deadLetterTopic: this.config.deadLetterTopic ?? `${name}.dlq`,
      handler: { processBatch: (batch, context) => this.processBatch(batch, context) },
    });
    const running = loop.run(signal);
    this.context.setState('running');
    try {
      await running;
    } finally {
      await this.topics.close();
      releaseKafka(kafka);
    }
  }

  private async processBatch(batch: PartitionBatch, context: BatchContext): Promise<OutputRecord[]> {
    const out: OutputRecord[] = [];
    const defaultTopic = this.config.outputTopic.replaceAll('{topic}', batch.topic);
    for (const message of batch.messages) {
      try {
        const result = await this.transform(batch.topic, message, defaultTopic);
        if (result) out.push(result);
      } catch (error) {
        context.deadLetter(message, describeError(error));
      }
    }
    await this.topics!.ensure(out.map((record) => record.topic));
    return out;
  }

  private async transform(topic: string, message: ConsumedMessage, defaultTopic: string): Promise<OutputRecord | null> {
    const { converter } = this.context;
    const key = message.key ? converter.decodeKey<Row | null>(message.key) : null;
    const value = message.value ? converter.decodeValue<Row | null>(message.value) : null;
    const plan = this.planFor(key?.schema ?? null, value?.schema ?? null, value?.value ?? null);
    const record: TransformRecord = { topic, key: key?.value ?? null, value: value?.value ?? null };
    const result = await this.chain.apply(record, plan.chain);
    if (!result.record) {
      metrics.processorEventsFiltered.inc({ connector: this.context.name, step: result.droppedBy ?? 'unknown' });
      return null;
    }
    const outputTopic = result.record.destination ?? defaultTopic;
    const encoders = plan.encoders.get(outputTopic) ?? (await this.encodersFor(plan, outputTopic));
    const output: OutputRecord = {
      topic: outputTopic,
      key: encoders.key(result.record.key),
      value: encoders.value(result.record.value),
    };
    if (message.headers) output.headers = message.headers as OutputRecord['headers'] & object;
    if (message.timestamp) output.timestamp = message.timestamp;
    return output;
  }

  private planFor(keyEntry: SchemaEntry | null, valueEntry: SchemaEntry | null, payload: Row | null): Plan {
    const shape = shapeOf(valueEntry?.schema ?? null, payload);
    // Keyed by the cache entries themselves: no per-message string building.
    if (this.plans.size > 256) this.plans.clear(); // old schemas, once the caches started over
    let byValue = this.plans.get(keyEntry ?? NO_SCHEMA);
    if (!byValue) this.plans.set(keyEntry ?? NO_SCHEMA, (byValue = new Map()));
    const id = valueEntry ?? NO_SCHEMA;
    let plans = byValue.get(id);
    if (!plans) byValue.set(id, (plans = {}));
    let plan = plans[shape];
    if (!plan) {
      const input: RecordSchemas = { shape, key: keyEntry?.schema ?? null, value: valueEntry?.schema ?? null };
      plan = plans[shape] = { chain: this.chain.plan(input), encoders: new Map() };
    }
    return plan;
  }

  /**
   * The encoders of a plan's output schemas for `topic` (made once per topic:
   * a registry format registers the schemas under the topic's subjects). A
   * refused schema fails the message, which goes to the dead-letter topic.
   */
  private async encodersFor(plan: Plan, topic: string): Promise<Encoders> {
    const { converter } = this.context;
    try {
      const encoders = { key: await encoder(converter, topic, 'key', plan.chain.output.key), value: await encoder(converter, topic, 'value', plan.chain.output.value) };
      plan.encoders.set(topic, encoders);
      return encoders;
    } catch (error) {
      if (error instanceof IncompatibleSchemaError) throw new Error(`the schema registry refused the result schema for topic ${topic}: ${error.message}`);
      throw error;
    }
  }

}

/** JSONata throws plain objects ({code, message, position}); make every error a readable line. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'message' in error) {
    const { message, code } = error as { message: unknown; code?: unknown };
    return code ? `${String(message)} (JSONata ${String(code)})` : String(message);
  }
  return String(error);
}
