/**
 * A correct read_committed filter for kafkajs 2.2.4, installed before kafkajs
 * loads (kafkajs.ts, and the test setup).
 *
 * With isolation read_committed the broker returns records up to the last
 * stable offset and, with them, the aborted transactions that overlap the
 * fetched range (producer id, first offset); the client drops the records of
 * those transactions. kafkajs's filterAbortedMessages walks that list in the
 * order the broker sends it (the order of the abort markers, not of the first
 * offsets) and activates at most one aborted transaction per record. When two
 * aborted transactions overlap in one partition, records of the one listed
 * second are delivered as if committed.
 *
 * Overlapping aborted transactions in one partition are what a crash leaves
 * when several transactional producers write that partition at once: the
 * processors' output, repartition and dead-letter topics once partitions are
 * processed concurrently (each input partition has its own producer). That
 * was the two-partition race: a reader of the output saw a killed batch's
 * aborted results and then their re-emission (a result version twice), and
 * the aggregation stage counted aborted repartition records (results that
 * never converge). The filter below is the Java consumer's: aborted
 * transactions ordered by first offset, every one whose first offset a record
 * reached is active for its producer until that producer's abort marker.
 */
import { createRequire } from 'node:module';

export interface FetchedMessage {
  offset: string;
  key?: Buffer | null;
  batchContext: { producerId: string; inTransaction: boolean };
}

export interface AbortedTransaction {
  producerId: string;
  firstOffset: string;
}

/** The control record key of an ABORT marker (version 0, type 0). */
const ABORT_MARKER_KEY = Buffer.from([0, 0, 0, 0]);

function isAbortMarker(message: FetchedMessage): boolean {
  return Boolean(message.key) && Buffer.from(message.key!).equals(ABORT_MARKER_KEY);
}

/** The records of `messages` (one partition, offset order) that are not part of an aborted transaction. */
export function filterAbortedMessages<M extends FetchedMessage>({ messages, abortedTransactions }: { messages: M[]; abortedTransactions?: readonly AbortedTransaction[] }): M[] {
  if (!abortedTransactions || abortedTransactions.length === 0) return messages;
  const pending = [...abortedTransactions].sort((a, b) => {
    const [x, y] = [BigInt(a.firstOffset), BigInt(b.firstOffset)];
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const aborted = new Set<string>();
  return messages.filter((message) => {
    const offset = BigInt(message.offset);
    while (pending.length > 0 && offset >= BigInt(pending[0]!.firstOffset)) aborted.add(String(pending.shift()!.producerId));
    const producerId = String(message.batchContext.producerId);
    if (isAbortMarker(message)) {
      // The producer's aborted transaction ends here (control records are dropped later).
      aborted.delete(producerId);
      return true;
    }
    return !(message.batchContext.inTransaction && aborted.has(producerId));
  });
}

const require = createRequire(import.meta.url);
const INSTALLED = Symbol.for('tideline.kafkajs.readCommittedFix');

/**
 * Puts the filter above in place of kafkajs's, in the module cache, so that
 * kafkajs's consumer takes it when it loads. Throws if kafkajs's consumer was
 * loaded before with its own filter (the fix would silently not apply).
 */
export function installReadCommittedFix(): void {
  const filterPath = require.resolve('kafkajs/src/consumer/filterAbortedMessages.js');
  const batchPath = require.resolve('kafkajs/src/consumer/batch.js');
  // Marked, not compared: a test runner may evaluate this module more than once per process.
  if ((require.cache[filterPath]?.exports as Record<symbol, unknown> | undefined)?.[INSTALLED] === true) return;
  if (require.cache[batchPath]) {
    throw new Error('kafkajs was loaded before src/kafka/read-committed-fix.ts: import kafkajs values only through src/kafka/kafkajs.ts');
  }
  const version = (require('kafkajs/package.json') as { version: string }).version;
  if (!version.startsWith('2.')) throw new Error(`read-committed-fix.ts patches kafkajs 2.x; found ${version}: check whether the fix is still needed`);
  const Module = require('node:module') as { new (id: string): NodeJS.Module };
  const module = new Module(filterPath);
  module.filename = filterPath;
  module.loaded = true;
  module.exports = Object.assign((...args: Parameters<typeof filterAbortedMessages>) => filterAbortedMessages(...args), { [INSTALLED]: true });
  require.cache[filterPath] = module;
}

installReadCommittedFix();
