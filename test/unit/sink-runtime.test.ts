/**
 * The sink runtime without Kafka or a warehouse: a fake consumer group (a log
 * per partition, seek, pause, rebalances on demand) and an in-memory writer
 * that can be held mid-write or made to fail.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectorState } from '../../src/core/connector.js';
import { createLogger } from '../../src/core/logger.js';
import type { DeadLetter } from '../../src/kafka/dead-letters.js';
import type { ConsumedRecord, GroupConsumer, GroupConsumerHandlers, TopicPartition, TopicPartitionOffset } from '../../src/kafka/group-consumer.js';
import { BatchBuffer, partitionKey } from '../../src/sinks/runtime/batch-buffer.js';
import { SinkRuntime, type DeadLetterSender, type SinkSettings, type TopicWatch } from '../../src/sinks/runtime/sink-runtime.js';
import type { SinkBatch, SinkWriter, StoredOffset, WriteContext, WriteResult } from '../../src/sinks/runtime/writer.js';

const TOPIC = 'changes';
const tp = (partition: number): TopicPartition => ({ topic: TOPIC, partition });
const record = (offset: number, value = `v${offset}`, bytes?: number): ConsumedRecord => ({
  key: null,
  value: bytes === undefined ? Buffer.from(value) : Buffer.alloc(bytes),
  offset: String(offset),
  timestamp: '0',
});

/** A consumer group of one member: a log per partition, fetched on demand. */
class FakeConsumer implements GroupConsumer {
  handlers: GroupConsumerHandlers | null = null;
  readonly crashed = new Promise<never>(() => undefined);
  /** Next offset each partition fetches from (moved by seek and resolve). */
  readonly position = new Map<number, number>();
  readonly seeks: [number, string][] = [];
  /** Seeks per partition: a batch fetched before a seek is stale. */
  private readonly seekCount = new Map<number, number>();
  readonly commits: TopicPartitionOffset[] = [];
  paused = false;
  pauses = 0;
  resumes = 0;
  stopped = false;
  /** The topic sets of each rejoin, in order. */
  readonly subscriptions: string[][] = [];
  /** Called as a rejoin leaves the group (to log it next to the writer's events). */
  onResubscribe: () => void = () => undefined;

  async start(handlers: GroupConsumerHandlers): Promise<void> {
    this.handlers = handlers;
  }

  async resubscribe(topics: readonly string[]): Promise<void> {
    this.onResubscribe();
    this.subscriptions.push([...topics]);
    // A new member: nothing is paused; the next onAssignment comes from the test.
    this.paused = false;
  }

  assign(...partitions: number[]): void {
    for (const partition of partitions) if (!this.position.has(partition)) this.position.set(partition, 0);
    this.handlers!.onAssignment(partitions.map(tp));
  }

  /** One fetch of `count` records from the partition's position; resolves once the runtime took it. */
  async fetch(partition: number, count: number, bytes?: number): Promise<void> {
    const from = this.position.get(partition) ?? 0;
    const records = Array.from({ length: count }, (_, index) => record(from + index, undefined, bytes));
    const lastOffset = String(from + count - 1);
    const seeks = this.seekCount.get(partition) ?? 0;
    await this.handlers!.onBatch({
      ...tp(partition),
      records,
      lastOffset,
      isCurrent: () => !this.stopped && (this.seekCount.get(partition) ?? 0) === seeks,
      heartbeat: async () => undefined,
      resolve: () => this.position.set(partition, from + count),
    });
  }

  seek(partition: TopicPartition, offset: string): void {
    this.seeks.push([partition.partition, offset]);
    this.seekCount.set(partition.partition, (this.seekCount.get(partition.partition) ?? 0) + 1);
    this.position.set(partition.partition, Number(offset));
  }

  pause(): void {
    this.paused = true;
    this.pauses++;
  }

