import { describe, expect, it } from 'vitest';
import { parseFeatures } from '../../src/sinks/clickhouse/server.js';

describe('parseFeatures', () => {
  it.each([
    ['18.16.1', false],
    ['19.17', false],
    ['19.17.9.60', false],
    ['20.0.1', false],
    ['20.1.2', true],
    ['20.3.21.2', true],
    ['21.1', true],
    ['24.8.4.13', true],
    ['0', false],
  ])('%s: dateTime64 %s', (version, dateTime64) => {
    expect(parseFeatures(version)).toEqual({ version, dateTime64 });
  });
});
