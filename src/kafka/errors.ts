/** What a failed Kafka call means for the caller. */
export type KafkaErrorKind = 'rebalance' | 'fenced' | 'other';

/** The group moved on: rejoin (and take partitions over again). */
const REBALANCE_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR_FOR_GROUP', 'NOT_COORDINATOR', 'COORDINATOR_NOT_AVAILABLE']);
/** A newer producer initialized the same transactional id: this one may not commit again. */
const FENCED_ERRORS = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'INVALID_PRODUCER_ID_MAPPING', 'INVALID_TXN_STATE']);

/** kafkajs errors carry a protocol `type`, possibly on a wrapped `cause`. */
export function classifyKafkaError(error: unknown): KafkaErrorKind {
  for (let current = error as { type?: unknown; cause?: unknown } | undefined, depth = 0; current && depth < 5; current = current.cause as typeof current, depth++) {
    if (typeof current.type === 'string' && REBALANCE_ERRORS.has(current.type)) return 'rebalance';
    if (typeof current.type === 'string' && FENCED_ERRORS.has(current.type)) return 'fenced';
  }
  return 'other';
}
