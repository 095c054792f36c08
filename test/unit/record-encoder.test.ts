import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { encodeMessageRecord, type RecordContent } from '../../src/kafka/record-encoder.js';
import { loadKafkajsOriginal } from '../support/kafkajs-original.js';

// kafkajs's own Encoder and Decoder (not patched): the bytes its record encoder writes, and its reading of ours.
const require = createRequire(import.meta.url);
type KafkaEncoder = {
  writeVarInt(n: number): KafkaEncoder;
  writeInt8(n: number): KafkaEncoder;
  writeVarLong(n: number): KafkaEncoder;
  writeVarIntBytes(v: unknown): KafkaEncoder;
  writeVarIntString(v: string): KafkaEncoder;
  writeVarIntArray(a: KafkaEncoder[]): KafkaEncoder;
  buffer: Buffer;
};
const Encoder = require('kafkajs/src/protocol/encoder.js') as { new (): KafkaEncoder; sizeOfVarLong(n: number): number; sizeOfVarInt(n: number): number; sizeOfVarIntBytes(v: unknown): number };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => { readVarInt(): number };
const decodeRecord = loadKafkajsOriginal<(decoder: unknown, context: object) => {
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
  offset: string;
  timestamp: string;
}>('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');

/** A message's content with the deltas kafkajs's Record(...) takes beside it. */
type RecordInput = RecordContent & { offsetDelta?: number; timestampDelta?: number };

const encodeRecord = ({ offsetDelta = 0, timestampDelta = 0, ...content }: RecordInput) => encodeMessageRecord(content, offsetDelta, timestampDelta);

/** kafkajs 2.2.4's record/v0 encoder, step by step (the bytes ours must equal). */
function kafkajsRecord({ offsetDelta = 0, timestampDelta = 0, key, value, headers = {} }: RecordInput): Buffer {
  const list = Object.keys(headers).flatMap((name) => {
    const entry = headers[name];
    return Array.isArray(entry) ? entry.map((item) => ({ key: name, value: item })) : [{ key: name, value: entry }];
  });
  const encodedHeaders = list.map((header) => new Encoder().writeVarIntString(header.key).writeVarIntBytes(header.value));
  const body = new Encoder().writeInt8(0).writeVarLong(timestampDelta).writeVarInt(offsetDelta).writeVarIntBytes(key).writeVarIntBytes(value).writeVarIntArray(encodedHeaders).buffer;
  return Buffer.concat([new Encoder().writeVarInt(body.length).buffer, body]);
}

const cases: [string, RecordInput][] = [
  ['key and value', { offsetDelta: 3, timestampDelta: 17, key: Buffer.from('k1'), value: Buffer.from('{"a":1}') }],
  ['a tombstone (null value)', { offsetDelta: 0, timestampDelta: 0, key: Buffer.from([0, 0, 0, 0, 1, 2]), value: null }],
  ['no key', { offsetDelta: 1, timestampDelta: 0, key: null, value: Buffer.alloc(300, 7) }],
  ['string key and value (UTF-8)', { offsetDelta: 2, timestampDelta: 5, key: 'clé', value: 'välue ✓' }],
  ['a negative timestamp delta', { offsetDelta: 4, timestampDelta: -1234, key: Buffer.from('k'), value: Buffer.from('v') }],
  ['a large timestamp delta and offset delta', { offsetDelta: 70_000, timestampDelta: 5_000_000_000, key: Buffer.from('k'), value: Buffer.from('v') }],
  ['headers, one repeated and one null', { offsetDelta: 9, timestampDelta: 1, key: Buffer.from('k'), value: Buffer.alloc(20_000, 1), headers: { a: Buffer.from('x'), b: [Buffer.from('1'), 'twö'], c: null } }],
];

describe('encodeMessageRecord', () => {
  it.each(cases)('writes the bytes kafkajs writes: %s', (_name, input) => {
    expect(encodeRecord(input).buffer.equals(kafkajsRecord(input))).toBe(true);
  });

  it('is read back by kafkajs', () => {
    const input: RecordInput = { offsetDelta: 5, timestampDelta: 42, key: Buffer.from('key'), value: Buffer.from('value'), headers: { h: [Buffer.from('1'), Buffer.from('2')] } };
    const decoder = new Decoder(encodeRecord(input).buffer);
    decoder.readVarInt(); // the record's length, read by the batch decoder
    const record = decodeRecord(decoder, { firstOffset: '100', firstTimestamp: '1000', magicByte: 2 });
    expect(record.offset).toBe('105');
    expect(record.timestamp).toBe('1042');
    expect(record.key?.toString()).toBe('key');
    expect(record.value?.toString()).toBe('value');
    expect((record.headers.h as Buffer[]).map(String)).toEqual(['1', '2']);
  });

  it('gives kafkajs what its batch encoder takes from a record', () => {
    const encoded = encodeRecord({ key: Buffer.from('k'), value: Buffer.from('v') });
    expect(Buffer.isBuffer(encoded.buf)).toBe(true);
    expect(encoded.size()).toBe(encoded.buffer.length);
  });
});
