/**
 * The `aggregate` processor: two exactly-once stages (ProcessorLoop each).
 *
 *  1. repartition (group <groupId>.repartition): reads the input topics,
 *     applies the filter, evaluates group, event time and aggregate inputs, and
 *     writes a compact record keyed by the group to <name>.repartition. Every
 *     event of a group then lands in one partition, whichever input partition
 *     it came from.
 *  2. aggregate (group <groupId>): reads <name>.repartition; per partition it
 *     keeps the open windows in memory (StateStore) and, per batch, in one
 *     transaction: the updated results (upserts), the changelog records of the
 *     changed and closed windows, and the consumer offset.
 *
 * With `repartition: false` stage 1 is skipped and stage 2 reads the input
 * topic itself (it must already be partitioned by the group).
 */
import type { Admin, Kafka, KafkaMessage } from 'kafkajs';
import type { Connector, ConnectorContext } from '../../core/connector.js';
import type { Row } from '../../core/events.js';
import { createKafka } from '../../kafka/client.js';
import { ensureTopics, waitForTopics } from '../../kafka/topics.js';
import { metrics } from '../../metrics/registry.js';
import { readPartitionsToEnd } from '../changelog-reader.js';
import { partitionForKey } from '../partitioner.js';
import { ProcessorLoop, type BatchContext, type OutputRecord, type PartitionBatch, type TopicPartition } from '../processor-loop.js';
import { SchemaCache } from '../schema-cache.js';
import { describeError } from '../transform/transform-processor.js';
import { AggregateInputError, createAggregator, toNumber, type AggregateFunction } from './aggregators.js';
import { decodeRepartitioned, encodeRepartitioned, EventExtractor, groupColumns, type AggregateInput } from './extract.js';
import { ResultEncoder, type ResultColumn } from './results.js';
import type { AggregateConfig } from './spec.js';
import { changelogEntry, changelogWatermark, PartitionState, StateStore, type WindowEntry } from './state-store.js';
import { assignWindows, type WindowSpec } from './windows.js';

export class AggregateProcessor implements Connector {
  private readonly config: AggregateConfig;
  private readonly extractor: EventExtractor;
  private readonly values = new SchemaCache<null>(() => null);
  private readonly columns: ResultColumn[];
  private readonly encoder: ResultEncoder;
  private readonly spec: WindowSpec;
  private readonly store: StateStore;
  readonly repartitionTopic: string;
  readonly changelogTopic: string;
  private kafka: Kafka | null = null;
  /** Partitions of <name>.repartition: records name theirs (no per-record partitioner call). */
  private repartitionPartitions = 1;

  constructor(private readonly context: ConnectorContext<AggregateConfig>) {
    const config = context.config;
    this.config = config;
    this.extractor = new EventExtractor(config);
    this.spec = { sizeMs: config.window.size, advanceMs: config.window.advance ?? config.window.size, allowedLatenessMs: config.allowedLateness };
    this.store = new StateStore(this.spec);
    this.columns = Object.entries(config.aggregates).map(([name, aggregate]) => {
      const fn = aggregate.fn as AggregateFunction;
      const type = aggregate.type ?? (fn === 'count' || fn === 'countDistinct' ? 'int64' : 'double');
      return { name, fn, type, aggregator: createAggregator(fn, name, { maxDistinctValues: config.maxDistinctValues, hasExpression: Boolean(aggregate.expression) }) };
    });
    const table = config.table ?? context.name.replace(/[^A-Za-z0-9_]/g, '_');
    this.encoder = new ResultEncoder(config.outputTopic, groupColumns(config), this.columns, this.spec.sizeMs, { processor: context.name, table });
    this.repartitionTopic = `${context.name}.repartition`;
    this.changelogTopic = `${context.name}.changelog`;
  }

