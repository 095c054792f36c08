import { describe, expect, it } from 'vitest';
import type { ConnectSchema } from '../../src/core/connect-schema.js';
import { createConverter, DecodeError, isFormat } from '../../src/serde/index.js';
import { parseJson, stringifyJson } from '../../src/serde/json/lossless.js';

const KEY: ConnectSchema = { type: 'struct', optional: false, name: 't.Key', fields: [{ type: 'int64', optional: false, field: 'id' }] };
const ENVELOPE: ConnectSchema = {
  type: 'struct',
  optional: false,
  name: 't.Envelope',
  fields: [
    { type: 'string', optional: false, field: 'op' },
    { type: 'int64', optional: true, field: 'id' },
  ],
};

describe('json converter encoding', () => {
  it('writes JsonConverter envelopes, compact, schema first', async () => {
    const converter = createConverter('json');
    const bytes = (await converter.encoder('t', 'value', ENVELOPE)).encode({ op: 'c', id: 1 });
    expect(bytes.toString()).toBe(`{"schema":${JSON.stringify(ENVELOPE)},"payload":{"op":"c","id":1}}`);
    expect((await converter.encoder('t', 'key', KEY)).encode(null).toString()).toBe(`{"schema":${JSON.stringify(KEY)},"payload":null}`);
    expect((await converter.encoder('t', 'value', ENVELOPE)).encode({ op: 'a"b\n\u00e9' }).toString()).toContain('"payload":{"op":"a\\"b\\n\u00e9"}');
  });

  it('writes schemaless values bare and the null key as an envelope of nulls', async () => {
    const converter = createConverter('json');
    expect((await converter.encoder('t', 'value', null)).encode({ id: 1 }).toString()).toBe('{"id":1}');
    expect(converter.nullKey('t').toString()).toBe('{"schema":null,"payload":null}');
  });

  it('writes int64 beyond 2^53 as exact JSON numbers', async () => {
    const bytes = (await createConverter('json').encoder('t', 'value', ENVELOPE)).encode({ op: 'c', id: 9_007_199_254_740_993n });
    expect(bytes.toString()).toContain('"payload":{"op":"c","id":9007199254740993}');
  });
});