  resume(): void {
    this.paused = false;
    this.resumes++;
  }

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.commits.push(...offsets);
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

class Gate {
  private release: () => void = () => undefined;
  private promise: Promise<void> | null = null;
  entered = 0;
  close(): void {
    this.promise = new Promise((resolve) => (this.release = resolve));
  }
  open(): void {
    this.release();
    this.promise = null;
  }
  async pass(): Promise<void> {
    this.entered++;
    if (this.promise) await this.promise;
  }
}

/** A warehouse in memory: rows by partition and offset, saved offsets, and what happened in which order. */
class MemoryWriter implements SinkWriter<string> {
  readonly name = 'Memory';
  readonly rows: { partition: number; offset: string; value: string }[] = [];
  readonly stored = new Map<string, StoredOffset>();
  readonly events: string[] = [];
  /** Held before each run is written (the write is in progress). */
  readonly gate = new Gate();
  failWrites = 0;
  prepared = 0;
  /** Whether prepare() takes a record (false: as for a table or schema the writer does not know yet). */
  knows = (_consumed: ConsumedRecord) => true;

  async open(): Promise<void> {}

  prepare(_topic: string, consumed: ConsumedRecord): string | undefined {
    if (!this.knows(consumed)) return undefined;
    this.prepared++;
    return consumed.value?.toString().toUpperCase();
  }

  async write(batch: SinkBatch<string>, context: WriteContext): Promise<WriteResult<string>> {
    const result: WriteResult<string> = { deadLetters: [], rows: 0 };
    for (const run of batch.runs) {
      await this.gate.pass();
      if (this.failWrites > 0) {
        this.failWrites--;
        throw new Error('warehouse unreachable');
      }
      await context.retry('write rows', async () => {
        if (!batch.owned(run)) return;
        run.records.forEach((consumed, index) => {
          const value = consumed.value!.toString();
          if (value.startsWith('poison')) result.deadLetters.push({ run, record: consumed, error: 'poison' });
          else this.rows.push({ partition: run.partition, offset: consumed.offset, value: run.prepared[index] ?? value });
        });
        this.events.push(`write ${run.partition}:${run.lastOffset}`);
      });
    }
    return result;
  }

  async loadOffsets(): Promise<StoredOffset[]> {
    return [...this.stored.values()];
  }

  async saveOffsets(offsets: readonly StoredOffset[]): Promise<void> {
    for (const offset of offsets) {
      this.stored.set(partitionKey(offset.topic, offset.partition), offset);
      this.events.push(`save ${offset.partition}:${offset.offset}`);
    }
  }

