/**
 * `tideline replay <processor>`: reprocesses a transform or an aggregate from
 * a point, exactly once, while the processor does not run. The argument is
 * in docs/architecture.md ("Replay of a processor"); the steps:
 *
 * 1. refusals that change nothing: unknown input topics, `--from` on an
 *    aggregate, an aggregate that never ran;
 * 2. the lock (ReplayLock: one replay of the processor at a time);
 * 3. the processor stopped: its consumer groups have no members (after the
 *    caller's pause, if it gave one), as Kafka's --reset-offsets requires;
 * 4. every per-partition transactional id of every stage is initialized:
 *    a zombie of the processor is fenced and its last transaction settled,
 *    so the offsets and state read next are final;
 * 5. the replay's own transactional id `tideline-<name>.replay` is
 *    initialized (a replay that got past the lock regardless is fenced);
 * 6. start offsets: `--from`'s by timestamp or the earliest, refused when a
 *    topic no longer holds them (start-offsets.ts, as the sink replay);
 * 7. transform: nothing to rebuild. aggregate: the whole state and the
 *    results are rebuilt from the earliest offsets (AggregateRebuild);
 * 8. the groups are checked again for members, and one transaction writes
 *    the rebuilt state and results and commits every stage's offsets.
 */
import type { ConnectorContext } from '../../core/connector.js';
import { TidelineError } from '../../core/errors.js';
import type { KafkaConnection } from '../../core/kafka-connection.js';
import type { Logger } from '../../core/logger.js';
import { RateMeter, snapshot, type ReplayReporter } from '../../core/progress.js';
import type { RowVersions } from '../../core/row-versions.js';
import { loggingHealth } from '../../core/service-health.js';
import { createKafka, releaseKafka, type KafkaClient } from '../../kafka/client.js';
import { describeBusyGroups, describeGroupMembers } from '../../kafka/group-members.js';
import { readGroupOffsets } from '../../kafka/group-offsets.js';
import { existingTopics, fetchOffsetRanges, fetchOffsetsAt } from '../../kafka/partition-tail.js';
import { partitionTransactionalId } from '../../kafka/processor-loop.js';
import { ReplayLock } from '../../kafka/replay-lock.js';
import { describeGaps, partitionKey, planPartitions, type PartitionPlan } from '../../kafka/start-offsets.js';
import { TransactionalWriter, type ConsumerOffsets } from '../../kafka/transactional-writer.js';
import type { OutputRecord } from '../../kafka/records.js';
import type { Converter } from '../../serde/converter.js';
import type { AggregateConfig } from '../aggregate/spec.js';
import type { TransformConfig } from '../transform/spec.js';
import { AggregateRebuild } from './aggregate-rebuild.js';
import { aggregateStages, transformStages, type ProcessorStage } from './processor-stages.js';

/** Refused before anything changed; the message says why and what to do. */
export class ProcessorReplayRefusedError extends TidelineError {}

export type ReplayableProcessor = { kind: 'transform'; config: TransformConfig } | { kind: 'aggregate'; config: AggregateConfig };

export interface ProcessorReplayTarget {
  connector: string;
  processor: ReplayableProcessor;
  kafka: KafkaConnection;
  converter: Converter;
  rowVersions: RowVersions;
  logger: Logger;
  reporter: ReplayReporter;
}

/** Stopping the processor where it runs (the CLI: the daemon's admin API), once the lock is held. */
export interface ProcessorControl {
  /** Pauses it; returns what resumes it (a no-op when it was paused already). */
  pause(): Promise<() => Promise<void>>;
  /** How to stop it, for the refusal when its groups keep members. */
  advice: string;
}

export interface ProcessorReplayOptions {
  /** Reprocess from the first records at or after this time (transform only); default: the earliest offsets. */
  fromMs?: number;
  allowPartial?: boolean;
  control?: ProcessorControl;
  signal: AbortSignal;
}

/** How long the groups may take to empty after a pause (the members leave as their runs stop). */
const EMPTY_GROUPS_TIMEOUT_MS = 30_000;
const PROGRESS_EVERY_MS = 1_000;
/** The replay's one transaction: open only while its records are sent. */
const REPLAY_TRANSACTION_TIMEOUT_MS = 600_000;

export function replayTransactionalId(connector: string): string {
  return `tideline-${connector}.replay`;
}

export function replayLockGroup(connector: string): string {
  return `_tideline-replay-lock-${connector}`;
}

