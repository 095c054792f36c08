/**
 * Kafka Connect's Decimal (org.apache.kafka.connect.data.Decimal, what
 * Debezium's decimal.handling.mode=precise writes): the unscaled value as
 * big-endian two's-complement bytes (Java's BigInteger.toByteArray, minimal
 * length), the scale in the schema. JsonConverter writes the bytes as base64,
 * which is the neutral value every format decodes to.
 */

/** Decimal text ('-1234.50') with `scale` fraction digits to the base64 of its unscaled bytes. */
export function decimalToUnscaledBase64(text: string, scale: number): string {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match || (match[2] === '' && !match[3])) throw new Error(`not a decimal number: "${text}"`);
  const fraction = match[3] ?? '';
  if (fraction.length > scale && /[1-9]/.test(fraction.slice(scale))) throw new Error(`"${text}" has more than ${scale} fraction digits`);
  const digits = `${match[2] || '0'}${fraction.slice(0, scale).padEnd(scale, '0')}`;
  const unscaled = BigInt(digits) * (match[1] === '-' ? -1n : 1n);
  return unscaledBytes(unscaled).toString('base64');
}

/** The minimal big-endian two's-complement bytes of `value` (at least one byte). */
export function unscaledBytes(value: bigint): Buffer {
  let length = 1;
  while (value >= 1n << BigInt(8 * length - 1) || value < -(1n << BigInt(8 * length - 1))) length++;
  let rest = value < 0n ? (1n << BigInt(8 * length)) + value : value;
  const bytes = Buffer.alloc(length);
  for (let index = length - 1; index >= 0; index--) {
    bytes[index] = Number(rest & 0xffn);
    rest >>= 8n;
  }
  return bytes;
}

/** The base64 of unscaled two's-complement bytes, with `scale`, back to decimal text ('-1234.50'). */
export function unscaledBase64ToDecimal(base64: string, scale: number): string {
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length === 0) throw new Error('a Decimal needs at least one byte');
  let value = BigInt(`0x${bytes.toString('hex')}`);
  if (bytes[0]! & 0x80) value -= 1n << BigInt(8 * bytes.length);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const integer = digits.slice(0, digits.length - scale);
  const text = scale > 0 ? `${integer}.${digits.slice(digits.length - scale)}` : integer;
  return negative ? `-${text}` : text;
}
