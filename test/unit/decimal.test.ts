import { describe, expect, it } from 'vitest';
import { decimalToUnscaledBase64, unscaledBase64ToDecimal } from '../../src/core/decimal.js';
import { seededRandom } from '../support/seeded-random.js';

/** The decimal text of two's-complement bytes with `scale`, through BigInt (what the short path must equal). */
function reference(bytes: Buffer, scale: number): string {
  let value = BigInt(`0x${bytes.toString('hex')}`);
  if (bytes[0]! & 0x80) value -= 1n << BigInt(8 * bytes.length);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const integer = digits.slice(0, digits.length - scale);
  const text = scale > 0 ? `${integer}.${digits.slice(digits.length - scale)}` : integer;
  return negative ? `-${text}` : text;
}

describe('Decimal unscaled bytes', () => {
  it('reads 1 to 16 bytes the same on the short (number) and the long (BigInt) path', () => {
    const random = seededRandom(11);
    for (let round = 0; round < 5_000; round++) {
      const bytes = Buffer.alloc(1 + Math.floor(random() * 16));
      for (let index = 0; index < bytes.length; index++) bytes[index] = Math.floor(random() * 256);
      // Edge bytes now and then: 0x00, 0x7f, 0x80, 0xff at the top.
      if (round % 7 === 0) bytes[0] = [0x00, 0x7f, 0x80, 0xff][round % 4]!;
      const scale = Math.floor(random() * 12);
      expect(unscaledBase64ToDecimal(bytes.toString('base64'), scale), `${bytes.toString('hex')} scale ${scale}`).toBe(reference(bytes, scale));
    }
  });

  it('reads the edges of 6 bytes, and base64 that only Buffer decodes (URL-safe, unpadded, spaced)', () => {
    expect(unscaledBase64ToDecimal(Buffer.from('7fffffffffff', 'hex').toString('base64'), 0)).toBe(String(2 ** 47 - 1));
    expect(unscaledBase64ToDecimal(Buffer.from('800000000000', 'hex').toString('base64'), 0)).toBe(String(-(2 ** 47)));
    expect(unscaledBase64ToDecimal(Buffer.from('ffffffffffff', 'hex').toString('base64'), 2)).toBe('-0.01');
    expect(unscaledBase64ToDecimal('AA==', 3)).toBe('0.000');
    // 0xfb 0xff: '+/8=' in standard base64, '-_8' URL-safe and unpadded.
    expect(unscaledBase64ToDecimal('-_8', 1)).toBe(unscaledBase64ToDecimal('+/8=', 1));
    expect(unscaledBase64ToDecimal('+/8=', 1)).toBe('-102.5');
    expect(unscaledBase64ToDecimal(' +/8= ', 1)).toBe('-102.5');
    expect(() => unscaledBase64ToDecimal('', 2)).toThrow(/at least one byte/);
  });

  it('round-trips decimal text', () => {
    for (const text of ['0', '-1', '12.34', '-0.05', '99999999999.99', '-123456789012345678901234567890.1234567890']) {
      const scale = text.includes('.') ? text.length - text.indexOf('.') - 1 : 0;
      expect(unscaledBase64ToDecimal(decimalToUnscaledBase64(text, scale), scale)).toBe(text);
    }
  });
});
