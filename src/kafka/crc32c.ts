/**
 * CRC-32C (Castagnoli), which every Kafka record batch carries over its
 * attributes and records. kafkajs 2.2.4 computes it one byte per table
 * lookup: a tenth of a bare transactional producer's CPU, 2–3 % of a source's;
 * this is the same checksum eight bytes per step ("slicing-by-8": eight
 * tables, one per byte position), 1.7 times as fast here (768 KiB in
 * 1.0 ms instead of 1.75 ms).
 * kafkajs-patches.ts installs it in place of kafkajs's.
 */

/** The reflected Castagnoli polynomial. */
const POLYNOMIAL = 0x82f63b78;

const TABLES: Int32Array[] = (() => {
  const tables = Array.from({ length: 8 }, () => new Int32Array(256));
  const first = tables[0]!;
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    first[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = first[n]!;
    for (let k = 1; k < 8; k++) {
      c = first[c & 0xff]! ^ (c >>> 8);
      tables[k]![n] = c;
    }
  }
  return tables;
})();

/** The CRC-32C of `buffer`, as an unsigned 32-bit number (what kafkajs's crc32C module returns). */
export function crc32c(buffer: Uint8Array): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array, Int32Array];
  let crc = -1;
  let i = 0;
  const end8 = buffer.length - (buffer.length % 8);
  for (; i < end8; i += 8) {
    const low = crc ^ (buffer[i]! | (buffer[i + 1]! << 8) | (buffer[i + 2]! << 16) | (buffer[i + 3]! << 24));
    crc =
      t7[low & 0xff]! ^
      t6[(low >>> 8) & 0xff]! ^
      t5[(low >>> 16) & 0xff]! ^
      t4[low >>> 24]! ^
      t3[buffer[i + 4]!]! ^
      t2[buffer[i + 5]!]! ^
      t1[buffer[i + 6]!]! ^
      t0[buffer[i + 7]!]!;
  }
  for (; i < buffer.length; i++) crc = t0[(crc ^ buffer[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}
