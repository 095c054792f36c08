import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { produceRequest, type ProducedMessage, type ProducedPartition, type ProduceRequest, type ProduceRequestInput } from '../../src/kafka/produce-request.js';
import { loadKafkajsOriginal } from '../support/kafkajs-original.js';
import { seededRandom as random } from '../support/seeded-random.js';

// kafkajs's produce request v3 as it ships, over kafkajs's own record encoder, record batch encoder and
// CRC-32C as they ship (the test setup put ours at the record encoder's and the checksum's paths): none of
// our patches in the bytes it writes. And v7 as kafkajs sends it, through the patch. (kafkajs's record encoder
// throws on a null header value: not among the inputs.)
const require = createRequire(import.meta.url);
type RequestModule = (input: ProduceRequestInput) => ProduceRequest;
const kafkajsCrc32c = loadKafkajsOriginal<unknown>('kafkajs/src/protocol/recordBatch/crc32C/index.js');
const kafkajsRecord = loadKafkajsOriginal<unknown>('kafkajs/src/protocol/recordBatch/record/v0/index.js');
const kafkajsRecordBatch = loadKafkajsOriginal<unknown>('kafkajs/src/protocol/recordBatch/v0/index.js', { '../crc32C': kafkajsCrc32c });
const kafkajsRequest = loadKafkajsOriginal<RequestModule>('kafkajs/src/protocol/requests/produce/v3/request.js', {
  '../../../recordBatch/record/v0': kafkajsRecord,
  '../../../recordBatch/v0': kafkajsRecordBatch,
});
const patchedV7 = require('kafkajs/src/protocol/requests/produce/v7/request.js') as RequestModule;
const createRequest = require('kafkajs/src/protocol/request.js') as (request: object) => Promise<{ buffer: Buffer }>;
const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): unknown };
const GZIP = 1;


/** Date.now as a counter from a fixed start, restarted before each encoding: both encoders see the same times per partition. */
function restartClock(): void {
  let now = 1_700_000_000_000;
  vi.spyOn(Date, 'now').mockImplementation(() => (now += 7));
}

async function encoded(request: RequestModule, input: ProduceRequestInput): Promise<Buffer> {
  restartClock();
  return (await request(input).encode()).buffer;
}

async function expectSameBytes(input: ProduceRequestInput): Promise<Buffer> {
  const expected = await encoded(kafkajsRequest, input);
  const actual = await encoded(produceRequest, input);
  expect(actual.length).toBe(expected.length);
  expect(actual.equals(expected)).toBe(true);
  return actual;
}

const request = (topicData: ProduceRequestInput['topicData'], fields: Partial<ProduceRequestInput> = {}): ProduceRequestInput => ({ acks: -1, timeout: 30_000, topicData, ...fields });
const partition = (index: number, messages: ProducedMessage[], firstSequence?: number): ProducedPartition => ({ partition: index, messages, ...(firstSequence === undefined ? {} : { firstSequence }) });
const messages: ProducedMessage[] = [
  { key: Buffer.from('k1'), value: Buffer.from('{"a":1}'), timestamp: 1_700_000_000_123 },
  { key: 'clé', value: 'välue ✓', timestamp: 1_700_000_000_100, headers: { a: Buffer.from('x'), b: [Buffer.from('1'), 'twö'], c: '' } },
  { key: null, value: null, timestamp: 1_700_000_000_200 },
  { key: Buffer.alloc(0), value: Buffer.alloc(20_000, 3), timestamp: 1_700_000_000_150 },
];

