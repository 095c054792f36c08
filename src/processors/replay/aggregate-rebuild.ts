/**
 * The rebuild of an aggregate's state and results for `tideline replay`
 * (the argument is in docs/architecture.md, "Replay of a processor").
 *
 * While the processor does not run: the old state and results are read
 * (read_committed, to their ends) for their keys and the state generation;
 * the input partitions are read from their earliest offsets to the end
 * offsets `ends` and put through both stages in memory
 * (AggregateProcessor.rebuildBatch), in the next generation, so every
 * result version sorts after every old one. What comes out is the last
 * record per key (FinalRecords), tombstones for old state keys the rebuild
 * does not have, a delete (and tombstone) for every old result it does not
 * have, the generation record of every state partition, and the offsets of
 * both stages: the inputs' at `ends`, <name>.repartition's at its end (the
 * change records there are the old computation's, already in the old
 * state). The caller writes all of it in one transaction.
 */
import type { ConnectorContext } from '../../core/connector.js';
import type { ChangeEvent, Row } from '../../core/events.js';
import { readTopicToEnd } from '../../kafka/compacted-topic-reader.js';
import { fetchOffsetRanges, PartitionTail } from '../../kafka/partition-tail.js';
import type { ConsumedMessage, OutputRecord, TopicPartition } from '../../kafka/records.js';
import type { PartitionPlan } from '../../kafka/start-offsets.js';
import { partitionKey } from '../../kafka/start-offsets.js';
import type { ConsumerOffsets } from '../../kafka/transactional-writer.js';
import type { KafkaClient } from '../../kafka/client.js';
import { AggregateProcessor } from '../aggregate/aggregate-processor.js';
import { resultVersion } from '../aggregate/result-source.js';
import type { AggregateConfig } from '../aggregate/spec.js';
import { changelogGeneration, generationOf } from '../aggregate/state-store.js';
import type { ProcessorStage } from './processor-stages.js';
import { FinalRecords, LiveKeys } from './final-records.js';

const READ_TIMEOUT_MS = 600_000;

export interface RebuildProgress {
  /** Input offsets read so far, of `total`. */
  done: bigint;
  total: bigint;
}

export interface AggregateRebuildResult {
  records: OutputRecord[];
  offsets: ConsumerOffsets[];
  generation: number;
  /** Input records the live processor dead-lettered (and the rebuild skipped the same way). */
  refused: number;
  /** Result keys of the old results the rebuild no longer has (deleted). */
  staleResults: number;
}

interface OldRecord {
  topic: string;
  partition: number;
  key: Buffer | null;
  value: Buffer | null;
}

export class AggregateRebuild {
  private readonly processor: AggregateProcessor;
  private readonly config: AggregateConfig;
  private readonly imagesTopic: string;
  private readonly changelogTopic: string;
  private readonly repartitionTopic: string;
  private tail: PartitionTail | null = null;
  private reading = new Map<string, { start: bigint; end: bigint }>();

  constructor(
    private readonly context: ConnectorContext<AggregateConfig>,
    private readonly kafka: KafkaClient,
    private readonly stages: readonly ProcessorStage[],
  ) {
    this.config = context.config;
    this.processor = new AggregateProcessor(context);
    this.imagesTopic = this.processor.imagesTopic;
    this.changelogTopic = this.processor.changelogTopic;
    this.repartitionTopic = this.processor.repartitionTopic;
  }

  /** Input offsets read of those to read. */
  progress(): RebuildProgress {
    let done = 0n;
    let total = 0n;
    for (const [id, { start, end }] of this.reading) {
      const [topic, partition] = id.split('\u0000') as [string, string];
      const position = this.tail?.position(topic, Number(partition)) ?? start;
      done += (position < end ? position : end) - start;
      total += end - start;
    }
    return { done, total };
  }

