import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { decodeRecord, type BatchContext, type DecodedRecord, type RecordSource } from '../../src/kafka/record-decoder.js';
import { loadKafkajsOriginal } from '../support/kafkajs-original.js';
import { seededRandom as random } from '../support/seeded-random.js';

// kafkajs's own Encoder and Decoder (not patched), and its record decoder as
// it ships (the test setup put ours at that module's path).
const require = createRequire(import.meta.url);
type KafkaEncoder = {
  writeInt8(n: number): KafkaEncoder;
  writeVarInt(n: number): KafkaEncoder;
  writeVarLong(n: number | bigint): KafkaEncoder;
  writeVarIntBytes(v: Buffer | null): KafkaEncoder;
  writeVarIntString(v: string | null): KafkaEncoder;
  writeVarIntArray(a: KafkaEncoder[]): KafkaEncoder;
  buffer: Buffer;
};
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkaEncoder;
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => RecordSource;
type DecodeRecord = (decoder: RecordSource, context?: BatchContext) => DecodedRecord;
const kafkajsDecodeRecord = loadKafkajsOriginal<DecodeRecord>('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');

interface RecordFields {
  attributes?: number;
  timestampDelta?: number | bigint;
  offsetDelta?: number;
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: [string | null, Buffer | null][];
}

/** A record's bytes after its length (what kafkajs's batch decoder gives the record decoder), written by kafkajs's Encoder. */
function recordBody({ attributes = 0, timestampDelta = 0, offsetDelta = 0, key = null, value = null, headers = [] }: RecordFields): Buffer {
  const encodedHeaders = headers.map(([name, item]) => new Encoder().writeVarIntString(name).writeVarIntBytes(item));
  return new Encoder().writeInt8(attributes).writeVarLong(timestampDelta).writeVarInt(offsetDelta).writeVarIntBytes(key).writeVarIntBytes(value).writeVarIntArray(encodedHeaders).buffer;
}

/** The context kafkajs's batch decoder passes (recordBatch/v0/decoder.js). */
function batchContext(fields: Partial<BatchContext> = {}): BatchContext {
  return {
    firstOffset: '1000',
    firstTimestamp: '1700000000000',
    partitionLeaderEpoch: 0,
    inTransaction: false,
    isControlBatch: false,
    lastOffsetDelta: 0,
    producerId: '-1',
    producerEpoch: 0,
    firstSequence: 0,
    maxTimestamp: '1700000000999',
    timestampType: 0,
    magicByte: 2,
    ...fields,
  };
}

/** The same bytes of the same memory (kafkajs's key, value and header values are views of the buffer read), or both null. */
function expectSameView(actual: unknown, expected: unknown): void {
  if (!Buffer.isBuffer(expected)) return void expect(actual).toBe(expected);
  expect(Buffer.isBuffer(actual)).toBe(true);
  const view = actual as Buffer;
  expect([view.buffer, view.byteOffset, view.length]).toEqual([expected.buffer, expected.byteOffset, expected.length]);
  expect(view.equals(expected)).toBe(true);
}

/**
 * Decodes the bytes (placed between other bytes, at a non-zero offset) with
 * kafkajs's decoder and ours, and checks that both return the same fields in
 * the same order, the key, value and header values views of the same bytes,
 * and that both decoders end at the same offset. (Buffers and headers
 * compared here rather than by toStrictEqual: it compares buffers byte by
 * byte, slowly, and refuses an own "constructor" header.)
 */