describe('kafkajs\'s produce request, patched', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('is ours, under v7 as kafkajs sends it', () => {
    expect((require('kafkajs/src/protocol/requests/produce/v3/request.js') as Record<symbol, unknown>)[Symbol.for('tideline.kafkajs.patched')]).toBe(true);
    const v7 = patchedV7(request([]));
    expect([v7.apiKey, v7.apiVersion, v7.apiName, v7.expectResponse()]).toEqual([0, 7, 'Produce', true]);
    expect(patchedV7(request([], { acks: 0 })).expectResponse()).toBe(false);
    const ours = produceRequest(request([]));
    const theirs = kafkajsRequest(request([]));
    expect([ours.apiKey, ours.apiVersion, ours.apiName]).toEqual([theirs.apiKey, theirs.apiVersion, theirs.apiName]);
  });

  it.each([
    ['not transactional, acks 1', request([{ topic: 'orders', partitions: [partition(0, messages)] }], { acks: 1 })],
    ['transactional, acks -1, an idempotent producer', request([{ topic: 'orders', partitions: [partition(3, messages, 1234)] }], { transactionalId: 'tideline-tx-ü', producerId: Long.fromValue('123456789012345'), producerEpoch: 7 })],
    ['acks 0, an empty transactional id (not transactional)', request([{ topic: 't', partitions: [partition(0, messages)] }], { acks: 0, transactionalId: '' })],
    ['several topics and partitions, one without messages', request([
      { topic: 'a', partitions: [partition(0, messages.slice(0, 2)), partition(1, messages.slice(2)), partition(2, [])] },
      { topic: 'bé', partitions: [partition(5, messages, 0)] },
    ])],
    ['no timestamps (Date.now, once per partition)', request([{ topic: 't', partitions: [0, 1, 2].map((index) => partition(index, messages.map(({ timestamp: _, ...message }) => message))) }])],
    ['some timestamps, one of 0 (falsy: Date.now for its delta, yet sorted)', request([{ topic: 't', partitions: [partition(0, [...messages.slice(0, 2), { value: 'now' }, { value: 'zero', timestamp: 0 }, { value: 'null', timestamp: null }])] }])],
    ['string timestamps, sorted as strings (999 after 1000)', request([{ topic: 't', partitions: [partition(0, [{ value: 'a', timestamp: '999' }, { value: 'b', timestamp: 1000 }, { value: 'c', timestamp: '50' }, { value: 'd', timestamp: 1_700_000_000_000 }, { value: 'e' }])] }])],
    ['equal timestamps as a number and a string', request([{ topic: 't', partitions: [partition(0, [{ value: 'a', timestamp: '1700000000005' }, { value: 'b', timestamp: 1_700_000_000_005 }, { value: 'c', timestamp: 1_700_000_000_001 }, { value: 'd', timestamp: '1700000000001' }])] }])],
    ['gzip (kafkajs\'s batch encoder)', request([{ topic: 't', partitions: [partition(0, messages), partition(1, messages.slice(1))] }], { compression: GZIP, transactionalId: 'tx' })],
    ['gzip and uncompressed defaults (compression undefined)', request([{ topic: 't', partitions: [partition(0, messages)] }], { compression: undefined, producerId: undefined, producerEpoch: undefined })],
  ] as [string, ProduceRequestInput][])('writes the bytes kafkajs writes: %s', async (_name, input) => {
    await expectSameBytes(input);
  });

  it('writes the bytes kafkajs writes for random requests', async () => {
    const next = random(20261130);
    const int = (below: number): number => Math.floor(next() * below);
    const bytes = (nullable = true): Buffer | string | null => {
      const roll = next();
      if (nullable && roll < 0.1) return null;
      const size = roll < 0.15 ? int(20_001) : int(300);
      return roll < 0.3 ? 'é'.repeat(size >> 1) : Buffer.alloc(size, int(256));
    };
    const timestamp = (): ProducedMessage['timestamp'] => {
      const roll = next();
      if (roll < 0.3) return undefined;
      const value = 1_699_999_000_000 + int(2_000_000);
      return roll < 0.5 ? String(value) : roll < 0.55 ? int(100_000) : value;
    };
    for (let round = 0; round < 24; round++) {
      const topicData = Array.from({ length: 1 + int(3) }, (_, topic) => ({
        topic: `topic-${topic}-${int(1000)}`,
        partitions: Array.from({ length: 1 + int(3) }, (_, index) =>
          partition(
            index * 3,
            Array.from({ length: 1 + (next() < 0.2 ? int(500) : int(30)) }, () => ({
              key: bytes(),
              value: bytes(),
              timestamp: timestamp(),
              ...(next() < 0.2 ? { headers: { trace: bytes(false)!, multi: [bytes(false)!, bytes(false)!] } } : {}),
            })),
            next() < 0.5 ? int(1 << 30) : undefined,
          ),
        ),
      }));
      const transactional = next() < 0.5;
      await expectSameBytes(
        request(topicData, {
          acks: [-1, 0, 1][int(3)]!,
          transactionalId: transactional ? `tx-${round}` : null,
          producerId: transactional ? Long.fromValue(int(1_000_000)) : undefined,
          producerEpoch: transactional ? int(100) : undefined,
        }),
      );
    }
  });

  it('is sent through v7 as kafkajs sends v3, framed by kafkajs\'s request encoder', async () => {
    const input = request([{ topic: 'orders', partitions: [partition(0, messages), partition(1, messages.slice(0, 1))] }], { transactionalId: 'tx', producerId: Long.fromValue(42), producerEpoch: 1 });
    const frame = async (build: RequestModule): Promise<Buffer> => {
      restartClock();
      return (await createRequest({ correlationId: 5, clientId: 'tideline', request: build(input) })).buffer;
    };
    const sent = await frame(patchedV7);
    const expected = await frame((fields) => ({ ...kafkajsRequest(fields), apiVersion: 7 }));
    expect(sent.equals(expected)).toBe(true);
    expect(sent.readInt16BE(6)).toBe(7); // after the size and apiKey
  });
});
