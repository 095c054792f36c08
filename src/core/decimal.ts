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

/** Base64 digit values by character code (-1: not a standard base64 character). */
const BASE64_DIGITS = (() => {
  const digits = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let index = 0; index < alphabet.length; index++) digits[alphabet.charCodeAt(index)] = index;
  return digits;
})();

/**
 * The unscaled value of standard base64 of at most 6 bytes (4 or 8
 * characters, padded as Buffer writes it), as an exact number; undefined for
 * anything else, which Buffer's more lenient decoding then reads.
 */
function smallUnscaled(base64: string): number | undefined {
  const length = base64.length;
  if (length !== 4 && length !== 8) return undefined;
  const padding = base64.charCodeAt(length - 1) !== 0x3d ? 0 : base64.charCodeAt(length - 2) === 0x3d ? 2 : 1;
  let bits = 0;
  for (let at = 0; at < length - padding; at++) {
    const code = base64.charCodeAt(at);
    const digit = code < 128 ? BASE64_DIGITS[code]! : -1;
    if (digit < 0) return undefined;
    bits = bits * 64 + digit;
  }
  const bytes = (length / 4) * 3 - padding;
  // The last character's low 2 or 4 bits are not part of any byte (Buffer drops them too).
  let value = Math.floor(bits / 2 ** ((length - padding) * 6 - bytes * 8));
  if (value >= 2 ** (bytes * 8 - 1)) value -= 2 ** (bytes * 8);
  return value;
}

/** The base64 of unscaled two's-complement bytes, with `scale`, back to decimal text ('-1234.50'). */
export function unscaledBase64ToDecimal(base64: string, scale: number): string {
  // Most decimals fit 6 bytes: read in numbers, without a Buffer and a BigInt each.
  const small = smallUnscaled(base64);
  if (small !== undefined) return scaledText(small < 0, String(Math.abs(small)), scale);
  const bytes = Buffer.from(base64, 'base64');
  if (bytes.length === 0) throw new Error('a Decimal needs at least one byte');
  let value = BigInt(`0x${bytes.toString('hex')}`);
  if (bytes[0]! & 0x80) value -= 1n << BigInt(8 * bytes.length);
  const negative = value < 0n;
  return scaledText(negative, (negative ? -value : value).toString(), scale);
}

/** Decimal text of an unscaled magnitude's digits with `scale` fraction digits. */
function scaledText(negative: boolean, magnitude: string, scale: number): string {
  const digits = magnitude.padStart(scale + 1, '0');
  const integer = digits.slice(0, digits.length - scale);
  const text = scale > 0 ? `${integer}.${digits.slice(digits.length - scale)}` : integer;
  return negative ? `-${text}` : text;
}