function expectSameDecoding(body: Buffer, context: BatchContext | undefined): DecodedRecord {
  const buffer = Buffer.concat([Buffer.from([0xff, 0x80, 0x01]), body, Buffer.from([0x7f, 0x7f])]);
  const theirs = new Decoder(buffer);
  const ours = new Decoder(buffer);
  theirs.offset = ours.offset = 3;
  const expected = kafkajsDecodeRecord(theirs, context);
  const actual = decodeRecord(ours, context);
  expect(Object.keys(actual)).toEqual(Object.keys(expected));
  expect({ ...actual, key: 'compared below', value: 'compared below', headers: 'compared below' }).toStrictEqual({ ...expected, key: 'compared below', value: 'compared below', headers: 'compared below' });
  expect(actual.batchContext).toBe(expected.batchContext);
  expectSameView(actual.key, expected.key);
  expectSameView(actual.value, expected.value);
  expect(Object.getPrototypeOf(actual.headers)).toBe(Object.prototype);
  expect(Object.getOwnPropertyNames(actual.headers)).toEqual(Object.getOwnPropertyNames(expected.headers));
  for (const name of Object.getOwnPropertyNames(expected.headers)) {
    const [mine, theirsEntry] = [actual.headers[name], expected.headers[name]];
    expect(Array.isArray(mine)).toBe(Array.isArray(theirsEntry));
    if (!Array.isArray(mine) || !Array.isArray(theirsEntry)) expectSameView(mine, theirsEntry);
    else {
      expect(mine).toHaveLength(theirsEntry.length);
      mine.forEach((item, index) => expectSameView(item, theirsEntry[index]));
    }
  }
  expect(ours.offset).toBe(theirs.offset);
  return actual;
}


const cases: [string, RecordFields, Partial<BatchContext>][] = [
  ['key and value', { timestampDelta: 17, offsetDelta: 3, key: Buffer.from('k1'), value: Buffer.from('{"a":1}') }, {}],
  ['a tombstone (null value)', { key: Buffer.from([0, 0, 0, 0, 1, 2]), value: null }, {}],
  ['null key and value', { key: null, value: null }, {}],
  ['empty key and value', { key: Buffer.alloc(0), value: Buffer.alloc(0) }, {}],
  ['a value of more than 127 bytes (2-byte length)', { key: Buffer.from('k'), value: Buffer.alloc(300, 7) }, {}],
  ['a value of more than 16383 bytes (3-byte length)', { key: Buffer.alloc(200, 1), value: Buffer.alloc(20_000, 2) }, {}],
  ['attributes set', { attributes: -1, value: Buffer.from('v') }, {}],
  ['a negative timestamp delta', { timestampDelta: -1234, offsetDelta: 4, value: Buffer.from('v') }, {}],
  ['a large offset delta', { offsetDelta: 2 ** 31 - 1, value: Buffer.from('v') }, {}],
  ['a negative offset delta', { offsetDelta: -(2 ** 31), value: Buffer.from('v') }, {}],
  ['a timestamp delta of 7 varint bytes', { timestampDelta: 2 ** 47, value: Buffer.from('v') }, {}],
  ['a timestamp delta of 8 varint bytes (Long)', { timestampDelta: -(2 ** 48) - 1, value: Buffer.from('v') }, {}],
  ['a timestamp delta past 2^53 (Long)', { timestampDelta: 2n ** 60n + 3n, value: Buffer.from('v') }, {}],
  ['a first offset past 2^53', { offsetDelta: 2, value: Buffer.from('v') }, { firstOffset: '9007199254740993' }],
  ['an offset crossing 2^53', { offsetDelta: 5, value: Buffer.from('v') }, { firstOffset: '9007199254740990' }],
  ['the largest offset', { offsetDelta: 7, value: Buffer.from('v') }, { firstOffset: '9223372036854775800' }],
  ['a first timestamp past 2^53', { timestampDelta: 9, value: Buffer.from('v') }, { firstTimestamp: '9007199254740993' }],
  ['no timestamp (first timestamp -1)', { timestampDelta: 0, value: Buffer.from('v') }, { firstTimestamp: '-1', maxTimestamp: '-1' }],
  ['a first offset in a non-canonical string', { offsetDelta: 1, value: Buffer.from('v') }, { firstOffset: '007' }],
  ['a first offset as a number', { offsetDelta: 1, value: Buffer.from('v') }, { firstOffset: 41 }],
  ['LOG_APPEND_TIME: the max timestamp', { timestampDelta: 55, value: Buffer.from('v') }, { timestampType: 1, maxTimestamp: '1700000005555' }],
  ['LOG_APPEND_TIME and a delta past 2^53', { timestampDelta: 2n ** 59n, value: Buffer.from('v') }, { timestampType: 1 }],
  ['LOG_APPEND_TIME without a max timestamp', { timestampDelta: 55, value: Buffer.from('v') }, { timestampType: 1, maxTimestamp: undefined }],
  ['a control batch', { key: Buffer.from([0, 0, 0, 1]), value: Buffer.from([0, 0, 0, 0, 0, 0]) }, { isControlBatch: true }],
  ['no isControlBatch in the context', { value: Buffer.from('v') }, { isControlBatch: undefined }],
  [
    'headers: repeated keys in order, null values, an empty and a null key, UTF-8',
    {
      value: Buffer.from('v'),
      headers: [
        ['a', Buffer.from('1')],
        ['b', null],
        ['a', Buffer.from('2')],
        ['', Buffer.alloc(0)],
        ['clé ✓', Buffer.from('x')],
        ['a', null],
        [null, Buffer.from('n')],
        ['b', Buffer.from('3')],
      ],
    },
    {},
  ],
  ['numeric header keys (ordered first by the object)', { value: Buffer.from('v'), headers: [['z', Buffer.from('1')], ['2', Buffer.from('2')], ['1', Buffer.from('3')]] }, {}],
];

