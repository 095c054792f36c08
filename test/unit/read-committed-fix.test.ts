import { describe, expect, it } from 'vitest';
import { filterAbortedMessages, type FetchedMessage } from '../../src/kafka/read-committed-fix.js';

const ABORT = Buffer.from([0, 0, 0, 0]);
const COMMIT = Buffer.from([0, 0, 0, 1]);
const record = (offset: number, producerId: string, key: Buffer | null = Buffer.from(`k${offset}`)): FetchedMessage => ({ offset: String(offset), key, batchContext: { producerId, inTransaction: true } });
const offsets = (messages: FetchedMessage[]) => messages.map((message) => Number(message.offset));

describe("read_committed filter (kafkajs's, corrected)", () => {
  it('drops two overlapping aborted transactions listed in abort-marker order, keeps the committed one between them', () => {
    // Producers 1 and 2 abort (a crash), producer 3 commits; their records interleave in one partition.
    const messages = [record(10, '1'), record(11, '2'), record(12, '3'), record(13, '1'), record(14, '2'), record(15, '3', COMMIT), record(16, '2', ABORT), record(17, '1', ABORT), record(18, '4')];
    // The broker lists aborted transactions by their abort marker: producer 2 (marker 16) before producer 1 (marker 17).
    const abortedTransactions = [{ producerId: '2', firstOffset: '11' }, { producerId: '1', firstOffset: '10' }];
    const kept = filterAbortedMessages({ messages, abortedTransactions });
    expect(offsets(kept)).toEqual([12, 15, 16, 17, 18]); // control records (15, 16, 17) are dropped by kafkajs afterwards
  });

  it('activates every aborted transaction that started before the fetched range at the first record', () => {
    // The fetch starts at 20, inside two aborted transactions that began earlier.
    const messages = [record(20, '2'), record(21, '1'), record(22, '5'), record(23, '1', ABORT), record(24, '2', ABORT)];
    const kept = filterAbortedMessages({ messages, abortedTransactions: [{ producerId: '1', firstOffset: '3' }, { producerId: '2', firstOffset: '5' }] });
    expect(offsets(kept)).toEqual([22, 23, 24]);
  });

  it("a producer's later committed transaction is kept after its aborted one ended", () => {
    const messages = [record(1, '7'), record(2, '7', ABORT), record(3, '7'), record(4, '7', COMMIT)];
    expect(offsets(filterAbortedMessages({ messages, abortedTransactions: [{ producerId: '7', firstOffset: '1' }] }))).toEqual([2, 3, 4]);
  });

  it('keeps non-transactional records and everything when nothing aborted', () => {
    const plain = { offset: '5', key: null, batchContext: { producerId: '1', inTransaction: false } };
    expect(filterAbortedMessages({ messages: [plain], abortedTransactions: [{ producerId: '1', firstOffset: '0' }] })).toEqual([plain]);
    const messages = [record(1, '1')];
    expect(filterAbortedMessages({ messages, abortedTransactions: [] })).toBe(messages);
  });

  it('is what kafkajs uses', async () => {
    const { createRequire } = await import('node:module');
    const installed = createRequire(import.meta.url)('kafkajs/src/consumer/filterAbortedMessages.js') as typeof filterAbortedMessages;
    const messages = [record(10, '1'), record(11, '2'), record(12, '3')];
    expect(offsets(installed({ messages, abortedTransactions: [{ producerId: '2', firstOffset: '11' }, { producerId: '1', firstOffset: '10' }] }))).toEqual([12]);
  });
});