export async function replayProcessor(target: ProcessorReplayTarget, options: ProcessorReplayOptions): Promise<void> {
  const { connector, processor, logger } = target;
  const kafka = createKafka(target.kafka, `tideline-replay-${connector}`, logger, loggingHealth(logger));
  const lock = new ReplayLock(kafka, replayLockGroup(connector));
  let resume: (() => Promise<void>) | null = null;
  let writer: TransactionalWriter | null = null;
  try {
    const stages = processor.kind === 'transform' ? transformStages(connector, processor.config) : aggregateStages(connector, processor.config);
    const inputs = stages[0]!.topics;
    const present = await existingTopics(kafka, inputs);
    const missing = inputs.filter((topic) => !present.has(topic));
    if (missing.length > 0) throw new ProcessorReplayRefusedError(`input topic${missing.length > 1 ? 's' : ''} ${missing.join(', ')} of ${connector} do${missing.length > 1 ? '' : 'es'} not exist in Kafka`);
    if (processor.kind === 'aggregate') await checkAggregate(kafka, connector, processor.config, options);

    const others = await lock.acquire(inputs[0]!);
    if (others.length > 0) {
      throw new ProcessorReplayRefusedError(
        `another replay of ${connector} is running (${others.map((m) => `${m.clientId} on ${m.clientHost}`).join(', ')}; a replay killed less than 10 s ago stays until its session times out)`,
      );
    }
    if (options.control) resume = await options.control.pause();
    await waitForEmptyGroups(kafka, connector, stages, options.control ? EMPTY_GROUPS_TIMEOUT_MS : 0, options.control?.advice);

    await TransactionalWriter.fence(kafka, await stageTransactionalIds(kafka, stages));
    writer = new TransactionalWriter(kafka, { transactionalId: replayTransactionalId(connector), transactionTimeoutMs: REPLAY_TRANSACTION_TIMEOUT_MS });
    await writer.connect();

    const ranges = await fetchOffsetRanges(kafka, inputs);
    const fromOffsets = options.fromMs === undefined ? undefined : new Map((await fetchOffsetsAt(kafka, inputs, options.fromMs)).map((p) => [partitionKey(p.topic, p.partition), p.offset]));
    const { partitions, gaps } = planPartitions({ ranges, fromOffsets, written: new Map(), allowPartial: options.allowPartial ?? false });
    if (gaps.length > 0 && !options.allowPartial) {
      throw new ProcessorReplayRefusedError(
        describeGaps(gaps, {
          needs: `${connector}'s reprocessing`,
          loses: processor.kind === 'aggregate' ? 'what those records added to the aggregates' : 'the outputs of those records',
          instead: processor.kind === 'aggregate' ? '(an aggregate rebuilds its state from the earliest offsets: it cannot start later)' : 'or --from a time the topic still holds',
        }),
      );
    }
    const ends = new Map(ranges.map((range) => [partitionKey(range.topic, range.partition), range.high]));

    let records: OutputRecord[] = [];
    let offsets: ConsumerOffsets[];
    let summary: string;
    if (processor.kind === 'transform') {
      // Never forward: records the processor has not processed yet (it lagged behind --from) are still processed.
      const committed = new Map((await readGroupOffsets(kafka, stages[0]!.groupId, inputs)).map((o) => [partitionKey(o.topic, o.partition), BigInt(o.offset)]));
      offsets = partitions.map((p) => {
        const before = committed.get(partitionKey(p.topic, p.partition));
        return { groupId: stages[0]!.groupId, topic: p.topic, partition: p.partition, offset: before !== undefined && before < p.start ? before : p.start };
      });
      const again = offsets.reduce((sum, o) => sum + (ends.get(partitionKey(o.topic, o.partition))! - o.offset), 0n);
      target.reporter.progress(snapshot('reset', 0, 0, null));
      summary = `offsets of group ${stages[0]!.groupId} set to ${describeStart(options.fromMs)} (${again} input offsets to reprocess when it runs: its outputs from there are emitted again)`;
    } else {
      const result = await rebuildAggregate(target, kafka, stages, processor.config, partitions, ends, options.signal);
      records = result.records;
      offsets = result.offsets;
      summary =
        `state and results rebuilt from the earliest offsets in generation ${result.generation}: ${records.length} records written` +
        (result.staleResults > 0 ? `, ${result.staleResults} result${result.staleResults > 1 ? 's' : ''} no longer computed deleted` : '') +
        (result.refused > 0 ? `, ${result.refused} input records refused as the processor refused them (see its dead-letter topic)` : '');
    }

    // A member that joined meanwhile would have read the old offsets and state.
    await waitForEmptyGroups(kafka, connector, stages, 0, options.control?.advice);
    target.reporter.event('writing', `writing ${records.length} records and the offsets of ${offsets.length} partitions in one transaction`, { records: records.length });
    try {
      await writer.write(records);
      await writer.commit({ consumerOffsets: offsets });
    } catch (error) {
      await writer.abort();
      throw error;
    }
    // commit() returns before the markers are written; until they are, the
    // committed offsets read as the old ones and read_committed readers stop
    // before the transaction. Initializing the id again waits for them, so the
    // processor resumed next restores the new state and offsets.
    await writer.disconnect();
    await TransactionalWriter.fence(kafka, [replayTransactionalId(connector)]);
    target.reporter.event('done', `replay of ${connector} done: ${summary}`, { connector, kind: processor.kind, records: records.length });
  } finally {
    await writer?.disconnect();
    // Resumed whether or not the replay committed: one transaction, so the processor goes on from either the old or the new state.
    if (resume) await resume().catch((error: unknown) => logger.warn({ err: error }, `could not resume ${connector}; resume it through the admin API`));
    await lock.release();
    releaseKafka(kafka);
  }
}

