import { describe, expect, it } from 'vitest';
import { EndTracker, endOffsets, withDeadline } from '../../src/kafka/compacted-topic-reader.js';

describe('compacted-topic reader', () => {
  it('reads each wanted partition with records up to its last stable offset minus one', () => {
    const offsets = [
      { partition: 0, low: '0', high: '10' },
      { partition: 1, low: '5', high: '5' }, // compacted or empty: nothing to read
      { partition: 2, low: '0', high: '3' },
    ];
    expect(endOffsets(offsets)).toEqual(new Map([[0, 9n], [2, 2n]]));
    expect(endOffsets(offsets, new Set([1, 2]))).toEqual(new Map([[2, 2n]]));
    expect(endOffsets([], undefined).size).toBe(0);
  });

  it('is done once every partition reached its end, counting markers after the last record', () => {
    const tracker = new EndTracker(new Map([[0, 9n], [2, 2n]]));
    expect(tracker.done).toBe(false);
    expect(tracker.advance(0, 4n)).toBe(false);
    expect(tracker.advance(7, 100n)).toBe(false); // a partition not read: ignored
    expect(tracker.advance(2, 2n)).toBe(false);
    expect(tracker.advance(0, 3n)).toBe(false); // never moves back
    expect(tracker.advance(0, 9n)).toBe(true); // e.g. the commit marker ending partition 0
    expect(tracker.done).toBe(true);
  });

  it('with nothing to read, is done at once', () => {
    expect(new EndTracker(new Map()).done).toBe(true);
  });

  it('gives up after the deadline', async () => {
    await expect(withDeadline(new Promise(() => undefined), 10, 'too slow')).rejects.toThrow('too slow');
    await expect(withDeadline(Promise.resolve(7), 1_000, 'too slow')).resolves.toBe(7);
  });
});
