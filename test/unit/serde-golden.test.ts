/**
 * The golden format test: the events of test/support/golden-events.ts must
 * come out byte for byte as stored in test/fixtures/golden/events.json (the
 * bytes the JsonConverter encoding produced before the format seam existed).
 * Regenerate only for an intended format change:
 *   TIDELINE_UPDATE_GOLDEN=1 npx vitest run --project unit test/unit/serde-golden.test.ts
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { goldenRecords, type GoldenRecord } from '../support/golden-events.js';

const FIXTURE = new URL('../fixtures/golden/events.json', import.meta.url);
const NOW = 1_700_000_000_000;

beforeEach(() => {
  vi.spyOn(Date, 'now').mockReturnValue(NOW);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('golden event bytes', () => {
  it('the same events produce the same key, value and header bytes', async () => {
    const records = await goldenRecords(NOW);
    if (process.env.TIDELINE_UPDATE_GOLDEN) writeFileSync(FIXTURE, `${JSON.stringify(records, null, 2)}\n`);
    const stored = JSON.parse(readFileSync(FIXTURE, 'utf8')) as GoldenRecord[];
    expect(records.map((record) => record.name)).toEqual(stored.map((record) => record.name));
    for (const [index, record] of records.entries()) {
      // Compared as text first so a difference shows readably, then exactly.
      const text = (bytes: string | null | undefined) => (bytes == null ? bytes : Buffer.from(bytes, 'base64').toString('utf8'));
      const expected = stored[index]!;
      expect(text(record.key), `${record.name}: key`).toBe(text(expected.key));
      expect(text(record.value), `${record.name}: value`).toBe(text(expected.value));
      expect(record, record.name).toEqual(expected);
    }
  });
});