  /**
   * Reads everything and returns what to write. `starts` are the input
   * partitions' start offsets (the earliest), `ends` their end offsets.
   */
  async run(starts: readonly PartitionPlan[], ends: ReadonlyMap<string, bigint>, signal: AbortSignal): Promise<AggregateRebuildResult> {
    const { kafka, config } = this;
    const old = new LiveKeys<OldRecord>();
    let generation = 0;
    const keep = (topic: string) => (partition: number, message: ConsumedMessage) => {
      old.add({ topic, partition, key: message.key, value: message.value });
      generation = Math.max(generation, generationOf(message) ?? 0);
    };
    const read = async (topic: string) => readTopicToEnd(kafka, topic, { onMessage: keep(topic), timeoutMs: READ_TIMEOUT_MS, groupPrefix: '_tideline-replay-read' });
    await read(this.changelogTopic);
    if (config.mode === 'table') await read(this.imagesTopic);
    await read(config.outputTopic);
    generation += 1;

    const statePartitions = (await fetchOffsetRanges(kafka, [this.changelogTopic])).map((range) => range.partition);
    const repartitionRanges = config.repartition ? await fetchOffsetRanges(kafka, [this.repartitionTopic]) : [];
    const inputs: TopicPartition[] = starts.map((p) => ({ topic: p.topic, partition: p.partition }));
    await this.processor.openRebuild(inputs, statePartitions, repartitionRanges.length, generation);

    const final = new FinalRecords(config.outputTopic);
    let refused = 0;
    const { converter } = this.context;
    await this.readInputs(starts, ends, signal, async (batch) => {
      // As the processor loop does per batch: schemas named by registry id are fetched before the synchronous decoding.
      const loading = converter.loadSchemas(batch.messages.flatMap((message) => [message.key, message.value]));
      if (loading) await loading;
      const records = await this.processor.rebuildBatch(batch, { deadLetter: () => (refused += 1) });
      for (const record of records) final.add(record);
    });

    // What the old state and results had and the rebuild does not.
    let staleResults = 0;
    const deletes: OutputRecord[] = [];
    const now = Date.now();
    const encoder = this.processor.resultEncoder;
    const oldResults = [...old.live()].filter((record) => record.topic === config.outputTopic && !final.has({ topic: record.topic, key: record.key }));
    const loading = converter.loadSchemas(oldResults.map((record) => record.value));
    if (loading) await loading;
    for (const record of old.live()) {
      if (record.topic === config.outputTopic) {
        if (final.has({ topic: record.topic, key: record.key })) continue;
        const event = converter.decodeValue<ChangeEvent | null>(record.value!).value;
        const row: Row | null | undefined = event?.after ?? event?.before;
        if (!row) continue;
        staleResults += 1;
        const value = encoder.encodeDelete(row, resultVersion(generation, 1), typeof event?.source?.ts_ms === 'number' ? event.source.ts_ms : now, now);
        deletes.push({ topic: record.topic, key: record.key, value }, { topic: record.topic, key: record.key, value: null });
      } else if (!final.has(record)) {
        deletes.push({ topic: record.topic, partition: record.partition, key: record.key, value: null });
      }
    }
    const generations = statePartitions.map((partition) => ({ topic: this.changelogTopic, partition, ...changelogGeneration(generation) }));

    const offsets: ConsumerOffsets[] = [];
    const inputStage = this.stages[0]!;
    for (const p of starts) offsets.push({ groupId: inputStage.groupId, topic: p.topic, partition: p.partition, offset: ends.get(partitionKey(p.topic, p.partition)) ?? p.start });
    if (config.repartition) {
      const aggregation = this.stages[1]!;
      for (const range of repartitionRanges) offsets.push({ groupId: aggregation.groupId, topic: range.topic, partition: range.partition, offset: range.high });
    }
    return { records: [...final.records(), ...deletes, ...generations], offsets, generation, refused, staleResults };
  }

  /** Reads each input partition from its start to its end offset, one batch at a time, in order. */
  private async readInputs(
    starts: readonly PartitionPlan[],
    ends: ReadonlyMap<string, bigint>,
    signal: AbortSignal,
    onBatch: (batch: { topic: string; partition: number; messages: ConsumedMessage[] }) => Promise<void>,
  ): Promise<void> {
    this.reading = new Map(starts.map((p) => [partitionKey(p.topic, p.partition), { start: p.start, end: ends.get(partitionKey(p.topic, p.partition)) ?? p.start }]));
    const pending = starts.filter((p) => (ends.get(partitionKey(p.topic, p.partition)) ?? 0n) > p.start);
    if (pending.length === 0) return;
    const tail = new PartitionTail(this.kafka, { groupPrefix: `_tideline-replay-${this.context.name}`, maxBytes: 4 * 1024 * 1024 });
    this.tail = tail;
    try {
      await tail.start(
        pending.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.start })),
        async (batch) => {
          const end = ends.get(partitionKey(batch.topic, batch.partition)) ?? 0n;
          // Records after the end are the running processor's once it resumes (its offsets are set to the end).
          const messages = batch.records.filter((record) => BigInt(record.offset) < end);
          // PartitionTail hands kafkajs's messages through (ConsumedRecord is their structural view).
          if (messages.length > 0) await onBatch({ topic: batch.topic, partition: batch.partition, messages: messages as ConsumedMessage[] });
        },
      );
      for (;;) {
        if (tail.failed) throw tail.failed;
        if (signal.aborted) throw new Error('interrupted');
        if (pending.every((p) => tail.position(p.topic, p.partition) >= (ends.get(partitionKey(p.topic, p.partition)) ?? 0n))) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await tail.stop();
    }
  }
}