describe('json converter decoding', () => {
  it('round-trips keys and values with their schemas', async () => {
    const converter = createConverter('json');
    const key = converter.decodeKey((await converter.encoder('t', 'key', KEY)).encode({ id: 42 }));
    expect(key.schema.schema).toEqual(KEY);
    expect(key.value).toEqual({ id: 42 });
    const value = converter.decodeValue((await converter.encoder('t', 'value', ENVELOPE)).encode({ op: 'u', id: -5 }));
    expect(value.schema.schema).toEqual(ENVELOPE);
    expect(value.value).toEqual({ op: 'u', id: -5 });
  });

  it('gives every message of a known schema the same cached entry', async () => {
    const converter = createConverter('json');
    const encoder = await converter.encoder('t', 'value', ENVELOPE);
    const first = converter.decodeValue(encoder.encode({ op: 'c', id: 1 }));
    const second = converter.decodeValue(encoder.encode({ op: 'u', id: 2 }));
    expect(second.schema).toBe(first.schema);
    // Keys and values share the one cache; the same schema written by another encoder is the same entry.
    expect(converter.decodeKey((await createConverter('json').encoder('x', 'key', ENVELOPE)).encode({ op: 'd', id: 3 })).schema).toBe(first.schema);
    const key = converter.decodeKey((await converter.encoder('t', 'key', KEY)).encode({ id: 1 }));
    expect(key.schema).not.toBe(first.schema);
    expect(key.schema.id).not.toBe(first.schema.id);
    // The hint is tried first and is returned when it matches.
    expect(converter.decodeValue(encoder.encode({ op: 'c', id: 4 }), key.schema).schema).toBe(first.schema);
    expect(converter.decodeValue(encoder.encode({ op: 'c', id: 4 }), first.schema).value).toEqual({ op: 'c', id: 4 });
  });

  it('skips parsing the schema of a known message (a different schema text of the same length takes the slow path)', async () => {
    const converter = createConverter('json');
    const encoder = await converter.encoder('t', 'value', ENVELOPE);
    const known = converter.decodeValue(encoder.encode({ op: 'c', id: 1 })).schema;
    // Same prefix, garbage where the schema would be parsed: only the payload is read.
    const text = encoder.encode({ op: 'c', id: 7 }).toString();
    expect(converter.decodeValue(Buffer.from(text)).value).toEqual({ op: 'c', id: 7 });
    // Another schema (same length, one letter differs): a new entry, parsed whole.
    const other: ConnectSchema = { ...ENVELOPE, name: 't.Envelopf' };
    const decoded = converter.decodeValue((await converter.encoder('t', 'value', other)).encode({ op: 'c', id: 8 }));
    expect(decoded.schema).not.toBe(known);
    expect(decoded.schema.schema).toEqual(other);
    expect(decoded.value).toEqual({ op: 'c', id: 8 });
    // Another layout of the same schema (payload first, whitespace): the slow path, same entry.
    const reordered = Buffer.from(`{"payload":{"op":"r","id":9}, "schema":${JSON.stringify(ENVELOPE)}}`);
    const slow = converter.decodeValue(reordered);
    expect(slow.schema).toBe(known);
    expect(slow.value).toEqual({ op: 'r', id: 9 });
    // Trailing bytes after the envelope are not taken for the fast path.
    expect(converter.decodeValue(Buffer.from(`${text}\n`)).value).toEqual({ op: 'c', id: 7 });
  });

  it('reads integers beyond 2^53 exactly, on the fast and the slow path', async () => {
    const converter = createConverter('json');
    const encoder = await converter.encoder('t', 'value', ENVELOPE);
    const big = encoder.encode({ op: 'c', id: 9_007_199_254_740_993n });
    expect(converter.decodeValue(big).value).toEqual({ op: 'c', id: 9_007_199_254_740_993n }); // slow (first)
    expect(converter.decodeValue(big).value).toEqual({ op: 'c', id: 9_007_199_254_740_993n }); // fast
    // 16+ digits that JSON.parse keeps exactly: plain numbers.
    expect(converter.decodeValue(encoder.encode({ op: '0.3333333333333333', id: 1_709_296_496_500_000 })).value).toEqual({ op: '0.3333333333333333', id: 1_709_296_496_500_000 });
    expect(converter.decodeValue(Buffer.from('{"a":0.3333333333333333,"b":-9223372036854775808}')).value).toEqual({ a: 0.3333333333333333, b: -9_223_372_036_854_775_808n });
  });

  it('reads schemaless messages with the schemaless entry', async () => {
    const converter = createConverter('json');
    const bare = converter.decodeValue(Buffer.from('{"id":1,"note":"x"}'));
    expect(bare.schema.schema).toBeNull();
    expect(bare.value).toEqual({ id: 1, note: 'x' });
    expect(converter.decodeValue(Buffer.from('{"payload":{"id":1}}')).value).toEqual({ payload: { id: 1 } });
    expect(converter.decodeValue(Buffer.from('[1,2]')).value).toEqual([1, 2]);
    expect(converter.decodeKey(converter.nullKey('t'))).toEqual({ schema: bare.schema, value: null });
    expect(converter.decodeValue(Buffer.from('{"schema":null,"payload":{"id":1}}')).value).toEqual({ id: 1 });
  });

  it('refuses bytes that are not JSON with a DecodeError (a SyntaxError)', async () => {
    const converter = createConverter('json');
    expect(() => converter.decodeValue(Buffer.from('{not json'))).toThrow(DecodeError);
    expect(() => converter.decodeValue(Buffer.from('{not json'))).toThrow(SyntaxError);
    // A known prefix with a broken payload, too.
    const encoder = await converter.encoder('t', 'value', ENVELOPE);
    converter.decodeValue(encoder.encode({ op: 'c' }));
    const broken = Buffer.from(encoder.encode({ op: 'c' }).toString().replace('"payload":{', '"payload":{{'));
    expect(() => converter.decodeValue(broken)).toThrow(DecodeError);
  });

  it('keeps a bounded number of schemas, dropping the oldest; a dropped schema gets a new entry', async () => {
    const converter = createConverter('json');
    const schemaFor = (index: number): ConnectSchema => ({ ...ENVELOPE, name: `t${index}.Envelope` });
    const first = converter.decodeValue((await converter.encoder('t', 'value', schemaFor(0))).encode({ op: 'c' })).schema;
    for (let index = 1; index <= 64; index += 1) converter.decodeValue((await converter.encoder('t', 'value', schemaFor(index))).encode({ op: 'c' }));
    const again = converter.decodeValue((await converter.encoder('t', 'value', schemaFor(0))).encode({ op: 'c' }), first).schema;
    expect(again).not.toBe(first);
    expect(again.id).toBeGreaterThan(first.id);
    expect(again.schema).toEqual(first.schema);
  });
});

