import { describe, expect, it } from 'vitest';
import type { TransactionalWriter } from '../../src/kafka/transactional-writer.js';
import type { OutputRecord } from '../../src/kafka/records.js';
import { KafkaOutput } from '../../src/sources/postgres/kafka-output.js';
import { positionAt } from '../../src/sources/postgres/position.js';

/** A writer that logs what reaches it and lets the test decide when a commit completes. */
class FakeWriter {
  readonly log: string[] = [];
  private release: (() => void) | null = null;
  private reject: ((error: Error) => void) | null = null;

  write(records: Iterable<OutputRecord>): Promise<void> {
    for (const record of records) this.log.push(`write ${record.value?.toString()}`);
    return Promise.resolve();
  }

  commit(): Promise<void> {
    this.log.push('commit');
    return new Promise((resolve, reject) => {
      this.release = resolve;
      this.reject = reject;
    });
  }

  abort(): Promise<void> {
    this.log.push('abort');
    return Promise.resolve();
  }

  finishCommit(): void {
    this.release?.();
  }

  failCommit(error: Error): void {
    this.reject?.(error);
  }
}

const change = (value: string, bytes = 0) => ({
  records: [{ topic: 't', key: Buffer.from('k'), value: Buffer.from(bytes > 0 ? value.padEnd(bytes, '.') : value) }],
  events: [{ table: 'public.t', op: 'c' as const }],
});
const position = positionAt({ xid: 1, commitLsn: 100n, commitTimeMs: 0 }, -1n, [], null);
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('KafkaOutput.commitBehind', () => {
  it('holds what is written while a commit runs and writes it after that commit, before anything later', async () => {
    const writer = new FakeWriter();
    const output = new KafkaOutput(writer as unknown as TransactionalWriter, 'c1');
    const committed: string[] = [];
    await output.write(change('a'));
    await output.commitBehind(position, async () => void committed.push('first'));
    await output.write(change('b')); // held: the commit runs
    expect(writer.log).toEqual(['write a', 'commit']);
    expect(output.eventsInTransaction).toBe(1);
    writer.finishCommit();
    await tick();
    expect(committed).toEqual(['first']);
    await output.write(change('c'));
    expect(writer.log).toEqual(['write a', 'commit', 'write b', 'write c']);
  });

  it('starts the next commit only after the previous one (and its onCommitted) is done', async () => {
    const writer = new FakeWriter();
    const output = new KafkaOutput(writer as unknown as TransactionalWriter, 'c1');
    const order: string[] = [];
    await output.commitBehind(position, async () => void order.push('first done'));
    await output.write(change('b'));
    const second = output.commitBehind(position, async () => void order.push('second done'));
    await tick();
    expect(writer.log).toEqual(['commit']);
    writer.finishCommit();
    await second;
    expect(order).toEqual(['first done']);
    expect(writer.log).toEqual(['commit', 'write b', 'commit']);
  });

  it('waits for the commit once the held records reach the bound', async () => {
    const writer = new FakeWriter();
    const output = new KafkaOutput(writer as unknown as TransactionalWriter, 'c1');
    await output.commitBehind(position);
    let returned = false;
    const big = output.write(change('big', 17 * 1024 * 1024)).then(() => (returned = true));
    await tick();
    expect(returned).toBe(false);
    writer.finishCommit();
    await big;
    expect(writer.log.map((entry) => entry.slice(0, 9))).toEqual(['commit', 'write big']);
  });

  it('reports a failed commit at once and fails the next write', async () => {
    const writer = new FakeWriter();
    const output = new KafkaOutput(writer as unknown as TransactionalWriter, 'c1');
    const errors: Error[] = [];
    await output.commitBehind(position, undefined, (error) => errors.push(error));
    await output.write(change('b'));
    writer.failCommit(new Error('fenced'));
    await tick();
    expect(errors.map((error) => error.message)).toEqual(['fenced']);
    await expect(output.write(change('c'))).rejects.toThrow('fenced');
    expect(writer.log).toEqual(['commit']);
  });

  it('abort drops what is held after the commit in progress ends', async () => {
    const writer = new FakeWriter();
    const output = new KafkaOutput(writer as unknown as TransactionalWriter, 'c1');
    await output.commitBehind(position);
    await output.write(change('b'));
    const aborted = output.abort();
    writer.finishCommit();
    await aborted;
    await output.write(change('c'));
    expect(writer.log).toEqual(['commit', 'abort', 'write c']);
  });
});
