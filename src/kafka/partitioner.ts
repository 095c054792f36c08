/**
 * Kafka's default partitioner (Java's murmur2 of the key bytes, positive, modulo
 * the partition count) in 32-bit integer arithmetic. kafkajs's own version
 * computes with 64-bit Long objects, which cost more than the rest of a
 * repartition record's path; this gives the same partitions (a unit test
 * compares them).
 */
const SEED = 0x9747b28c;
const M = 0x5bd1e995;

export function murmur2(data: Buffer): number {
  const length = data.length;
  let h = SEED ^ length;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
  }
  // The tail bytes (Java's switch falls through from case 3 to case 1).
  const tail = length & 3;
  if (tail > 0) {
    if (tail === 3) h ^= data[blocks + 2]! << 16;
    if (tail >= 2) h ^= data[blocks + 1]! << 8;
    h ^= data[blocks]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h;
}

/** The partition Kafka's Java client (and kafkajs's default partitioner) picks for `key`. */
export function partitionForKey(key: Buffer, partitions: number): number {
  return (murmur2(key) & 0x7fffffff) % partitions;
}
