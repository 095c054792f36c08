import { describe, expect, it } from 'vitest';
import { classifyKafkaError } from '../../src/kafka/errors.js';
import { chunkBySize } from '../../src/kafka/transactional-writer.js';

describe('kafka plumbing helpers', () => {
  it('groups output records by topic in sends below the broker limit, keeping order', () => {
    const value = Buffer.alloc(100_000);
    const records = Array.from({ length: 20 }, (_, index) => ({ topic: index % 2 ? 'a' : 'b', key: Buffer.from(String(index)), value, partition: index % 3 }));
    const chunks = chunkBySize(records);
    expect(chunks.length).toBe(3);
    for (const chunk of chunks) {
      const bytes = chunk.flatMap((topic) => topic.messages).reduce((sum, message) => sum + (message.value?.length ?? 0), 0);
      expect(bytes).toBeLessThanOrEqual(768 * 1024);
    }
    const sent = chunks.flatMap((chunk) => chunk.flatMap((topic) => topic.messages.map((message) => `${topic.topic}:${message.key!.toString()}:${message.partition}`)));
    expect(sent.filter((entry) => entry.startsWith('a:'))).toEqual(records.filter((record) => record.topic === 'a').map((record) => `a:${record.key.toString()}:${record.partition}`));
    expect(sent).toHaveLength(20);
  });

  it('tells rebalances and fencing from other failures, also when wrapped', () => {
    expect(classifyKafkaError({ type: 'REBALANCE_IN_PROGRESS' })).toBe('rebalance');
    expect(classifyKafkaError({ name: 'KafkaJSNumberOfRetriesExceeded', cause: { type: 'INVALID_PRODUCER_EPOCH' } })).toBe('fenced');
    expect(classifyKafkaError(new Error('boom'))).toBe('other');
    expect(classifyKafkaError(undefined)).toBe('other');
  });
});