  async run(signal: AbortSignal): Promise<void> {
    const { name, logger } = this.context;
    const kafka = createKafka(this.context.kafka, `tideline-${name}`, logger);
    this.kafka = kafka;
    const groupId = this.config.groupId ?? `tideline-${name}`;
    const deadLetterTopic = this.config.deadLetterTopic ?? `${name}.dlq`;
    await this.prepareTopics(kafka, signal);
    if (signal.aborted) return;

    // Either stage failing stops the other: the supervisor restarts both.
    const stop = new AbortController();
    const onAbort = () => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const loops: ProcessorLoop[] = [];
    if (this.config.repartition) {
      loops.push(
        new ProcessorLoop({
          context: this.context as ConnectorContext<unknown>,
          kafka,
          stage: `${name}.repartition`,
          groupId: `${groupId}.repartition`,
          transactionalIdPrefix: `tideline-${name}.repartition`,
          topics: this.config.topics,
          deadLetterTopic,
          handler: { processBatch: (batch, context) => this.repartitionBatch(batch, context) },
        }),
      );
    }
    loops.push(
      new ProcessorLoop({
        context: this.context as ConnectorContext<unknown>,
        kafka,
        stage: name,
        groupId,
        transactionalIdPrefix: `tideline-${name}`,
        topics: this.config.repartition ? [this.repartitionTopic] : this.config.topics,
        deadLetterTopic,
        handler: {
          onAssigned: (partitions, heartbeat) => this.restore(partitions, heartbeat),
          processBatch: (batch, context) => this.aggregateBatch(batch, context),
        },
      }),
    );
    this.context.setState('running');
    try {
      await Promise.all(
        loops.map((loop) =>
          loop.run(stop.signal).catch((error: unknown) => {
            stop.abort();
            throw error;
          }),
        ),
      );
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  /** Creates the repartition, changelog and output topics; the changelog matches the aggregated topic's partitions. */
  private async prepareTopics(kafka: Kafka, signal: AbortSignal): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitForTopics(admin, this.config.topics, signal, (missing) => {
        this.context.setState('degraded', `waiting for topics: ${missing.join(', ')}`);
      });
      if (signal.aborted) return;
      const partitions = this.config.partitions ?? (await partitionCount(admin, this.config.topics[0]!));
      if (this.config.repartition) {
        await ensureTopics(admin, [{ topic: this.repartitionTopic, partitions }]);
        this.repartitionPartitions = await partitionCount(admin, this.repartitionTopic);
      }
      const aggregated = this.config.repartition ? this.repartitionTopic : this.config.topics[0]!;
      const statePartitions = await partitionCount(admin, aggregated);
      await ensureTopics(admin, [
        // The dead-letter topic too: the two stages would race to create it.
        { topic: this.config.deadLetterTopic ?? `${this.context.name}.dlq`, partitions: 1 },
        { topic: this.changelogTopic, partitions: statePartitions, configs: { 'cleanup.policy': 'compact' } },
        { topic: this.config.outputTopic, partitions: this.config.outputPartitions, configs: { 'cleanup.policy': 'compact' } },
      ]);
      const changelogPartitions = await partitionCount(admin, this.changelogTopic);
      if (changelogPartitions !== statePartitions) {
        throw new Error(`${this.changelogTopic} has ${changelogPartitions} partitions but ${aggregated} has ${statePartitions}: they must match`);
      }
    } finally {
      await admin.disconnect();
    }
  }

  private async repartitionBatch(batch: PartitionBatch, context: BatchContext): Promise<OutputRecord[]> {
    const out: OutputRecord[] = [];
    let filtered = 0;
    for (const message of batch.messages) {
      if (!message.value) continue; // tombstone: the delete before it was aggregated (or filtered)
      try {
        const input = await this.extract(batch.topic, message);
        if (!input) {
          filtered += 1;
          continue;
        }
        const { key, value } = encodeRepartitioned(input);
        const record: OutputRecord = { topic: this.repartitionTopic, partition: partitionForKey(key, this.repartitionPartitions), key, value };
        if (message.timestamp) record.timestamp = message.timestamp;
        out.push(record);
      } catch (error) {
        context.deadLetter(message, describeError(error));
      }
    }
    if (filtered > 0) metrics.processorEventsFiltered.inc({ connector: `${this.context.name}.repartition`, step: 'filter' }, filtered);
    return out;
  }

  private async extract(topic: string, message: KafkaMessage): Promise<AggregateInput | null> {
    const { payload } = this.values.decode<Row | null>(message.value!);
    if (!payload || typeof payload !== 'object') throw new AggregateInputError('message value is not a JSON object');
    return this.extractor.extract(payload, { topic });
  }