describe('lossless JSON helpers', () => {
  it('stringify bigint exactly and parse it back exactly', async () => {
    expect(stringifyJson({ a: 1n << 62n, b: [2n], c: 'x' })).toBe('{"a":4611686018427387904,"b":[2],"c":"x"}');
    expect(parseJson('{"a":4611686018427387904,"b":[2],"t":1709296496500000}')).toEqual({ a: 4_611_686_018_427_387_904n, b: [2], t: 1_709_296_496_500_000 });
  });
});

describe('formats', () => {
  it('knows json and avro; avro needs a registry', async () => {
    expect(isFormat('json')).toBe(true);
    expect(isFormat('avro')).toBe(true);
    expect(isFormat('protobuf')).toBe(false);
    expect(createConverter('json').format).toBe('json');
    expect(() => createConverter('avro')).toThrow('needs a schema registry');
  });
});

describe('json converter: float special values (as JsonConverter, Jackson, writes them)', () => {
  const ROW: ConnectSchema = {
    type: 'struct',
    optional: false,
    name: 't.Envelope',
    fields: [
      { type: 'int64', optional: false, field: 'id' },
      { type: 'double', optional: true, field: 'x' },
      { type: 'float', optional: true, field: 'r' },
      { type: 'array', optional: true, field: 'xs', items: { type: 'double', optional: true } },
      { type: 'string', optional: true, field: 'note' },
    ],
  };

  it('writes NaN and the infinities as JSON strings and -0 as -0.0; other payloads as before', async () => {
    const encoder = await createConverter('json').encoder('t', 'value', ROW);
    const payload = (value: object) => encoder.encode(value).toString().replace(`{"schema":${JSON.stringify(ROW)},"payload":`, '').slice(0, -1);
    expect(payload({ id: 1, x: Number.NaN, r: Number.POSITIVE_INFINITY, xs: [Number.NEGATIVE_INFINITY, -0, null, 1.5], note: 'NaN' })).toBe(
      '{"id":1,"x":"NaN","r":"Infinity","xs":["-Infinity",-0.0,null,1.5],"note":"NaN"}',
    );
    expect(payload({ id: 2, x: -0, r: 5e-324, xs: null, note: null })).toBe('{"id":2,"x":-0.0,"r":5e-324,"xs":null,"note":null}');
    expect(payload({ id: 9_007_199_254_740_993n, x: Number.NaN })).toBe('{"id":9007199254740993,"x":"NaN"}');
    expect(payload({ id: 3, x: 0.1, r: 0, xs: [1e308], note: 'x' })).toBe('{"id":3,"x":0.1,"r":0,"xs":[1e+308],"note":"x"}');
  });

  it('reads them back as numbers in float fields only, on the fast and the slow path', async () => {
    const writer = createConverter('json');
    const bytes = (await writer.encoder('t', 'value', ROW)).encode({ id: 1, x: Number.NaN, r: Number.NEGATIVE_INFINITY, xs: [Number.POSITIVE_INFINITY, -0], note: 'NaN' });
    const reader = createConverter('json');
    for (let pass = 0; pass < 2; pass++) {
      const value = reader.decodeValue<Record<string, unknown>>(bytes).value;
      expect(value.x).toBeNaN();
      expect(value.r).toBe(Number.NEGATIVE_INFINITY);
      expect(value.xs).toEqual([Number.POSITIVE_INFINITY, -0]);
      expect(Object.is((value.xs as number[])[1], -0)).toBe(true);
      expect(value.note).toBe('NaN');
    }
  });
});

describe('json converter: doubles written without exponent beyond 2^53', () => {
  it('reads them as the double again, not as a bigint (float fields only)', async () => {
    const schema: ConnectSchema = {
      type: 'struct',
      optional: false,
      fields: [
        { type: 'double', optional: true, field: 'x' },
        { type: 'float', optional: true, field: 'r' },
        { type: 'int64', optional: true, field: 'big' },
      ],
    };
    const converter = createConverter('json');
    const bytes = (await converter.encoder('t', 'value', schema)).encode({ x: 69_398_487_000_000_000_000, r: 2 ** 60, big: 9_007_199_254_740_993n });
    expect(bytes.toString()).toContain('"payload":{"x":69398487000000000000,"r":1152921504606847000,"big":9007199254740993}');
    expect(converter.decodeValue(bytes).value).toEqual({ x: 69_398_487_000_000_000_000, r: 2 ** 60, big: 9_007_199_254_740_993n });
  });
});
