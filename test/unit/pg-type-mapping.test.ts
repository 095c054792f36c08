import { describe, expect, it, vi } from 'vitest';
import { SemanticType, SourceTypeParameter } from '../../src/core/connect-schema.js';
import {
  byteaToBase64,
  dateToEpochDays,
  mapColumnType,
  numericPrecision,
  Oid,
  timestampToMicros,
  timestamptzToIso,
  timeToMicros,
  timetzToUtc,
  type ColumnType,
} from '../../src/sources/postgres/type-mapping.js';

const TYPE = SourceTypeParameter.type;
const LENGTH = SourceTypeParameter.length;
const SCALE = SourceTypeParameter.scale;

function map(oid: number, typeMod = -1, name?: string) {
  const onFallback = vi.fn<(type: ColumnType) => void>();
  const mapping = mapColumnType(name === undefined ? { oid, typeMod } : { oid, typeMod, name }, onFallback);
  return { mapping, onFallback };
}

describe('mapColumnType', () => {
  it('bool: boolean from t/f', () => {
    const { mapping, onFallback } = map(Oid.bool);
    expect(mapping.schema).toEqual({ type: 'boolean' });
    expect(mapping.fromText('t')).toBe(true);
    expect(mapping.fromText('f')).toBe(false);
    expect(onFallback).not.toHaveBeenCalled();
  });

  it('int2, int4, oid, int8: integer types as numbers', () => {
    expect(map(Oid.int2).mapping.schema).toEqual({ type: 'int16' });
    expect(map(Oid.int2).mapping.fromText('-32768')).toBe(-32768);
    expect(map(Oid.int4).mapping.schema).toEqual({ type: 'int32' });
    expect(map(Oid.int4).mapping.fromText('2147483647')).toBe(2147483647);
    expect(map(Oid.oid).mapping.schema).toEqual({ type: 'int32' });
    expect(map(Oid.oid).mapping.fromText('16384')).toBe(16384);
    expect(map(Oid.int8).mapping.schema).toEqual({ type: 'int64' });
    expect(map(Oid.int8).mapping.fromText('-42')).toBe(-42);
    expect(map(Oid.int8).mapping.fromText('9007199254740991')).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('float4, float8: float and double', () => {
    expect(map(Oid.float4).mapping.schema).toEqual({ type: 'float' });
    expect(map(Oid.float4).mapping.fromText('1.5')).toBe(1.5);
    expect(map(Oid.float8).mapping.schema).toEqual({ type: 'double' });
    expect(map(Oid.float8).mapping.fromText('-0.25')).toBe(-0.25);
    expect(map(Oid.float8).mapping.fromText('1e+100')).toBe(1e100);
  });

  it('numeric(38,10): exact text, precision and scale in the parameters', () => {
    const typeMod = ((38 << 16) | 10) + 4;
    expect(typeMod).toBe(2490382);
    const { mapping } = map(Oid.numeric, typeMod);
    expect(mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'NUMERIC', [LENGTH]: '38', [SCALE]: '10' } });
    expect(mapping.fromText('1234567890123456789012345678.0123456789')).toBe('1234567890123456789012345678.0123456789');
  });

  it('numeric(10,0) keeps scale 0; unconstrained numeric has no length or scale', () => {
    expect(map(Oid.numeric, (10 << 16) + 4).mapping.schema).toEqual({
      type: 'string',
      parameters: { [TYPE]: 'NUMERIC', [LENGTH]: '10', [SCALE]: '0' },
    });
    expect(map(Oid.numeric, -1).mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'NUMERIC' } });
    expect(map(Oid.numeric, -1).mapping.fromText('NaN')).toBe('NaN');
  });

  it('numeric(p,s) with decimalHandling precise: Connect Decimal, the unscaled value as two\'s-complement bytes (base64)', () => {
    const precise = (typeMod: number) => mapColumnType({ oid: Oid.numeric, typeMod }, undefined, new Map(), 'precise');
    const decimal = precise(((12 << 16) | 2) + 4);
    expect(decimal.schema).toEqual({
      type: 'bytes',
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: '2', 'connect.decimal.precision': '12', [TYPE]: 'NUMERIC', [LENGTH]: '12', [SCALE]: '2' },
    });
    // As Java's BigInteger.toByteArray: 12345 = 0x3039; -1 = 0xff; 128 = 0x0080.
    expect(decimal.fromText('123.45')).toBe(Buffer.from([0x30, 0x39]).toString('base64'));
    expect(decimal.fromText('-0.01')).toBe(Buffer.from([0xff]).toString('base64'));
    expect(decimal.fromText('1.28')).toBe(Buffer.from([0x00, 0x80]).toString('base64'));
    expect(decimal.fromText('0.00')).toBe(Buffer.from([0]).toString('base64'));
    expect(() => decimal.fromText('NaN')).toThrow('not a decimal number');
    // Without a fixed scale (unconstrained, negative scale) it stays exact text.
    expect(precise(-1).schema).toEqual({ type: 'string', parameters: { [TYPE]: 'NUMERIC' } });
    expect(precise(((5 << 16) | (-2 & 0x7ff)) + 4).schema.type).toBe('string');
  });

  it('text and name: TEXT strings', () => {
    expect(map(Oid.text).mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'TEXT' } });
    expect(map(Oid.text).mapping.fromText('héllo\tworld')).toBe('héllo\tworld');
    expect(map(Oid.name).mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'TEXT' } });
  });

  it('varchar(20) and char(5): length from the typmod', () => {
    expect(map(Oid.varchar, 24).mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'VARCHAR', [LENGTH]: '20' } });
    expect(map(Oid.varchar, 24).mapping.fromText('abc')).toBe('abc');
    expect(map(Oid.varchar, -1).mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'VARCHAR' } });
    expect(map(Oid.bpchar, 9).mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'BPCHAR', [LENGTH]: '5' } });
    expect(map(Oid.bpchar, 9).mapping.fromText('ab   ')).toBe('ab   ');
  });

  it('uuid: io.debezium.data.Uuid', () => {
    const { mapping } = map(Oid.uuid);
    expect(mapping.schema).toEqual({ type: 'string', name: 'io.debezium.data.Uuid', version: 1 });
    expect(mapping.fromText('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')).toBe('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
  });

  it('json and jsonb: io.debezium.data.Json with the text kept', () => {
    expect(map(Oid.jsonb).mapping.schema).toEqual({ type: 'string', name: 'io.debezium.data.Json', version: 1 });
    expect(map(Oid.json).mapping.schema).toEqual({ type: 'string', name: SemanticType.Json, version: 1 });
    expect(map(Oid.jsonb).mapping.fromText('{"a": [1, 2]}')).toBe('{"a": [1, 2]}');
  });

  it('date: days since the epoch', () => {
    const { mapping } = map(Oid.date);
    expect(mapping.schema).toEqual({ type: 'int32', name: 'io.debezium.time.Date', version: 1 });
    expect(mapping.fromText('2024-03-01')).toBe(19783);
    expect(mapping.fromText('1970-01-01')).toBe(0);
    expect(mapping.fromText('1969-12-31')).toBe(-1);
    expect(mapping.fromText('0001-01-01')).toBe(-719162);
    expect(mapping.fromText('0001-01-01 BC')).toBe(-719528);
  });

  it('time: microseconds since midnight', () => {
    const { mapping } = map(Oid.time);
    expect(mapping.schema).toEqual({ type: 'int64', name: 'io.debezium.time.MicroTime', version: 1 });
    expect(mapping.fromText('12:34:56.123456')).toBe(45_296_123_456);
    expect(mapping.fromText('12:34:56.5')).toBe(45_296_500_000);
    expect(mapping.fromText('00:00:00')).toBe(0);
    expect(mapping.fromText('23:59:59.999999')).toBe(86_399_999_999);
  });

  it('timestamp: microseconds since the epoch', () => {
    const { mapping } = map(Oid.timestamp);
    expect(mapping.schema).toEqual({ type: 'int64', name: 'io.debezium.time.MicroTimestamp', version: 1 });
    expect(mapping.fromText('2024-03-01 12:34:56.123456')).toBe(1_709_296_496_123_456);
    expect(mapping.fromText('1970-01-01 00:00:00')).toBe(0);
    expect(mapping.fromText('1969-12-31 23:59:59.999999')).toBe(-1);
  });

  it('timestamptz: ISO-8601 UTC text with the fraction kept', () => {
    const { mapping } = map(Oid.timestamptz);
    expect(mapping.schema).toEqual({ type: 'string', name: 'io.debezium.time.ZonedTimestamp', version: 1 });
    expect(mapping.fromText('2024-03-01 12:34:56.123456+00')).toBe('2024-03-01T12:34:56.123456Z');
    expect(mapping.fromText('2024-03-01 12:34:56+00')).toBe('2024-03-01T12:34:56Z');
    expect(mapping.fromText('infinity')).toBe('infinity');
    expect(mapping.fromText('-infinity')).toBe('-infinity');
    expect(() => mapping.fromText('2024-03-01 12:34:56+02')).toThrow('unsupported timestamptz "2024-03-01 12:34:56+02" (expected UTC output)');
  });

  it('bytea: hex output to base64', () => {
    const { mapping } = map(Oid.bytea);
    expect(mapping.schema).toEqual({ type: 'bytes' });
    expect(mapping.fromText('\\x0102ff')).toBe('AQL/');
    expect(mapping.fromText('\\x')).toBe('');
    expect(() => mapping.fromText('\\001')).toThrow('unsupported bytea output (expected bytea_output=hex)');
  });

  it('unknown types fall back to their text as a string and call onFallback once per call', () => {
    const point = map(600, -1); // point: no specific mapping
    expect(point.mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'OID 600' } });
    expect(point.mapping.fromText('(1,2)')).toBe('(1,2)');
    expect(point.onFallback).toHaveBeenCalledTimes(1);
    expect(point.onFallback).toHaveBeenCalledWith({ oid: 600, typeMod: -1 });

    const citext = map(16_500, 7, 'citext');
    expect(citext.mapping.schema).toEqual({ type: 'string', parameters: { [TYPE]: 'CITEXT' } });
    expect(citext.onFallback).toHaveBeenCalledTimes(1);
    expect(citext.onFallback).toHaveBeenCalledWith({ oid: 16_500, typeMod: 7, name: 'citext' });

    const onFallback = vi.fn();
    mapColumnType({ oid: 869, typeMod: -1 }, onFallback); // inet
    mapColumnType({ oid: 869, typeMod: -1 }, onFallback);
    mapColumnType({ oid: Oid.int4, typeMod: -1 }, onFallback);
    expect(onFallback).toHaveBeenCalledTimes(2);
  });

  it('works without an onFallback callback', () => {
    expect(mapColumnType({ oid: 999_999, typeMod: -1 }).fromText('x')).toBe('x');
  });
});

