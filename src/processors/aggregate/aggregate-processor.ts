/**
 * The `aggregate` processor: two exactly-once stages (ProcessorLoop each).
 *
 *  1. repartition (group <groupId>.repartition): reads the input topics,
 *     applies the filter, evaluates group, event time and aggregate inputs, and
 *     writes compact change records keyed by the group to <name>.repartition.
 *     Every change of a group then lands in one partition, whichever input
 *     partition it came from.
 *     Mode event: one addition per event. Mode table: this stage also keeps
 *     the last image of each input row (ImageStore, backed by <name>.images),
 *     in the input partition of the row's key, where its events arrive in
 *     order; a new version sends the retraction of the previous image and the
 *     addition of the new one (one record if the group stays, one to each
 *     group if it moved), a delete the retraction alone.
 *  2. aggregate (group <groupId>): reads <name>.repartition; per partition it
 *     keeps the open windows in memory (StateStore), applies the signed
 *     changes (WindowAggregation) and, per batch, in one transaction: the
 *     updated results (upserts, or deletes of emptied groups), the changelog
 *     records of the changed and closed windows, and the consumer offset.
 *
 * With `repartition: false` (mode event only) stage 1 is skipped and stage 2
 * reads the input topic itself (it must already be partitioned by the group).
 */
import type { Connector, ConnectorContext } from '../../core/connector.js';
import type { Row } from '../../core/events.js';
import { stringifyJson } from '../../serde/json/lossless.js';
import { createKafka, releaseKafka, type KafkaClient } from '../../kafka/client.js';
import { readTopicToEnd } from '../../kafka/compacted-topic-reader.js';
import { partitionForKey } from '../../kafka/partitioner.js';
import { ProcessorLoop, type BatchContext } from '../../kafka/processor-loop.js';
import type { ConsumedMessage, OutputRecord, PartitionBatch, TopicPartition } from '../../kafka/records.js';
import { ensureTopics, partitionCount, waitForTopics, withAdmin, type TopicAdmin } from '../../kafka/topics.js';
import { metrics } from '../../metrics/registry.js';
import { describeError } from '../transform/transform-processor.js';
import { AggregateInputError, createAggregator, distinctText, isNull, toNumber, type AggregateFunction } from './aggregators.js';
import { additionOf, decodeChange, encodeChange, type GroupChange } from './changes.js';
import { EventExtractor, groupColumns, type AggregateInput } from './extract.js';
import { ResultEncoder, type ResultColumn } from './results.js';
import { IncompatibleSchemaError } from '../../registry/schema-registry.js';
import { createRetractableAggregator } from './retractable.js';
import { ImageStore, type RowImage } from './row-images.js';
import type { AggregateConfig } from './spec.js';
import { StateStore, type WindowEntry } from './state-store.js';
import { WindowAggregation } from './window-aggregation.js';
import type { WindowSpec } from './windows.js';

/** A restore (changelog or row images) that takes longer fails the connector. */
const RESTORE_TIMEOUT_MS = 300_000;

