/**
 * PostgreSQL log sequence numbers. On the wire and in SQL they are text
 * ("16/B374D848": high and low 32-bit halves in hex); we compare and store them
 * as bigint so ordering is exact, and expose them to JSON as numbers (an LSN
 * stays below 2^53 for any realistic amount of WAL, as in Debezium's `lsn`).
 */
export type Lsn = bigint;

export function parseLsn(text: string): Lsn {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text);
  if (!match) throw new Error(`invalid LSN "${text}": expected two hex halves like 16/B374D848`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: Lsn): string {
  const high = lsn >> 32n;
  const low = lsn & 0xffffffffn;
  return `${high.toString(16).toUpperCase()}/${low.toString(16).toUpperCase()}`;
}
