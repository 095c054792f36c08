import { describe, expect, it } from 'vitest';
import { ByteWriter, fieldEncoder, parseFloatText, RowBinaryValueError, splitArrayLiteral } from '../../src/sinks/clickhouse/row-binary.js';
import { seededRandom } from '../support/seeded-random.js';

/** The RowBinary bytes of one TabSeparated field of `type`, as hex. */
function encode(type: string, field: string): string {
  const out = new ByteWriter(4);
  fieldEncoder(type)!(field, out);
  return out.slice().toString('hex');
}

const float64 = (value: number): string => {
  const bytes = Buffer.alloc(8);
  bytes.writeDoubleLE(value);
  return bytes.toString('hex');
};

describe('RowBinary field encoders', () => {
  it('writes doubles as their exact bytes, the special values included', () => {
    for (const value of [20 / 7, 5e-324, -0, 0, Number.MAX_VALUE, -Number.MAX_VALUE, 0.1, 1 / 3]) {
      const text = Object.is(value, -0) ? '-0' : String(value);
      expect(encode('Float64', text)).toBe(float64(value));
    }
    expect(encode('Float64', 'nan')).toBe(float64(Number.NaN));
    expect(encode('Float64', 'inf')).toBe(float64(Number.POSITIVE_INFINITY));
    expect(encode('Float64', '-inf')).toBe(float64(Number.NEGATIVE_INFINITY));
    expect(encode('Float32', '0.1')).toBe('cdcccc3d');
    expect(encode('Float32', '-0')).toBe('00000080');
    expect(() => encode('Float64', 'abc')).toThrow(RowBinaryValueError);
    expect(parseFloatText('Infinity')).toBe(Number.POSITIVE_INFINITY);
  });

  it('writes Nullable as a flag byte before the value', () => {
    expect(encode('Nullable(Int32)', '\\N')).toBe('01');
    expect(encode('Nullable(Int32)', '-2')).toBe('00feffffff');
    expect(() => encode('Int32', '\\N')).toThrow(/NULL for the non-Nullable Int32/);
  });

  it('writes integers little-endian, 64-bit exactly beyond 2^53, and refuses what does not fit', () => {
    expect(encode('Int8', '-128')).toBe('80');
    expect(encode('UInt8', '1')).toBe('01');
    expect(encode('Int16', '-32768')).toBe('0080');
    expect(encode('Int64', '-1')).toBe('ffffffffffffffff');
    expect(encode('Int64', '-4294967297')).toBe('fffffffffeffffff');
    expect(encode('Int64', '9223372036854775807')).toBe('ffffffffffffff7f');
    expect(encode('UInt64', '18446744073709551615')).toBe('ffffffffffffffff');
    expect(encode('UInt64', '4294967296')).toBe('0000000001000000');
    expect(() => encode('Int16', '32768')).toThrow(/out of range/);
    expect(() => encode('Int64', '9223372036854775808')).toThrow(/out of range/);
  });

  it('writes strings with a LEB128 length, unescaping TabSeparated', () => {
    expect(encode('String', 'ab')).toBe('026162');
    expect(encode('String', 'a\\tb\\\\')).toBe(`04${Buffer.from('a\tb\\').toString('hex')}`);
    expect(encode('String', 'x'.repeat(200)).slice(0, 4)).toBe('c801');
    expect(encode('String', 'é')).toBe('02c3a9');
    for (const text of ['€'.repeat(42), 'x'.repeat(42), 'x'.repeat(127), 'x'.repeat(128), 'é'.repeat(64), '']) {
      const bytes = Buffer.from(text);
      const length = bytes.length < 128 ? bytes.length.toString(16).padStart(2, '0') : `${((bytes.length % 128) | 128).toString(16)}${Math.floor(bytes.length / 128).toString(16).padStart(2, '0')}`;
      expect(encode('Nullable(String)', text), `${text.length} chars`).toBe(`00${length}${bytes.toString('hex')}`);
    }
  });

  it('writes Decimal as the scaled integer in 4, 8 or 16 bytes', () => {
    expect(encode('Decimal(9, 2)', '-1.5')).toBe('6affffff');
    expect(encode('Decimal(18, 2)', '12.34')).toBe('d204000000000000');
    expect(encode('Decimal(38, 10)', '-1')).toBe(Buffer.from(BigInt.asUintN(128, -10_000_000_000n).toString(16).padStart(32, '0'), 'hex').reverse().toString('hex'));
    expect(encode('Decimal(12, 2)', '7')).toBe('bc02000000000000');
    expect(() => encode('Decimal(4, 2)', '100.00')).toThrow(/does not fit/);
    expect(() => encode('Decimal(4, 2)', '1.234')).toThrow(/more than 2 decimal places/);
    expect(() => encode('Decimal(4, 2)', 'NaN')).toThrow(/not a decimal number/);
  });

  it('gives the same Decimal bytes on the fast (double) and the exact (bigint) path', () => {
    const bigint = (value: bigint, bytes: number) => {
      const out = Buffer.alloc(bytes);
      if (bytes === 4) out.writeInt32LE(Number(value));
      else out.writeBigInt64LE(value);
      return out.toString('hex');
    };
    expect(encode('Decimal(12, 2)', '-0.50')).toBe(bigint(-50n, 8));
    expect(encode('Decimal(12, 2)', '-0.5')).toBe(bigint(-50n, 8));
    expect(encode('Decimal(12, 2)', '0')).toBe(bigint(0n, 8));
    expect(encode('Decimal(12, 2)', '9999999999.99')).toBe(bigint(999_999_999_999n, 8));
    expect(() => encode('Decimal(12, 2)', '10000000000.00')).toThrow(/does not fit/);
    expect(encode('Decimal(18, 4)', '-12345678901234.5678')).toBe(bigint(-123_456_789_012_345_678n, 8));
    expect(encode('Decimal(9, 3)', '-999999.999')).toBe(bigint(-999_999_999n, 4));
    expect(encode('Decimal(15, 0)', '999999999999999')).toBe(bigint(999_999_999_999_999n, 8));
  });

  it('reads Decimal text by hand as the exact path reads it, malformed text included', () => {
    // The exact path's reading: -?digits[.digits], at most `scale` decimals (extra zeros allowed), below 10^precision.
    const reference = (precision: number, scale: number, text: string): string => {
      const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
      const fraction = match?.[3] ?? '';
      if (!match || (fraction.length > scale && !/^0*$/.test(fraction.slice(scale)))) return 'refused';
      const digits = BigInt(`${match[2]}${fraction.slice(0, scale).padEnd(scale, '0')}`);
      if (digits >= 10n ** BigInt(precision)) return 'refused';
      const out = Buffer.alloc(precision <= 9 ? 4 : 8);
      if (precision <= 9) out.writeInt32LE(Number(match[1] ? -digits : digits));
      else out.writeBigInt64LE(match[1] ? -digits : digits);
      return out.toString('hex');
    };
    const attempt = (type: string, text: string): string => {
      try {
        return encode(type, text);
      } catch (error) {
        if (error instanceof RowBinaryValueError) return 'refused';
        throw error;
      }
    };
    const random = seededRandom(5);
    const characters = '0123456789.-+e ';
    const texts = ['.5', '5.', '-.5', '-', '', '1.2.3', '+1', '1e3', ' 1', '1 ', '--1', '0.10', '-0', '00012.30', '\u0661', '123456789012345', '1234567890123456'];
    for (let round = 0; round < 3_000; round++) {
      const length = 1 + Math.floor(random() * 16);
      let text = '';
      // Mostly digits, with a sign and a dot where a decimal has them, and a stray character now and then.
      for (let at = 0; at < length; at++) text += random() < 0.85 ? String(Math.floor(random() * 10)) : characters[Math.floor(random() * characters.length)];
      texts.push(text, `-${text.replace(/[^0-9]/g, '')}`, text.replace(/[^0-9.]/g, ''));
    }
    for (const text of texts) {
      for (const [precision, scale] of [[12, 2], [9, 3], [15, 0], [15, 6], [4, 2]] as const) {
        expect(attempt(`Decimal(${precision}, ${scale})`, text), `${JSON.stringify(text)} as Decimal(${precision}, ${scale})`).toBe(reference(precision, scale, text));
      }
    }
  });

  it('writes the last value of a date and time encoder again, and refuses an empty text as before', () => {
    for (const type of ['Date', "DateTime('UTC')", "DateTime64(6, 'UTC')"]) {
      const encoder = fieldEncoder(type)!;
      const bytes = (text: string) => {
        const out = new ByteWriter(16);
        encoder(text, out);
        return out.slice().toString('hex');
      };
      const [first, second] = type === 'Date' ? ['2024-02-29', '2024-03-01'] : ['2024-02-29 12:34:56.250000', '2024-02-29 12:34:57.000000'];
      const once = bytes(first);
      expect(bytes(first)).toBe(once);
      expect(bytes(second)).not.toBe(once);
      expect(bytes(first)).toBe(once);
      expect(bytes(first)).toBe(encode(type, first));
      // The first text an encoder sees may be empty: it is refused, not taken for the remembered value.
      expect(() => fieldEncoder(type)!('', new ByteWriter(16))).toThrow(RowBinaryValueError);
      expect(() => bytes('')).toThrow(RowBinaryValueError);
    }
  });

  it('gives the same DateTime seconds for rows of one day (the cached day) and of others', () => {
    const seconds = (text: string) => Buffer.from(encode("DateTime('UTC')", text), 'hex').readUInt32LE();
    expect(seconds('2024-02-29 12:34:56')).toBe(Date.UTC(2024, 1, 29, 12, 34, 56) / 1000);
    expect(seconds('2024-02-29 00:00:01')).toBe(Date.UTC(2024, 1, 29, 0, 0, 1) / 1000);
    expect(seconds('2024-03-01 23:59:59')).toBe(Date.UTC(2024, 2, 1, 23, 59, 59) / 1000);
    expect(seconds('2024-03-01 23:59:59.999')).toBe(Date.UTC(2024, 2, 1, 23, 59, 59) / 1000);
    expect(() => encode("DateTime('UTC')", '2024-03-01 24:00:00x')).toThrow(/not a date and time/);
  });

  it('writes dates, times and UUIDs as ClickHouse stores them', () => {
    expect(encode('Date', '1970-01-02')).toBe('0100');
    expect(encode("DateTime('UTC')", '1970-01-01 00:01:00')).toBe('3c000000');
    expect(encode('DateTime', '2024-02-29 12:34:56')).toBe(Buffer.from(new Uint32Array([Date.UTC(2024, 1, 29, 12, 34, 56) / 1000]).buffer).toString('hex'));
    expect(encode("DateTime64(6, 'UTC')", '1969-12-31 23:59:59.500000')).toBe('e05ef8ffffffffff');
    expect(() => encode('Date', '1960-01-01')).toThrow(/outside the range/);
    expect(() => encode("DateTime('UTC')", '2200-01-01 00:00:00')).toThrow(/outside the range/);
    expect(encode('UUID', '01234567-89ab-cdef-0011-223344556677')).toBe('efcdab89674523017766554433221100');
  });

  it('writes arrays from their literal, NULL and quoted elements included', () => {
    expect(splitArrayLiteral("[1,NULL,'a\\'b','c,d',[2,3]]")).toEqual(['1', null, "a'b", 'c,d', '[2,3]']);
    expect(splitArrayLiteral('[]')).toEqual([]);
    expect(encode('Array(Nullable(Int32))', '[1,NULL]')).toBe('02000100000001');
    expect(encode('Array(String)', "['a\\tb']")).toBe(`01${'03'}${Buffer.from('a\tb').toString('hex')}`);
    expect(encode('Array(Float64)', '[nan,-0]')).toBe(`02${float64(Number.NaN)}${float64(-0)}`);
  });

  it('has no encoder for types the sink does not write', () => {
    expect(fieldEncoder('Enum8(\'a\' = 1)')).toBeUndefined();
    expect(fieldEncoder("DateTime('Europe/Berlin')")).toBeUndefined();
    expect(fieldEncoder('Array(IPv4)')).toBeUndefined();
  });
});
