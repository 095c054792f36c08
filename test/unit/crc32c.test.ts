import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/kafka/crc32c.js';

// kafkajs's own byte-at-a-time CRC-32C (its inner module, not the patched index.js).
const kafkajsCrc32c = createRequire(import.meta.url)('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (buffer: Buffer) => number;

describe('crc32c', () => {
  it('gives the CRC-32C check value of "123456789" (0xE3069283)', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
  });

  it('equals kafkajs\'s checksum for every length around the 8-byte steps, and for large buffers', () => {
    for (let length = 0; length <= 40; length++) {
      const buffer = randomBytes(length);
      expect(crc32c(buffer)).toBe(kafkajsCrc32c(buffer));
    }
    for (const length of [1_000, 65_537, 800_003]) {
      const buffer = randomBytes(length);
      expect(crc32c(buffer)).toBe(kafkajsCrc32c(buffer));
    }
  });

  it('takes a view into a larger buffer at any offset', () => {
    const whole = randomBytes(1_000);
    const view = whole.subarray(3, 997);
    expect(crc32c(view)).toBe(kafkajsCrc32c(Buffer.from(view)));
  });
});
