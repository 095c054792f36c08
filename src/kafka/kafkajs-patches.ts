/**
 * Fixes to kafkajs 2.2.4 internals, put in its module cache before kafkajs
 * loads, so that its own modules take them when they require the originals:
 *  - consumer/filterAbortedMessages.js: a correct read_committed filter
 *    (read-committed-fix.ts);
 *  - producer/groupMessagesPerPartition.js: linear instead of quadratic
 *    (group-per-partition.ts);
 *  - protocol/requests/produce/v3/request.js (which v4 to v7 reuse): the
 *    records written from the messages as they are, each into one buffer
 *    sized first (record-encoder.ts), an uncompressed batch into one buffer
 *    too (produce-request.ts);
 *  - protocol/recordBatch/v0/decoder.js: a fetched batch's records read in
 *    place, in numbers, without a Buffer view, Decoder and Long objects per
 *    record (record-batch-decoder.ts, record-decoder.ts);
 *  - protocol/recordBatch/crc32C: a record batch's checksum eight bytes per
 *    step (crc32c.ts).
 * Importing this module installs them. kafkajs.ts imports it before kafkajs;
 * the test setup (test/support/kafkajs-fix.ts) and the bench import it first.
 */
import { createRequire } from 'node:module';
import { groupMessagesPerPartition } from './group-per-partition.js';
import { filterAbortedMessages } from './read-committed-fix.js';
import { produceRequest } from './produce-request.js';
import { decodeRecordBatch } from './record-batch-decoder.js';
import { crc32c } from './crc32c.js';

const require = createRequire(import.meta.url);
const INSTALLED = Symbol.for('tideline.kafkajs.patched');

interface Patch {
  /** The kafkajs module replaced. */
  module: string;
  /** A kafkajs module that requires it: loaded already means the patch came too late. */
  requiredBy: string;
  exports: (...args: never[]) => unknown;
}

const PATCHES: readonly Patch[] = [
  { module: 'kafkajs/src/consumer/filterAbortedMessages.js', requiredBy: 'kafkajs/src/consumer/batch.js', exports: filterAbortedMessages },
  { module: 'kafkajs/src/producer/groupMessagesPerPartition.js', requiredBy: 'kafkajs/src/producer/sendMessages.js', exports: groupMessagesPerPartition },
  // v5 requires v3 for itself and for v6 and v7, what kafkajs sends to brokers of Kafka 2.1 on.
  { module: 'kafkajs/src/protocol/requests/produce/v3/request.js', requiredBy: 'kafkajs/src/protocol/requests/produce/v5/request.js', exports: produceRequest },
  { module: 'kafkajs/src/protocol/recordBatch/v0/decoder.js', requiredBy: 'kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js', exports: decodeRecordBatch },
  { module: 'kafkajs/src/protocol/recordBatch/crc32C/index.js', requiredBy: 'kafkajs/src/protocol/recordBatch/v0/index.js', exports: crc32c },
];

function isPatch(module: NodeJS.Module | undefined): boolean {
  return (module?.exports as Record<symbol, unknown> | undefined)?.[INSTALLED] === true;
}

/** Installs every patch; throws if kafkajs was loaded first (a patch would silently not apply). */
export function installKafkajsPatches(): void {
  const version = (require('kafkajs/package.json') as { version: string }).version;
  if (!version.startsWith('2.')) throw new Error(`kafkajs-patches.ts patches kafkajs 2.x; found ${version}: check whether the patches are still needed`);
  const Module = require('node:module') as { new (id: string): NodeJS.Module };
  for (const patch of PATCHES) {
    const path = require.resolve(patch.module);
    // Marked, not compared: a test runner may evaluate this module more than once per process.
    if (isPatch(require.cache[path])) continue;
    if (require.cache[require.resolve(patch.requiredBy)]) {
      throw new Error(`kafkajs was loaded before src/kafka/kafkajs-patches.ts: import kafkajs values only through src/kafka/kafkajs.ts`);
    }
    const module = new Module(path);
    module.filename = path;
    module.loaded = true;
    const replacement = patch.exports;
    module.exports = Object.assign((...args: never[]) => replacement(...args), { [INSTALLED]: true });
    require.cache[path] = module;
  }
}

installKafkajsPatches();