export class AggregateProcessor implements Connector {
  private readonly config: AggregateConfig;
  private readonly extractor: EventExtractor;
  private readonly columns: ResultColumn[];
  /** Made by run(): with a schema registry, making it registers the result schemas. */
  private encoder: ResultEncoder | null = null;
  private readonly resultTable: string;
  private readonly spec: WindowSpec;
  private readonly store: StateStore;
  private readonly windows: WindowAggregation;
  /** Mode table: the last image of each input row (stage 1). */
  private readonly images = new ImageStore();
  readonly repartitionTopic: string;
  readonly changelogTopic: string;
  readonly imagesTopic: string;
  private kafka: KafkaClient | null = null;
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
      const options = { maxDistinctValues: config.maxDistinctValues, hasExpression: Boolean(aggregate.expression) };
      const aggregator = config.mode === 'table' ? createRetractableAggregator(fn, name, options) : createAggregator(fn, name, options);
      return { name, fn, type, aggregator };
    });
    this.windows = new WindowAggregation(this.columns, this.spec);
    const table = config.table ?? context.name.replace(/[^A-Za-z0-9_]/g, '_');
    this.resultTable = table;
    this.repartitionTopic = `${context.name}.repartition`;
    this.changelogTopic = `${context.name}.changelog`;
    this.imagesTopic = `${context.name}.images`;
  }

  async run(signal: AbortSignal): Promise<void> {
    const kafka = createKafka(this.context.kafka, `tideline-${this.context.name}`, this.context.logger, this.context.health);
    this.kafka = kafka;
    // At zero from the start, so that the first late event is an increase.
    metrics.processorLateEvents.inc({ connector: this.context.name }, 0);
    try {
      await this.runStages(kafka, signal);
    } finally {
      releaseKafka(kafka);
    }
  }

  /** Prepares the topics, then runs the repartition stage (if any) and the aggregation stage until `signal`. */
  private async runStages(kafka: KafkaClient, signal: AbortSignal): Promise<void> {
    const { name } = this.context;
    const groupId = this.config.groupId ?? `tideline-${name}`;
    const deadLetterTopic = this.config.deadLetterTopic ?? `${name}.dlq`;
    await this.prepareTopics(kafka, signal);
    if (signal.aborted) return;
    await this.createEncoder();

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
          handler:
            this.config.mode === 'table'
              ? { onAssigned: (partitions, heartbeat) => this.restoreImages(partitions, heartbeat), processBatch: (batch, context) => this.tableRepartitionBatch(batch, context) }
              : { processBatch: (batch, context) => this.repartitionBatch(batch, context) },
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

  private async createEncoder(): Promise<void> {
    try {
      this.encoder = await ResultEncoder.create(this.context.converter, this.config.outputTopic, groupColumns(this.config), this.columns, this.spec.sizeMs, {
        processor: this.context.name,
        table: this.resultTable,
      });
    } catch (error) {
      if (error instanceof IncompatibleSchemaError) throw new Error(`the schema registry refused the result schema of ${this.config.outputTopic} (the aggregates or group columns changed incompatibly): ${error.message}`);
      throw error;
    }
  }

  /** The result encoder (made by run() or openRebuild()). */
  get resultEncoder(): ResultEncoder {
    if (!this.encoder) throw new Error('the result encoder is made by run() or openRebuild()');
    return this.encoder;
  }

  /**
   * `tideline replay` (processors/replay/): prepares a rebuild of the whole
   * state in memory, in state generation `generation`, while the processor
   * itself does not run. `inputs` are the input partitions, `statePartitions`
   * the partitions of <name>.changelog, `repartitionPartitions` those of
   * <name>.repartition.
   */
  async openRebuild(inputs: readonly TopicPartition[], statePartitions: readonly number[], repartitionPartitions: number, generation: number): Promise<void> {
    await this.createEncoder();
    this.repartitionPartitions = repartitionPartitions;
    this.images.reset(inputs);
    this.store.reset(statePartitions, generation);
  }

  /**
   * One input batch through both stages in memory, as the running stages
   * would take it: the records the repartition stage would send go straight
   * to the aggregation stage (in order, by their partition); returned are
   * the records of the state and the results (<name>.images,
   * <name>.changelog, the output topic), not the repartition records.
   */
  async rebuildBatch(batch: PartitionBatch, context: BatchContext): Promise<OutputRecord[]> {
    if (!this.config.repartition) return this.aggregateBatch(batch, context);
    const stage1 = this.config.mode === 'table' ? await this.tableRepartitionBatch(batch, context) : await this.repartitionBatch(batch, context);
    const out: OutputRecord[] = [];
    const changes = new Map<number, ConsumedMessage[]>();
    for (const record of stage1) {
      if (record.topic !== this.repartitionTopic) {
        out.push(record);
        continue;
      }
      const partition = record.partition ?? 0;
      const messages = changes.get(partition) ?? [];
      messages.push({ key: record.key, value: record.value, timestamp: record.timestamp ?? '0', attributes: 0, offset: '0', headers: {} });
      changes.set(partition, messages);
    }
    for (const [partition, messages] of changes) out.push(...(await this.aggregateBatch({ topic: this.repartitionTopic, partition, messages }, context)));
    return out;
  }

  /** Creates the repartition, changelog and output topics; the changelog matches the aggregated topic's partitions. */
  private async prepareTopics(kafka: KafkaClient, signal: AbortSignal): Promise<void> {
    await withAdmin(kafka, async (admin) => {
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
      if (this.config.mode === 'table') await this.prepareImagesTopic(admin);
    });
  }

  /** Mode table: <name>.images, whose partition n holds the images of partition n of every input topic. */
  private async prepareImagesTopic(admin: TopicAdmin): Promise<void> {
    let inputPartitions = 1;
    for (const topic of this.config.topics) inputPartitions = Math.max(inputPartitions, await partitionCount(admin, topic));
    await ensureTopics(admin, [{ topic: this.imagesTopic, partitions: inputPartitions, configs: { 'cleanup.policy': 'compact' } }]);
    const imagePartitions = await partitionCount(admin, this.imagesTopic);
    if (imagePartitions < inputPartitions) {
      throw new Error(`${this.imagesTopic} has ${imagePartitions} partitions but an input topic has ${inputPartitions}: it needs at least as many`);
    }
  }

  private repartitionRecord(change: GroupChange, message: ConsumedMessage): OutputRecord {
    const { key, value } = encodeChange(change);
    const record: OutputRecord = { topic: this.repartitionTopic, partition: partitionForKey(key, this.repartitionPartitions), key, value };
    if (message.timestamp) record.timestamp = message.timestamp;
    return record;
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
        out.push(this.repartitionRecord(additionOf(input), message));
      } catch (error) {
        context.deadLetter(message, describeError(error));
      }
    }
    if (filtered > 0) metrics.processorEventsFiltered.inc({ connector: `${this.context.name}.repartition`, step: 'filter' }, filtered);
    return out;
  }

  /**
   * Mode table, stage 1: each message is a new version of its row (by key);
   * the row's image is replaced and the changes it makes go to the groups.
   */
  private async tableRepartitionBatch(batch: PartitionBatch, context: BatchContext): Promise<OutputRecord[]> {
    const images = this.images.get(batch.topic, batch.partition);
    if (!images) throw new Error(`partition ${batch.partition} of ${batch.topic} has no row images (not restored)`);
    const out: OutputRecord[] = [];
    let filtered = 0;
    for (const message of batch.messages) {
      if (!message.value) continue; // tombstone: the delete before it retracted the row
      try {
        const rowKey = this.rowKey(message);
        const next = await this.rowVersion(batch.topic, message);
        const changes = next === 'skip' ? [] : images.apply(rowKey, next);
        if (changes.length === 0) filtered += 1;
        for (const change of changes) out.push(this.repartitionRecord(change, message));
      } catch (error) {
        // The row keeps its previous image (and contribution).
        context.deadLetter(message, describeError(error));
      }
    }
    for (const record of images.takeChanged()) out.push({ topic: this.imagesTopic, partition: batch.partition, ...record });
    const stage = `${this.context.name}.repartition`;
    if (filtered > 0) metrics.processorEventsFiltered.inc({ connector: stage, step: 'filter' }, filtered);
    metrics.processorStateEntries.set({ connector: stage }, this.images.size);
    return out;
  }

  /** The row's identity: its key's payload as JSON (the schema may change, the row stays). */
  private rowKey(message: ConsumedMessage): string {
    if (!message.key) throw new AggregateInputError('message has no key: mode table needs the row key (a table without a primary key? use mode: event)');
    const payload = this.context.converter.decodeKey(message.key).value;
    if (payload === null || payload === undefined) throw new AggregateInputError('message key has no payload: mode table needs the row key');
    return stringifyJson(payload);
  }

  /** The row's new image; null when it no longer counts (deleted, or filtered out); 'skip' for a truncate. */
  private async rowVersion(topic: string, message: ConsumedMessage): Promise<RowImage | null | 'skip'> {
    const payload = this.decodeValue(message);
    switch (payload.op) {
      case 'd':
        return null;
      case 't':
        return 'skip'; // a truncate's rows are not known here (see README: mode table)
      case 'c':
      case 'u':
      case 'r':
        break;
      default:
        throw new AggregateInputError(`op ${JSON.stringify(payload.op)} is not a row change (c, u, d or r)`);
    }
    const input = await this.extractor.extract(payload, { topic });
    if (!input) return null;
    return { group: input.group, ts: input.ts, values: this.imageValues(input.values) };
  }

  /**
   * Values as the aggregators take them, checked here: an image is only kept
   * if stage 2 can add it, so its later retraction matches what was added.
   */
  private imageValues(values: readonly unknown[]): unknown[] {
    return this.columns.map((column, index) => {
      const value = values[index];
      if (isNull(value)) return null;
      switch (column.fn) {
        case 'count':
          return 1;
        case 'countDistinct':
          return distinctText(value);
        default:
          return toNumber(value, column.name);
      }
    });
  }

  private decodeValue(message: ConsumedMessage): Row {
    const payload = this.context.converter.decodeValue<Row | null>(message.value!).value;
    if (!payload || typeof payload !== 'object') throw new AggregateInputError('message value is not a JSON object');
    return payload;
  }

  private async extract(topic: string, message: ConsumedMessage): Promise<AggregateInput | null> {
    return this.extractor.extract(this.decodeValue(message), { topic });
  }

  /** Mode table, stage 1: restores the owned input partitions' row images from <name>.images. */
  private async restoreImages(partitions: readonly TopicPartition[], heartbeat: () => Promise<void>): Promise<void> {
    const started = Date.now();
    this.images.reset(partitions);
    const numbers = [...new Set(partitions.map((tp) => tp.partition))];
    const read = await readTopicToEnd(this.kafka!, this.imagesTopic, {
      partitions: numbers,
      onMessage: (partition, message) => this.images.restore(partition, message),
      heartbeat,
      timeoutMs: RESTORE_TIMEOUT_MS,
      groupPrefix: '_tideline-restore',
    });
    const seconds = (Date.now() - started) / 1000;
    const stage = `${this.context.name}.repartition`;
    metrics.processorStateRestore.observe({ connector: stage }, seconds);
    metrics.processorStateEntries.set({ connector: stage }, this.images.size);
    this.context.logger.info({ partitions, records: read, rows: this.images.size, seconds }, 'restored row images from the changelog');
  }

  /** Restores the owned partitions' windows from the changelog (after every assignment). */
  private async restore(partitions: readonly TopicPartition[], heartbeat: () => Promise<void>): Promise<void> {
    const numbers = partitions.map((tp) => tp.partition);
    const started = Date.now();
    this.store.reset(numbers);
    const read = await readTopicToEnd(this.kafka!, this.changelogTopic, {
      partitions: numbers,
      onMessage: (partition, message) => this.store.partition(partition)?.restore(message),
      heartbeat,
      timeoutMs: RESTORE_TIMEOUT_MS,
      groupPrefix: '_tideline-restore',
    });
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
        let change: GroupChange;
        if (this.config.repartition) {
          change = decodeChange(message.value);
        } else {
          const input = await this.extract(batch.topic, message);
          if (!input) {
            filtered += 1;
            continue;
          }
          change = additionOf(input);
        }
        if (change.add) this.checkInputs(change.add.values);
        if (this.windows.apply(state, change, touched).late) late += 1;
      } catch (error) {
        context.deadLetter(message, describeError(error));
      }
    }
    const out = this.windows.emit(batch.partition, state, touched, watermarkBefore, this.encoder!, { output: this.config.outputTopic, changelog: this.changelogTopic });
    const labels = { connector: this.context.name };
    if (late > 0) metrics.processorLateEvents.inc(labels, late);
    if (filtered > 0) metrics.processorEventsFiltered.inc({ ...labels, step: 'filter' }, filtered);
    metrics.processorStateEntries.set(labels, this.store.size);
    return out;
  }

  /** Number-valued aggregates must get numbers: checked before any window changes. */
  private checkInputs(values: readonly unknown[]): void {
    this.columns.forEach((column, index) => {
      const value = values[index];
      if (column.fn !== 'count' && column.fn !== 'countDistinct' && value !== null && value !== undefined) toNumber(value, column.name);
    });
  }
}