  async close(): Promise<void> {}
}

class MemoryDeadLetters implements DeadLetterSender {
  readonly letters: DeadLetter[] = [];
  async open(): Promise<void> {}
  async send(letters: readonly DeadLetter[]): Promise<void> {
    this.letters.push(...letters);
  }
  async close(): Promise<void> {}
}

async function until(what: string, condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const running: { controller: AbortController; done: Promise<void> }[] = [];

afterEach(async () => {
  for (const { controller, done } of running.splice(0)) {
    controller.abort();
    await done.catch(() => undefined);
  }
});

async function startRuntime(settings: Partial<SinkSettings> = {}, topics?: TopicWatch) {
  const consumer = new FakeConsumer();
  const writer = new MemoryWriter();
  const deadLetters = new MemoryDeadLetters();
  const states: string[] = [];
  const runtime = new SinkRuntime<string>({
    context: {
      name: 'memory-sink',
      logger: createLogger({ level: 'silent' }),
      setState: (state: ConnectorState, detail?: string) => states.push(detail ? `${state}: ${detail}` : state),
      health: { unreachable: (service: string) => states.push(`${service} unreachable`), reachable: (service: string) => states.push(`${service} reachable`), isUnreachable: () => false },
    },
    settings: { maxBatchRows: 1000, maxBatchBytes: 1 << 20, maxBatchDelayMs: 60_000, maxRetryDelayMs: 40, firstRetryDelayMs: 10, ...settings },
    writer,
    consumer,
    deadLetters,
    ...(topics && { topics }),
  });
  const controller = new AbortController();
  const done = runtime.run(controller.signal);
  running.push({ controller, done });
  await until('the consumer to start', () => consumer.handlers !== null);
  const stop = async () => {
    controller.abort();
    await done;
  };
  return { consumer, writer, deadLetters, states, stop };
}

const offsetsOf = (rows: readonly { partition: number; offset: string }[], partition: number) =>
  rows.filter((row) => row.partition === partition).map((row) => Number(row.offset));

describe('SinkRuntime', () => {
  it('seeks each newly assigned partition to its stored offset + 1, and buffers prepared records', async () => {
    const { consumer, writer, stop } = await startRuntime();
    writer.stored.set(partitionKey(TOPIC, 1), { topic: TOPIC, partition: 1, offset: '41' });
    consumer.assign(0, 1);
    await consumer.fetch(1, 2); // fetched while the seek was pending: dropped
    expect(consumer.seeks).toEqual([[1, '42']]);
    expect(writer.prepared).toBe(0);
    await consumer.fetch(1, 2);
    expect(writer.prepared).toBe(2);
    await stop();
    expect(writer.rows).toEqual([
      { partition: 1, offset: '42', value: 'V42' },
      { partition: 1, offset: '43', value: 'V43' },
    ]);
  });

  it('drops the buffered records of a partition revoked mid-batch, continues retained ones after what it buffered', async () => {
    const { consumer, writer, stop } = await startRuntime({ maxBatchRows: 6 });
    consumer.assign(0, 1);
    await consumer.fetch(0, 2);
    await consumer.fetch(1, 2);
    // Rebalance: partition 1 goes to another member, 2 comes in.
    writer.stored.set(partitionKey(TOPIC, 2), { topic: TOPIC, partition: 2, offset: '9' });
    consumer.position.set(0, 0); // the group's committed offset, where the consumer would restart
    consumer.assign(0, 2);
    expect(consumer.seeks).toContainEqual([0, '2']);
    await until('the seek from the store', () => consumer.seeks.some(([partition]) => partition === 2));
    await consumer.fetch(0, 2);
    await consumer.fetch(2, 2);
    await until('the batch', () => writer.events.some((event) => event.startsWith('save')));
    expect(offsetsOf(writer.rows, 0)).toEqual([0, 1, 2, 3]);
    expect(offsetsOf(writer.rows, 1)).toEqual([]);
    expect(offsetsOf(writer.rows, 2)).toEqual([10, 11]);
    expect([...writer.stored.values()].map((stored) => [stored.partition, stored.offset]).sort()).toEqual([
      [0, '3'],
      [2, '11'],
    ]);
    await stop();
  });

  it('writes nothing and stores no offset for a partition revoked during the write, even when assigned back', async () => {
    const { consumer, writer, deadLetters, stop } = await startRuntime({ maxBatchRows: 4 });
    consumer.assign(0, 1);
    writer.gate.close();
    await consumer.fetch(0, 2);
    await consumer.fetch(1, 1);
    await consumer.handlers!.onBatch({ ...tp(1), records: [record(1, 'poison')], lastOffset: '1', isCurrent: () => true, heartbeat: async () => undefined, resolve: () => undefined });
    await until('the write to start', () => writer.gate.entered === 1);
    consumer.assign(0); // partition 1 revoked while the write runs...
    consumer.assign(0, 1); // ...and back: another member may have written it in between
    writer.gate.open();
    await until('the offsets', () => writer.events.some((event) => event.startsWith('save')));
    expect(offsetsOf(writer.rows, 0)).toEqual([0, 1]);
    expect(offsetsOf(writer.rows, 1)).toEqual([]);
    expect(deadLetters.letters).toEqual([]);
    expect([...writer.stored.values()].map((stored) => stored.partition)).toEqual([0]);
    expect(consumer.commits).toEqual([{ topic: TOPIC, partition: 0, offset: '2' }]);
    await stop();
  });

  it('pauses when a second batch is full while the first is written, and resumes after', async () => {
    const { consumer, writer, stop } = await startRuntime({ maxBatchRows: 3 });
    consumer.assign(0);
    writer.gate.close();
    await consumer.fetch(0, 3); // full: the write starts and waits at the gate
    await until('the write to start', () => writer.gate.entered === 1);
    await consumer.fetch(0, 2);
    expect(consumer.paused).toBe(false);
    await consumer.fetch(0, 1); // the second batch is full too
    expect(consumer.paused).toBe(true);
    // A rebalance keeps the consumer paused.
    consumer.paused = false;
    consumer.assign(0);
    expect(consumer.paused).toBe(true);
    writer.gate.open();
    await until('both batches', () => offsetsOf(writer.rows, 0).length === 6);
    expect(consumer.paused).toBe(false);
    expect(consumer.resumes).toBe(1);
    expect(writer.events).toEqual(['write 0:2', 'save 0:2', 'write 0:5', 'save 0:5']);
    await stop();
  });

  it('also pauses on bytes', async () => {
    const { consumer, writer, stop } = await startRuntime({ maxBatchBytes: 1000 });
    consumer.assign(0);
    writer.gate.close();
    await consumer.fetch(0, 1, 1000);
    await until('the write to start', () => writer.gate.entered === 1);
    await consumer.fetch(0, 2, 500);
    expect(consumer.paused).toBe(true);
    writer.gate.open();
    await until('resumed', () => !consumer.paused);
    await stop();
  });

  it('retries a failing writer with backoff, degraded then running, skipping nothing, offsets only after the rows', async () => {
    const { consumer, writer, states, deadLetters, stop } = await startRuntime({ maxBatchRows: 2 });
    consumer.assign(0);
    writer.failWrites = 3;
    await consumer.fetch(0, 2);
    await until('the batch', () => writer.stored.size === 1);
    expect(writer.events).toEqual(['write 0:1', 'save 0:1']);
    expect(states.filter((state) => state.startsWith('degraded'))).toHaveLength(3);
    expect(states.at(-1)).toBe('running');
    expect(states.find((state) => state.startsWith('degraded'))).toMatch(/^degraded: write to Memory: warehouse unreachable/);
    const poisoned = record(2, 'poison');
    await consumer.handlers!.onBatch({ ...tp(0), records: [poisoned, record(3)], lastOffset: '3', isCurrent: () => true, heartbeat: async () => undefined, resolve: () => undefined });
    await until('the second batch', () => writer.stored.get(partitionKey(TOPIC, 0))?.offset === '3');
    expect(offsetsOf(writer.rows, 0)).toEqual([0, 1, 3]);
    expect(deadLetters.letters).toEqual([{ topic: TOPIC, partition: 0, offset: '2', key: null, value: Buffer.from('poison'), error: 'poison' }]);
    await stop();
  });

  it('writes a batch maxBatchDelayMs after its first record', async () => {
    const { consumer, writer, stop } = await startRuntime({ maxBatchDelayMs: 30 });
    consumer.assign(0);
    await consumer.fetch(0, 1);
    await consumer.fetch(0, 1);
    expect(writer.rows).toEqual([]);
    await until('the delayed batch', () => writer.rows.length === 2);
    expect(writer.events).toEqual(['write 0:1', 'save 0:1']);
    await stop();
  });

  it('writes records it could not prepare at once, not maxBatchDelayMs later; prepared ones wait', async () => {
    const { consumer, writer, stop } = await startRuntime({ maxBatchDelayMs: 60_000 });
    consumer.assign(0);
    writer.knows = () => false;
    await consumer.fetch(0, 3);
    await until('the unprepared batch', () => writer.rows.length === 3);
    writer.knows = () => true;
    await consumer.fetch(0, 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(writer.rows.length).toBe(3);
    expect(writer.events).toEqual(['write 0:2', 'save 0:2']);
    await stop();
    expect(offsetsOf(writer.rows, 0)).toEqual([0, 1, 2, 3, 4]);
  });

  it('writes the last batch once at a graceful stop', async () => {
    const { consumer, writer, stop } = await startRuntime();
    consumer.assign(0, 1);
    await consumer.fetch(0, 3);
    await consumer.fetch(1, 1);
    expect(writer.rows).toEqual([]);
    await stop();
    expect(offsetsOf(writer.rows, 0)).toEqual([0, 1, 2]);
    expect(offsetsOf(writer.rows, 1)).toEqual([0]);
    expect(writer.events.filter((event) => event.startsWith('write'))).toHaveLength(2);
    expect([...writer.stored.values()].map((stored) => stored.offset)).toEqual(['2', '0']);
    expect(consumer.paused).toBe(true);
    expect(consumer.stopped).toBe(true);
  });

  it('on a topic set change writes and saves what it fetched, then rejoins and starts every partition from its saved offset', async () => {
    let current = [TOPIC];
    let checks = 0;
    const watch: TopicWatch = {
      initial: [TOPIC],
      intervalMs: 10,
      resolve: async () => {
        checks++;
        return current;
      },
    };
    const { consumer, writer, stop } = await startRuntime({}, watch);
    consumer.onResubscribe = () => writer.events.push('rejoin');
    consumer.assign(0, 1);
    await consumer.fetch(0, 3);
    await consumer.fetch(1, 2);
    await until('a few unchanged checks', () => checks >= 3);
    expect(consumer.subscriptions).toEqual([]);
    expect(writer.rows).toEqual([]); // maxBatchDelayMs is a minute: only the rejoin writes them

    current = [TOPIC, 'changes.new'];
    await until('the rejoin', () => consumer.subscriptions.length === 1);
    expect(consumer.subscriptions).toEqual([[TOPIC, 'changes.new']]);
    // Rows, then offsets, then leaving the group.
    expect(writer.events).toEqual(['write 0:2', 'write 1:1', 'save 0:2', 'save 1:1', 'rejoin']);
    expect(consumer.paused).toBe(false);

    // The new generation: both partitions from the store, nothing read twice or skipped.
    consumer.assign(0, 1);
    await until('the seeks from the store', () => consumer.seeks.length === 2);
    expect([...consumer.seeks].sort()).toEqual([
      [0, '3'],
      [1, '2'],
    ]);
    await consumer.fetch(0, 1);
    await stop();
    expect(offsetsOf(writer.rows, 0)).toEqual([0, 1, 2, 3]);
    expect(offsetsOf(writer.rows, 1)).toEqual([0, 1]);
    expect(consumer.subscriptions).toHaveLength(1);
  });

  it('also writes and saves a batch that arrives while the rejoin writes, before leaving the group', async () => {
    let current = [TOPIC];
    const watch: TopicWatch = { initial: [TOPIC], intervalMs: 10, resolve: async () => current };
    const { consumer, writer, stop } = await startRuntime({}, watch);
    consumer.onResubscribe = () => writer.events.push('rejoin');
    consumer.assign(0);
    await consumer.fetch(0, 2);
    writer.gate.close(); // the rejoin's write of offsets 0-1 is held
    current = [TOPIC, 'changes.new'];
    await until('the rejoin to write', () => writer.gate.entered === 1);
    await consumer.fetch(0, 2); // in flight when the consumer paused: offsets 2-3
    writer.gate.open();
    await until('the rejoin', () => consumer.subscriptions.length === 1);
    expect(writer.events).toEqual(['write 0:1', 'save 0:1', 'write 0:3', 'save 0:3', 'rejoin']);
    consumer.assign(0);
    await until('the seek from the store', () => consumer.seeks.length === 1);
    expect(consumer.seeks).toEqual([[0, '4']]);
    await consumer.fetch(0, 2);
    await stop();
    expect(offsetsOf(writer.rows, 0)).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('BatchBuffer', () => {
  const message = (offset: number, bytes = 10): ConsumedRecord => ({ offset: String(offset), key: null, value: Buffer.alloc(bytes), timestamp: '0', headers: {} });

  it('counts rows and bytes across fetches, keeps order per partition, and empties on take', () => {
    const buffer = new BatchBuffer();
    buffer.add('a', 0, [message(1), message(2)], '2', 1000);
    buffer.add('a', 1, [message(7, 5)], '7', 1500);
    buffer.add('a', 0, [message(3)], '4', 2000);
    expect(buffer.rows).toBe(4);
    expect(buffer.bytes).toBe(35);
    expect(buffer.firstAt).toBe(1000);
    const taken = buffer.take();
    expect(taken.map((part) => [part.key, part.records.map((m) => m.offset), part.lastOffset])).toEqual([
      [partitionKey('a', 0), ['1', '2', '3'], '4'],
      [partitionKey('a', 1), ['7'], '7'],
    ]);
    expect(buffer.empty).toBe(true);
    expect([buffer.rows, buffer.bytes, buffer.firstAt]).toEqual([0, 0, 0]);
  });

  it('drops revoked partitions', () => {
    const buffer = new BatchBuffer();
    buffer.add('a', 0, [message(1)], '1');
    buffer.add('a', 1, [message(1), message(2)], '2');
    expect(buffer.retain((key) => key === partitionKey('a', 0))).toBe(2);
    expect([buffer.rows, buffer.bytes]).toEqual([1, 10]);
    expect(buffer.take().map((part) => part.partition)).toEqual([0]);
  });
});
