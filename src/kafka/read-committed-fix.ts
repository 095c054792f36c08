/**
 * A correct read_committed filter for kafkajs 2.2.4, put in place of
 * kafkajs's own before kafkajs loads (kafkajs-patches.ts).
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