describe('decodeRecord', () => {
  it.each(cases)('returns what kafkajs returns: %s', (_name, fields, context) => {
    expectSameDecoding(recordBody(fields), batchContext(context));
  });

  it('gives exact strings past 2^53', () => {
    const record = expectSameDecoding(recordBody({ offsetDelta: 2, timestampDelta: 3, value: Buffer.from('v') }), batchContext({ firstOffset: '9007199254740993', firstTimestamp: '9007199254740993' }));
    expect(record.offset).toBe('9007199254740995');
    expect(record.timestamp).toBe('9007199254740996');
  });

  it('keeps kafkajs\'s reading of headers named like Object members ("toString", "__proto__")', () => {
    const record = expectSameDecoding(
      recordBody({ value: Buffer.from('v'), headers: [['toString', Buffer.from('1')], ['__proto__', Buffer.from('2')], ['__proto__', Buffer.from('3')], ['constructor', null]] }),
      batchContext(),
    );
    expect(Object.getOwnPropertyNames(record.headers)).toEqual(['toString', '__proto__', 'constructor']);
    expect(record.headers.toString).toEqual([Object.prototype.toString, Buffer.from('1')]);
    expect(record.headers.constructor).toEqual([Object, null]);
  });

  it('reads header names that change from record to record at the same position (names are reused when their bytes repeat)', () => {
    const names = [['a', 'b'], ['b', 'a'], ['b', 'a'], ['c', 'ab'], ['é', 'ab'], ['\u00a9', 'ab'], ['x'.repeat(70), 'x'.repeat(70)], ['x'.repeat(69) + 'y', 'a']];
    for (const pair of names) {
      const record = expectSameDecoding(recordBody({ value: Buffer.from('v'), headers: pair.map((name): [string, Buffer] => [name, Buffer.from(name)]) }), batchContext());
      expect(Object.keys(record.headers)).toEqual(pair[0] === pair[1] ? [pair[0]] : pair);
    }
  });

  it('decodes consecutive records of one context, then of another, each against its own base', () => {
    const first = batchContext({ firstOffset: '10' });
    const second = batchContext({ firstOffset: '9007199254740993', firstTimestamp: '5' });
    for (const context of [first, first, second, second, first]) {
      expectSameDecoding(recordBody({ offsetDelta: 1, timestampDelta: 2, value: Buffer.from('v') }), context);
    }
  });

  it('decodes random records as kafkajs does', () => {
    const next = random(20_261_130);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
    const integer = (below: number): number => Math.floor(next() * below);
    const bytes = (): Buffer | null => {
      const size = pick([-1, 0, 1 + integer(127), 128 + integer(16_256), 16_384 + integer(4_000)]);
      return size < 0 ? null : Buffer.from(Array.from({ length: size }, () => integer(256)));
    };
    const firstOffsets = ['0', '1', '123456789', '9007199254740000', '9007199254740993', '9223372036854000000'];
    const firstTimestamps = ['-1', '0', '1700000000000', '9007199254740991'];
    for (let round = 0; round < 400; round++) {
      const headers = Array.from({ length: pick([0, 0, 1, 3, 6]) }, (): [string | null, Buffer | null] => [pick(['a', 'b', 'c', 'trace-id', null]), pick([null, Buffer.from('x'), Buffer.alloc(200, 3)])]);
      const fields: RecordFields = {
        attributes: integer(256) - 128,
        timestampDelta: pick([0, integer(1000), -integer(1000), integer(2 ** 40) - 2 ** 39, (BigInt(integer(2 ** 30)) << 32n) * pick([1n, -1n])]),
        offsetDelta: pick([0, integer(100), integer(2 ** 31), -integer(2 ** 31)]),
        key: round % 7 === 0 ? bytes() : pick([null, Buffer.alloc(30, 65 + integer(26))]),
        value: bytes(),
        headers,
      };
      const context = batchContext({ firstOffset: pick(firstOffsets), firstTimestamp: pick(firstTimestamps), timestampType: pick([0, 0, 1]), isControlBatch: pick([false, true]) });
      expectSameDecoding(recordBody(fields), context);
    }
  });

  it('reads a record cut short as kafkajs does (the key or value cut at the end of the buffer)', () => {
    const body = recordBody({ key: Buffer.from('key'), value: Buffer.alloc(40, 1) });
    for (const length of [10, 20, body.length - 1]) {
      const cut = body.subarray(0, length);
      const theirs = new Decoder(cut);
      const ours = new Decoder(cut);
      expect(decodeRecord(ours, batchContext())).toStrictEqual(kafkajsDecodeRecord(theirs, batchContext()));
      expect(ours.offset).toBe(theirs.offset);
    }
  });

  it('throws where kafkajs throws: a varlong of more than 10 bytes, a negative header count, no context, a first offset BigInt refuses', () => {
    const longVarLong = Buffer.from([0, ...Array<number>(11).fill(0x81), 0x01, 0, 0, 0, 0]);
    expect(() => kafkajsDecodeRecord(new Decoder(longVarLong), batchContext())).toThrow('Invalid Long');
    expect(() => decodeRecord(new Decoder(longVarLong), batchContext())).toThrow('Invalid Long');

    const negativeHeaders = Buffer.concat([recordBody({ value: Buffer.from('v') }).subarray(0, -1), Buffer.from([0x03])]); // count -2
    expect(() => kafkajsDecodeRecord(new Decoder(negativeHeaders), batchContext())).toThrow(RangeError);
    expect(() => decodeRecord(new Decoder(negativeHeaders), batchContext())).toThrow(RangeError);

    const body = recordBody({ value: Buffer.from('v') });
    expect(() => kafkajsDecodeRecord(new Decoder(body))).toThrow(TypeError);
    expect(() => decodeRecord(new Decoder(body))).toThrow(TypeError);
    // A number to JavaScript, not to BigInt (the base's string is checked, not only its number).
    for (const firstOffset of ['1e3', '5.0', '']) {
      expect(() => kafkajsDecodeRecord(new Decoder(body), batchContext({ firstOffset }))).toThrow();
      expect(() => decodeRecord(new Decoder(body), batchContext({ firstOffset }))).toThrow();
    }
  });
});