describe('text conversions', () => {
  it('refuse text they do not understand', () => {
    expect(() => dateToEpochDays('2024/03/01')).toThrow('unsupported date "2024/03/01"');
    expect(() => timeToMicros('1:02:03')).toThrow('unsupported time "1:02:03"');
    expect(() => timestampToMicros('2024-03-01T12:00:00')).toThrow('unsupported timestamp "2024-03-01T12:00:00"');
    expect(() => timestamptzToIso('2024-03-01T12:00:00Z')).toThrow('unsupported timestamptz "2024-03-01T12:00:00Z" (expected UTC output)');
    expect(() => byteaToBase64('0102')).toThrow('unsupported bytea output (expected bytea_output=hex)');
  });
});

describe('numericPrecision', () => {
  it('decodes a negative scale (PostgreSQL 15: numeric(5,-2))', () => {
    // typmod = ((5 << 16) | (-2 & 0x7ff)) + 4
    expect(numericPrecision(((5 << 16) | (-2 & 0x7ff)) + 4)).toEqual({ precision: 5, scale: -2 });
    expect(numericPrecision(((38 << 16) | 10) + 4)).toEqual({ precision: 38, scale: 10 });
    expect(numericPrecision(-1)).toEqual({});
  });
});

describe('timetzToUtc', () => {
  it('converts to UTC with Z, keeping the fraction and wrapping around midnight', () => {
    expect(timetzToUtc('12:34:56.123456+02')).toBe('10:34:56.123456Z');
    expect(timetzToUtc('01:00:00+03')).toBe('22:00:00Z');
    expect(timetzToUtc('23:30:00-03:30')).toBe('03:00:00Z');
    expect(() => timetzToUtc('noon')).toThrow('unsupported timetz "noon"');
  });
});

