import { describe, expect, it } from 'vitest';
import { groupMessagesPerPartition } from '../../src/kafka/group-per-partition.js';

describe('groupMessagesPerPartition', () => {
  it('keeps each partition in send order, as kafkajs does', () => {
    const messages = [1, 2, 3, 4, 5, 6].map((n) => ({ n }));
    const grouped = groupMessagesPerPartition({ topic: 't', partitionMetadata: [{}, {}], messages, partitioner: ({ message }) => message.n % 2 });
    expect(grouped).toEqual({ 0: [{ n: 2 }, { n: 4 }, { n: 6 }], 1: [{ n: 1 }, { n: 3 }, { n: 5 }] });
  });

  it('groups nothing for a topic without partition metadata', () => {
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages: [{ n: 1 }], partitioner: () => 0 })).toEqual({});
  });
});
