import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { DecodedRecord, RecordSource } from '../../src/kafka/record-decoder.js';
import { loadKafkajsOriginal } from '../support/kafkajs-original.js';

// kafkajs's batch decoder as installed by the test setup (ours: kafkajs-patches.ts),
// and kafkajs's own as it ships, reading its records with its own record decoder.
const require = createRequire(import.meta.url);
type KafkaBatch = { records: DecodedRecord[]; [field: string]: unknown };
type BatchDecoder = (decoder: RecordSource) => Promise<KafkaBatch>;
const patchedBatchDecoder = require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as BatchDecoder;
const kafkajsRecordDecoder = loadKafkajsOriginal<unknown>('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
const kafkajsBatchDecoder = loadKafkajsOriginal<BatchDecoder>('kafkajs/src/protocol/recordBatch/v0/decoder.js', { '../record/v0/decoder': kafkajsRecordDecoder });
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => RecordSource;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as { RecordBatch: (batch: object) => Promise<{ buffer: Buffer }> };
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (record: object) => { buffer: Buffer };
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => { writeVarInt(n: number): { buffer: Buffer } };

/** A record's bytes as kafkajs's batch encoder takes them (an Encoder's `buf`/`buffer`). */
const raw = (bytes: Buffer): { buf: Buffer; buffer: Buffer } => ({ buf: bytes, buffer: bytes });
const varInt = (value: number): Buffer => new Encoder().writeVarInt(value).buffer;

const records = Array.from({ length: 50 }, (_, index) =>
  Record({
    offsetDelta: index,
    timestampDelta: index * 3 - 20,
    key: index % 5 === 0 ? null : Buffer.from(`key-${index}`),
    value: index % 9 === 0 ? null : Buffer.alloc(index * 10, index),
    headers: index % 4 === 0 ? { origin: Buffer.from('x'), trace: [Buffer.from('1'), Buffer.from('2')] } : {},
  }),
);

async function batchBytes(batchRecords: object[], fields: object = {}): Promise<Buffer> {
  const { buffer } = await RecordBatch({ firstOffset: '9007199254740900', firstTimestamp: 1_700_000_000_000, maxTimestamp: 1_700_000_000_500, lastOffsetDelta: batchRecords.length - 1, records: batchRecords, ...fields });
  return buffer;
}

/** Both decoders' result, or error, over the same bytes (twice, one after the other, as a fetch response holds several batches). */
async function outcome(decode: BatchDecoder, buffer: Buffer): Promise<unknown> {
  const decoder = new Decoder(Buffer.concat([buffer, buffer]));
  try {
    return { batches: [await decode(decoder), await decode(decoder)], offset: decoder.offset };
  } catch (error) {
    return { error: String(error), name: (error as Error).name };
  }
}

async function expectSameDecoding(buffer: Buffer): Promise<unknown> {
  const expected = await outcome(kafkajsBatchDecoder, buffer);
  const actual = await outcome(patchedBatchDecoder, buffer);
  expect(actual).toStrictEqual(expected);
  return actual;
}

/** The attributes' low byte in a batch kafkajs's encoder wrote (firstOffset 8, length 4, epoch 4, magic 1, CRC 4, attributes' high byte). */
const ATTRIBUTES_LOW = 22;

describe('kafkajs\'s record batch decoder, patched', () => {
  it('is ours', () => {
    expect((require('kafkajs/src/protocol/recordBatch/v0/decoder.js') as Record<symbol, unknown>)[Symbol.for('tideline.kafkajs.patched')]).toBe(true);
  });

  it.each([
    ['uncompressed', { compression: 0 }, 0],
    ['gzip, transactional', { compression: 1, transactional: true }, 0],
    ['LOG_APPEND_TIME', {}, 0x08],
    ['a control batch', {}, 0x20],
  ] as [string, object, number][])('decodes a batch built by kafkajs as kafkajs does: %s', async (_name, fields, attributeBits) => {
    const buffer = await batchBytes(records, fields);
    buffer[ATTRIBUTES_LOW] = buffer[ATTRIBUTES_LOW]! | attributeBits; // kafkajs's encoder sets neither; its decoder checks no CRC
    const result = (await expectSameDecoding(buffer)) as { batches: KafkaBatch[] };
    expect(result.batches[0]!.records).toHaveLength(50);
    expect(result.batches[1]!.records[49]!.offset).toBe('9007199254740949');
  });

  it('decodes an empty batch and a record of each kind', async () => {
    await expectSameDecoding(await batchBytes([]));
    await expectSameDecoding(await batchBytes([Record({ key: null, value: null }), Record({ key: Buffer.alloc(0), value: Buffer.alloc(20_000, 1) })]));
  });

  it('reads a malformed record as kafkajs does: a length shorter or longer than the record, 0, -1, past the batch, negative lengths inside, a varlong past its end', async () => {
    const body = Record({ offsetDelta: 1, key: Buffer.from('key'), value: Buffer.from('value'), headers: { h: Buffer.from('1') } }).buffer.subarray(1); // without its length
    const good = Record({ offsetDelta: 2, key: Buffer.from('k2'), value: Buffer.from('v2') });
    const withLength = (length: number, bytes: Buffer = body): { buf: Buffer; buffer: Buffer } => raw(Buffer.concat([varInt(length), bytes]));
    // A header key's length -3 (zigzag 5) where its length 1 (zigzag 2) was.
    const negativeInside = Buffer.from(body);
    negativeInside[negativeInside.length - 4] = 5;
    // The key's length -10 (zigzag 19) where its length 3 was: kafkajs's view reads before its start as nothing, the batch's buffer has bytes there.
    const backBeforeStart = Buffer.from(body);
    backBeforeStart[3] = 19;
    // A record of 2 bytes whose timestamp delta runs on as an 11-byte varlong: too long for kafkajs's Long reader, which in its view of 2 bytes sees 1.
    const varLongPastEnd = raw(Buffer.concat([varInt(2), Buffer.from([0, ...Array<number>(10).fill(0x81), 0x01])]));
    const cases = [
      [withLength(body.length - 3), good],
      [withLength(backBeforeStart.length, backBeforeStart), good],
      [varLongPastEnd, good],
      [withLength(body.length + 2), good, good],
      [withLength(0), good],
      [withLength(-1), good],
      [good, withLength(body.length + 500)],
      [withLength(negativeInside.length, negativeInside), good],
    ];
    for (const batchRecords of cases) await expectSameDecoding(await batchBytes(batchRecords));
  });

  it('throws kafkajs\'s partial-batch error for a batch cut short', async () => {
    const buffer = await batchBytes(records);
    const result = (await expectSameDecoding(buffer.subarray(0, buffer.length - 10))) as { name: string };
    expect(result.name).toBe('KafkaJSPartialMessageError');
  });
});