function describeStart(fromMs: number | undefined): string {
  return fromMs === undefined ? 'the earliest offsets' : `the first records at or after ${new Date(fromMs).toISOString()}`;
}

async function checkAggregate(kafka: KafkaClient, connector: string, config: AggregateConfig, options: ProcessorReplayOptions): Promise<void> {
  if (options.fromMs !== undefined) {
    throw new ProcessorReplayRefusedError(
      `--from: an aggregate is replayed from the earliest offsets only. Its state as of a time cannot be had from its compacted state topics, and reprocessing from then on top of today's state would count those records twice; the state as of then needs every record before it, and a rebuild from the earliest offsets ends with the same results`,
    );
  }
  const changelog = `${connector}.changelog`;
  const present = await existingTopics(kafka, [changelog, config.outputTopic]);
  if (!present.has(changelog)) throw new ProcessorReplayRefusedError(`${connector} has never run (no topic ${changelog}): there is nothing to replay; it reads from the earliest offsets when it starts`);
}

/** Every per-partition transactional id of the stages (of partitions that exist). */
async function stageTransactionalIds(kafka: KafkaClient, stages: readonly ProcessorStage[]): Promise<string[]> {
  const ids: string[] = [];
  for (const stage of stages) {
    const present = await existingTopics(kafka, stage.topics);
    const ranges = await fetchOffsetRanges(kafka, stage.topics.filter((topic) => present.has(topic)));
    for (const range of ranges) ids.push(partitionTransactionalId(stage.transactionalIdPrefix, range.topic, range.partition));
  }
  return ids;
}

/** Refuses while a stage's group has members (waiting up to `timeoutMs` for them to leave). */
async function waitForEmptyGroups(kafka: KafkaClient, connector: string, stages: readonly ProcessorStage[], timeoutMs: number, advice: string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const groups = await describeGroupMembers(
      kafka,
      stages.map((stage) => stage.groupId),
    );
    const busy = describeBusyGroups(groups);
    if (!busy) return;
    if (Date.now() >= deadline) {
      throw new ProcessorReplayRefusedError(
        `${connector} is running (${busy}): its offsets and state can only be reset while it is stopped. ${advice ?? `Pause it on every daemon that runs it (tideline replay ${connector} --pause does it through the admin API, or PUT /connectors/${connector}/pause), or stop them; a daemon killed less than 10 s ago stays a member until its session times out`}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function rebuildAggregate(
  target: ProcessorReplayTarget,
  kafka: KafkaClient,
  stages: readonly ProcessorStage[],
  config: AggregateConfig,
  partitions: readonly PartitionPlan[],
  ends: ReadonlyMap<string, bigint>,
  signal: AbortSignal,
) {
  const context: ConnectorContext<AggregateConfig> = {
    name: target.connector,
    kind: 'aggregate',
    config,
    kafka: target.kafka,
    converter: target.converter,
    rowVersions: target.rowVersions,
    logger: target.logger,
    setState: () => undefined,
    health: loggingHealth(target.logger),
  };
  const rebuild = new AggregateRebuild(context, kafka, stages);
  const meter = new RateMeter();
  const report = () => {
    const { done, total } = rebuild.progress();
    meter.sample(Date.now(), Number(done));
    target.reporter.progress(snapshot('rebuild', Number(done), Number(total), meter.rate));
  };
  const timer = setInterval(report, PROGRESS_EVERY_MS);
  try {
    const result = await rebuild.run(partitions, ends, signal);
    report();
    return result;
  } finally {
    clearInterval(timer);
  }
}
