import { describe, expect, it } from 'vitest';
import { classifyKafkaError } from '../../src/kafka/errors.js';
import { chunkBySize, recordBytes } from '../../src/kafka/transactional-writer.js';

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

  it('counts headers against the limit: small dead letters with their error headers stay below it', () => {
    // 100-byte values with 400 bytes of headers: counted without headers, one send held 4,800 of them (2.3 MB).
    const letters = Array.from({ length: 10_000 }, (_, index) => ({
      topic: 'p.dlq',
      key: Buffer.from(String(index)),
      value: Buffer.alloc(100),
      headers: { 'tideline.error': 'x'.repeat(300), 'tideline.source.topic': 'orders', 'tideline.source.offset': [String(index), Buffer.alloc(50)] },
    }));
    const chunks = chunkBySize(letters);
    for (const chunk of chunks) {
      const bytes = chunk
        .flatMap((topic) => topic.messages)
        .reduce((sum, message) => sum + (message.key?.length ?? 0) + (message.value?.length ?? 0) + Object.entries(message.headers ?? {}).reduce((n, [name, value]) => n + name.length + [value].flat().reduce((m, item) => m + Buffer.byteLength(item as Buffer | string), 0), 0), 0);
      expect(bytes).toBeLessThanOrEqual(768 * 1024);
    }
    expect(chunks.flatMap((chunk) => chunk.flatMap((topic) => topic.messages))).toHaveLength(10_000);
    expect(recordBytes(letters[0]!)).toBe(1 + 100 + 64 + 'tideline.error'.length + 300 + 'tideline.source.topic'.length + 6 + 'tideline.source.offset'.length + 1 + 50);
  });

  it('tells rebalances and fencing from other failures, also when wrapped', () => {
    expect(classifyKafkaError({ type: 'REBALANCE_IN_PROGRESS' })).toBe('rebalance');
    expect(classifyKafkaError({ name: 'KafkaJSNumberOfRetriesExceeded', cause: { type: 'INVALID_PRODUCER_EPOCH' } })).toBe('fenced');
    expect(classifyKafkaError(new Error('boom'))).toBe('other');
    expect(classifyKafkaError(undefined)).toBe('other');
  });
});
