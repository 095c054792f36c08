import { describe, expect, it } from 'vitest';
import { SemanticType, SourceTypeParameter, type ConnectSchema } from '../../src/core/connect-schema.js';
import type { ServerFeatures } from '../../src/sinks/clickhouse/server.js';
import { escapeTsv, formatDate, formatIsoUtc, formatMicros, mapColumn } from '../../src/sinks/clickhouse/type-mapping.js';

const MODERN: ServerFeatures = { version: '24.8.4.13', dateTime64: true };
const OLD: ServerFeatures = { version: '18.16.1', dateTime64: false };

function numeric(length?: string, scale?: string, optional = false): ConnectSchema {
  const parameters: Record<string, string> = { [SourceTypeParameter.type]: 'NUMERIC' };
  if (length !== undefined) parameters[SourceTypeParameter.length] = length;
  if (scale !== undefined) parameters[SourceTypeParameter.scale] = scale;
  return { type: 'string', optional, parameters };
}

describe('mapColumn', () => {
  it('maps NUMERIC with precision and scale to Decimal', () => {
    const mapping = mapColumn(numeric('38', '10'), MODERN);
    expect(mapping.type).toBe('Decimal(38, 10)');
    expect(mapping.format('1234567890123456789012345678.0123456789')).toBe('1234567890123456789012345678.0123456789');
    expect(mapColumn(numeric('10', '0'), MODERN).type).toBe('Decimal(10, 0)');
    expect(mapColumn(numeric('10'), MODERN).type).toBe('Decimal(10, 0)');
    expect(mapColumn(numeric('12', '2', true), MODERN).type).toBe('Nullable(Decimal(12, 2))');
  });

  it('maps Connect Decimal (precise decimals) to Decimal, writing the unscaled bytes as decimal text', () => {
    const decimal = (precision: string, scale: string): ConnectSchema => ({ type: 'bytes', optional: true, name: SemanticType.Decimal, version: 1, parameters: { scale, 'connect.decimal.precision': precision } });
    const mapping = mapColumn(decimal('12', '2'), MODERN);
    expect(mapping.type).toBe('Nullable(Decimal(12, 2))');
    expect(mapping.format(Buffer.from([0x30, 0x39]).toString('base64'))).toBe('123.45');
    expect(mapping.format(Buffer.from([0xff]).toString('base64'))).toBe('-0.01');
    expect(mapping.quoted(Buffer.from([0x00, 0x80]).toString('base64'))).toBe('1.28');
    expect(mapColumn(decimal('10', '0'), MODERN).format(Buffer.from([0x80]).toString('base64'))).toBe('-128');
    const wide = mapColumn(decimal('50', '3'), MODERN);
    expect(wide.type).toBe('Nullable(String)');
    expect(wide.format(Buffer.from([0x30, 0x39]).toString('base64'))).toBe('12.345');
  });

  it('keeps NUMERIC without a usable precision as String', () => {
    expect(mapColumn(numeric(), MODERN).type).toBe('String');
    expect(mapColumn(numeric('39', '2'), MODERN).type).toBe('String');
    expect(mapColumn(numeric('0', '0'), MODERN).type).toBe('String');
    expect(mapColumn(numeric('1000', '2'), MODERN).type).toBe('String');
    expect(mapColumn({ type: 'string', optional: false, parameters: { [SourceTypeParameter.type]: 'TEXT' } }, MODERN).type).toBe('String');
  });

  it('maps MicroTimestamp to DateTime64(6) when the server has it, else DateTime', () => {
    const schema: ConnectSchema = { type: 'int64', optional: false, name: SemanticType.MicroTimestamp, version: 1 };
    const modern = mapColumn(schema, MODERN);
    expect(modern.type).toBe("DateTime64(6, 'UTC')");
    expect(modern.format(1_709_296_496_123_456)).toBe('2024-03-01 12:34:56.123456');
    const old = mapColumn(schema, OLD);
    expect(old.type).toBe("DateTime('UTC')");
    expect(old.format(1_709_296_496_123_456)).toBe('2024-03-01 12:34:56');
    expect(mapColumn({ ...schema, optional: true }, OLD).type).toBe("Nullable(DateTime('UTC'))");
  });

  it('maps ZonedTimestamp to DateTime64(6) when the server has it, else DateTime', () => {
    const schema: ConnectSchema = { type: 'string', optional: true, name: SemanticType.ZonedTimestamp, version: 1 };
    const modern = mapColumn(schema, MODERN);
    expect(modern.type).toBe("Nullable(DateTime64(6, 'UTC'))");
    expect(modern.format('2024-03-01T12:34:56.123456Z')).toBe('2024-03-01 12:34:56.123456');
    const old = mapColumn(schema, OLD);
    expect(old.type).toBe("Nullable(DateTime('UTC'))");
    expect(old.format('2024-03-01T12:34:56.123456Z')).toBe('2024-03-01 12:34:56');
    // The last value is remembered (rows of a transaction share now()); a new one, or a bad one, is read as such.
    expect(modern.format('2024-03-01T12:34:56.123456Z')).toBe('2024-03-01 12:34:56.123456');
    expect(modern.format('2024-03-01T12:34:57Z')).toBe('2024-03-01 12:34:57.000000');
    expect(() => modern.format('2024-03-01 12:34:57')).toThrow(/not an ISO-8601 UTC timestamp/);
    expect(modern.format('2024-03-01T12:34:57Z')).toBe('2024-03-01 12:34:57.000000');
    expect(modern.format('2024-03-01T12:34:56.123456Z')).toBe('2024-03-01 12:34:56.123456');
  });

  it('maps Date, UUID, MicroTime and Json', () => {
    const date = mapColumn({ type: 'int32', optional: false, name: SemanticType.Date, version: 1 }, MODERN);
    expect(date.type).toBe('Date');
    expect(date.format(19783)).toBe('2024-03-01');
    expect(mapColumn({ type: 'int32', optional: true, name: SemanticType.Date, version: 1 }, MODERN).type).toBe('Nullable(Date)');
    const uuid = mapColumn({ type: 'string', optional: false, name: SemanticType.Uuid, version: 1 }, MODERN);
    expect(uuid.type).toBe('UUID');
    expect(uuid.format('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    expect(mapColumn({ type: 'string', optional: true, name: SemanticType.Uuid, version: 1 }, MODERN).type).toBe('Nullable(UUID)');
    const time = mapColumn({ type: 'int64', optional: false, name: SemanticType.MicroTime, version: 1 }, MODERN);
    expect(time.type).toBe('Int64');
    expect(time.format(45_296_123_456)).toBe('45296123456');
    const json = mapColumn({ type: 'string', optional: true, name: SemanticType.Json, version: 1 }, MODERN);
    expect(json.type).toBe('Nullable(String)');
    expect(json.format('{"a":1}')).toBe('{"a":1}');
  });

  it.each([
    ['int8', 'Int8'],
    ['int16', 'Int16'],
    ['int32', 'Int32'],
    ['int64', 'Int64'],
    ['float', 'Float32'],
    ['double', 'Float64'],
    ['boolean', 'UInt8'],
    ['string', 'String'],
    ['bytes', 'String'],
    ['struct', 'String'],
  ] as const)('maps %s to %s, Nullable when optional', (type, expected) => {
    expect(mapColumn({ type, optional: false }, MODERN).type).toBe(expected);
    expect(mapColumn({ type, optional: true }, MODERN).type).toBe(`Nullable(${expected})`);
  });

  it('formats plain values', () => {
    expect(mapColumn({ type: 'int64', optional: false }, MODERN).format(-42)).toBe('-42');
    expect(mapColumn({ type: 'double', optional: false }, MODERN).format(0.25)).toBe('0.25');
    const bool = mapColumn({ type: 'boolean', optional: false }, MODERN);
    expect(bool.format(true)).toBe('1');
    expect(bool.format(false)).toBe('0');
    expect(mapColumn({ type: 'bytes', optional: false }, MODERN).format('AQL/')).toBe('AQL/');
    expect(mapColumn({ type: 'struct', optional: false }, MODERN).format({ a: [1, 'b'] })).toBe('{"a":[1,"b"]}');
  });
});

describe('float and numeric special values', () => {
  it('writes NaN, the infinities and -0 of floats as ClickHouse spells them, from numbers or JsonConverter strings', () => {
    const double = mapColumn({ type: 'double', optional: true }, OLD);
    expect([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 5e-324, 20 / 7].map(double.tsv)).toEqual(['nan', 'inf', '-inf', '-0', '5e-324', '2.857142857142857']);
    expect(['NaN', 'Infinity', '-Infinity'].map(double.tsv)).toEqual(['nan', 'inf', '-inf']);
    expect(() => double.tsv('abc')).toThrow('not a floating-point number: "abc"');
    const reals = mapColumn({ type: 'array', optional: true, items: { type: 'float', optional: true } }, OLD);
    expect(reals.tsv([Number.NaN, null, -0])).toBe('[nan,NULL,-0]');
  });

  it("refuses numeric NaN and ±Infinity for Decimal columns, or writes NULL when nonFiniteNumeric is 'null' and the column is Nullable", () => {
    expect(() => mapColumn(numeric('12', '2', true), OLD).tsv('NaN')).toThrow(
      "numeric NaN has no value in ClickHouse's Decimal(12, 2) (the sink's nonFiniteNumeric setting can write NULL instead)",
    );
    expect(() => mapColumn(numeric('12', '2'), OLD).tsv('-Infinity')).toThrow('numeric -Infinity has no value');
    const nulls = mapColumn(numeric('12', '2', true), OLD, { nonFiniteNumeric: 'null' });
    expect(['NaN', 'Infinity', '1.50'].map(nulls.tsv)).toEqual(['\\N', '\\N', '1.50']);
    expect(() => mapColumn(numeric('12', '2'), OLD, { nonFiniteNumeric: 'null' }).tsv('NaN')).toThrow('and the column is not Nullable');
    const array = mapColumn({ type: 'array', optional: true, items: numeric('12', '2', true) }, OLD, { nonFiniteNumeric: 'null' });
    expect(array.tsv(['NaN', '1.00'])).toBe('[NULL,1.00]');
    // Unconstrained numeric is a String column: the text is kept.
    expect(mapColumn(numeric(undefined, undefined, true), OLD).tsv('NaN')).toBe('NaN');
  });
});

describe('formatDate', () => {
  it('writes days since the epoch as YYYY-MM-DD', () => {
    expect(formatDate(0)).toBe('1970-01-01');
    expect(formatDate(19783)).toBe('2024-03-01');
    expect(formatDate(-1)).toBe('1969-12-31');
    expect(formatDate(-719162)).toBe('0001-01-01');
    expect(formatDate(2_932_896)).toBe('9999-12-31');
  });
});

describe('formatMicros', () => {
  it('writes microseconds since the epoch with or without the fraction', () => {
    expect(formatMicros(0, true)).toBe('1970-01-01 00:00:00.000000');
    expect(formatMicros(0, false)).toBe('1970-01-01 00:00:00');
    expect(formatMicros(1_709_296_496_123_456, true)).toBe('2024-03-01 12:34:56.123456');
    expect(formatMicros(1_709_296_496_123_456, false)).toBe('2024-03-01 12:34:56');
    expect(formatMicros(1_500_000, true)).toBe('1970-01-01 00:00:01.500000');
    expect(formatMicros(7, true)).toBe('1970-01-01 00:00:00.000007');
  });

  it('handles times before the epoch', () => {
    expect(formatMicros(-1, true)).toBe('1969-12-31 23:59:59.999999');
    expect(formatMicros(-1, false)).toBe('1969-12-31 23:59:59');
    expect(formatMicros(-1_500_000, true)).toBe('1969-12-31 23:59:58.500000');
    expect(formatMicros(-86_400_000_000, true)).toBe('1969-12-31 00:00:00.000000');
  });
});

describe('formatIsoUtc', () => {
  it('turns ISO-8601 UTC text into DateTime text', () => {
    expect(formatIsoUtc('2024-03-01T12:34:56.123456Z', true)).toBe('2024-03-01 12:34:56.123456');
    expect(formatIsoUtc('2024-03-01T12:34:56.123456Z', false)).toBe('2024-03-01 12:34:56');
    expect(formatIsoUtc('2024-03-01T12:34:56Z', true)).toBe('2024-03-01 12:34:56.000000');
    expect(formatIsoUtc('2024-03-01T12:34:56.5Z', true)).toBe('2024-03-01 12:34:56.500000');
    expect(formatIsoUtc('2024-03-01T12:34:56.123456789Z', true)).toBe('2024-03-01 12:34:56.123456');
  });

  it('refuses text that is not ISO-8601 UTC', () => {
    expect(() => formatIsoUtc('2024-03-01 12:34:56', true)).toThrow('not an ISO-8601 UTC timestamp: "2024-03-01 12:34:56"');
    expect(() => formatIsoUtc('2024-03-01T12:34:56+02:00', false)).toThrow('not an ISO-8601 UTC timestamp: "2024-03-01T12:34:56+02:00"');
    for (const text of ['2024-03-01T12:34:56.Z', '2024-03-01T12:34:56.1234567890Z', '2024-03-01T1a:34:56Z', '2024/03/01T12:34:56Z', '2024-03-01T12:34:56.12a4Z', '12024-03-01T12:34:56Z']) {
      expect(() => formatIsoUtc(text, true), text).toThrow('not an ISO-8601 UTC timestamp');
    }
  });
});

describe('escapeTsv', () => {
  it('escapes backslash, tab, newline, carriage return and NUL', () => {
    expect(escapeTsv('a\tb')).toBe('a\\tb');
    expect(escapeTsv('a\nb')).toBe('a\\nb');
    expect(escapeTsv('a\\b')).toBe('a\\\\b');
    expect(escapeTsv('a\rb')).toBe('a\\rb');
    expect(escapeTsv('a\0b')).toBe('a\\0b');
    expect(escapeTsv('\\t\t\n\\')).toBe('\\\\t\\t\\n\\\\');
  });

  it('leaves other text unchanged', () => {
    expect(escapeTsv('plain text, "quotes" and \'single\'')).toBe('plain text, "quotes" and \'single\'');
    expect(escapeTsv('')).toBe('');
  });
});