describe('mapColumnType with catalog types', () => {
  const catalog = new Map([
    [90_001, { oid: 90_001, name: '_int4', kind: 'b', elementOid: Oid.int4, baseOid: 0, labels: null }],
    [90_002, { oid: 90_002, name: 'mood', kind: 'e', elementOid: 0, baseOid: 0, labels: ['sad', 'ok'] }],
    [90_003, { oid: 90_003, name: '_mood', kind: 'b', elementOid: 90_002, baseOid: 0, labels: null }],
    [90_004, { oid: 90_004, name: 'posint', kind: 'd', elementOid: 0, baseOid: Oid.int4, labels: null }],
  ]);
  const mapped = (oid: number) => mapColumnType({ oid, typeMod: -1 }, undefined, catalog);

  it('maps arrays element by element, NULL elements included', () => {
    expect(mapped(90_001).schema).toEqual({ type: 'array', items: { type: 'int32', optional: true } });
    expect(mapped(90_001).fromText('{1,NULL,3}')).toEqual([1, null, 3]);
    expect(mapped(90_003).fromText('{sad,"ok"}')).toEqual(['sad', 'ok']);
  });

  it('maps an enum to a string with its allowed labels', () => {
    expect(mapped(90_002).schema).toEqual({ type: 'string', name: SemanticType.Enum, version: 1, parameters: { allowed: 'sad,ok' } });
  });

  it('maps a domain as its base type', () => {
    expect(mapped(90_004).schema).toEqual({ type: 'int32' });
    expect(mapped(90_004).fromText('42')).toBe(42);
  });

  it('keeps interval as ISO-8601 text', () => {
    const interval = mapColumnType({ oid: Oid.interval, typeMod: -1 });
    expect(interval.schema).toEqual({ type: 'string', name: SemanticType.Interval, version: 1 });
    expect(interval.fromText('P1Y2M3DT4H5M6.789S')).toBe('P1Y2M3DT4H5M6.789S');
  });
});
