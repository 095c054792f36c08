import { Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/kafka/partitioner.js';

describe('partitionForKey', () => {
  it("picks the partitions of kafkajs's (Java-compatible) default partitioner", () => {
    const kafkajs = Partitioners.DefaultPartitioner();
    for (let i = 0; i < 2_000; i++) {
      const key = Buffer.from(i % 3 === 0 ? `[${i}]` : i % 3 === 1 ? `["customer-${i}","eu"]` : '€'.repeat(i % 7) + String(i));
      for (const count of [2, 3, 7, 12]) {
        const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1, partitionErrorCode: 0, replicas: [1], isr: [1] }));
        const expected = kafkajs({ topic: 't', partitionMetadata, message: { key, value: null } });
        expect(partitionForKey(key, count)).toBe(expected);
      }
    }
  });
});