  /** Restores the owned partitions' windows from the changelog (after every assignment). */
  private async restore(partitions: readonly TopicPartition[], heartbeat: () => Promise<void>): Promise<void> {
    const numbers = partitions.map((tp) => tp.partition);
    const started = Date.now();
    this.store.reset(numbers);
    const read = await readPartitionsToEnd(
      this.kafka!,
      this.changelogTopic,
      numbers,
      (partition, message) => this.store.partition(partition)?.restore(message),
      { heartbeat },
    );
    const seconds = (Date.now() - started) / 1000;
    metrics.processorStateRestore.observe({ connector: this.context.name }, seconds);
    metrics.processorStateEntries.set({ connector: this.context.name }, this.store.size);
    this.context.logger.info({ partitions: numbers, records: read, windows: this.store.size, seconds }, 'restored state from the changelog');
  }

  private async aggregateBatch(batch: PartitionBatch, context: BatchContext): Promise<OutputRecord[]> {
    const state = this.store.partition(batch.partition);
    if (!state) throw new Error(`partition ${batch.partition} of ${batch.topic} has no state (not restored)`);
    const touched = new Map<string, WindowEntry>();
    const watermarkBefore = state.watermark;
    let late = 0;
    let filtered = 0;
    for (const message of batch.messages) {
      if (!message.value) continue;
      try {
        const input = this.config.repartition ? decodeRepartitioned(message.value) : await this.extract(batch.topic, message);
        if (!input) {
          filtered += 1;
          continue;
        }
        this.checkInputs(input);
        state.watermark = Math.max(state.watermark, input.ts);
        const { open, late: isLate } = assignWindows(input.ts, this.spec, state.watermark);
        if (isLate) late += 1;
        for (const start of open) this.accumulate(state, touched, input, start);
      } catch (error) {
        context.deadLetter(message, describeError(error));
      }
    }
    const out = this.emit(batch.partition, state, touched, watermarkBefore);
    const labels = { connector: this.context.name };
    if (late > 0) metrics.processorLateEvents.inc(labels, late);
    if (filtered > 0) metrics.processorEventsFiltered.inc({ ...labels, step: 'filter' }, filtered);
    metrics.processorStateEntries.set(labels, this.store.size);
    return out;
  }

  /** Number-valued aggregates must get numbers: checked before any window changes. */
  private checkInputs(input: AggregateInput): void {
    this.columns.forEach((column, index) => {
      const value = input.values[index];
      if (column.fn !== 'count' && column.fn !== 'countDistinct' && value !== null && value !== undefined) toNumber(value, column.name);
    });
  }

  private accumulate(state: PartitionState, touched: Map<string, WindowEntry>, input: AggregateInput, start: number): void {
    const key = PartitionState.entryKey(input.group, start);
    let entry = state.get(key);
    if (!entry) {
      entry = { group: input.group, start, seq: 0, accumulators: this.columns.map((column) => column.aggregator.initial()), maxTs: input.ts };
      state.set(key, entry);
    }
    this.columns.forEach((column, index) => {
      entry.accumulators[index] = column.aggregator.add(entry.accumulators[index]!, input.values[index]);
    });
    entry.maxTs = Math.max(entry.maxTs, input.ts);
    touched.set(key, entry);
  }

  /** Results of the changed windows, their changelog records, closed windows' tombstones, the watermark. */
  private emit(partition: number, state: PartitionState, touched: Map<string, WindowEntry>, watermarkBefore: number): OutputRecord[] {
    const out: OutputRecord[] = [];
    const now = Date.now();
    for (const entry of touched.values()) {
      entry.seq += 1;
      out.push({ topic: this.config.outputTopic, ...this.encoder.encode(entry, now) });
    }
    const evicted = new Set(state.evictClosed());
    for (const [key, entry] of touched) {
      if (!evicted.has(key)) out.push({ topic: this.changelogTopic, partition, ...changelogEntry(key, entry) });
    }
    for (const key of evicted) out.push({ topic: this.changelogTopic, partition, ...changelogEntry(key, null) });
    if (state.watermark !== watermarkBefore) out.push({ topic: this.changelogTopic, partition, ...changelogWatermark(state.watermark) });
    return out;
  }
}

async function partitionCount(admin: Admin, topic: string): Promise<number> {
  const metadata = await admin.fetchTopicMetadata({ topics: [topic] });
  return metadata.topics[0]?.partitions.length ?? 1;
}
