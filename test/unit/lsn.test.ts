import { describe, expect, it } from 'vitest';
import { formatLsn, parseLsn } from '../../src/sources/postgres/lsn.js';

describe('parseLsn', () => {
  it('reads the two hex halves into one 64-bit value', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16_b374d848n);
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('0/1')).toBe(1n);
    expect(parseLsn('1/0')).toBe(0x1_0000_0000n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('accepts lowercase hex', () => {
    expect(parseLsn('16/b374d848')).toBe(parseLsn('16/B374D848'));
  });

  it('accepts zero-padded halves', () => {
    expect(parseLsn('00000016/0B374D84')).toBe(0x16_0b374d84n);
    expect(formatLsn(parseLsn('00000016/0B374D84'))).toBe('16/B374D84');
    expect(formatLsn(parseLsn('00000000/00000000'))).toBe('0/0');
  });

  it('orders by the high half before the low half', () => {
    expect(parseLsn('1/0') > parseLsn('0/FFFFFFFF')).toBe(true);
    expect(parseLsn('0/10') > parseLsn('0/F')).toBe(true);
    expect(parseLsn('2/1') < parseLsn('10/0')).toBe(true);
    const sorted = ['10/0', '2/1', '0/FFFFFFFF', '2/0', '0/0'].map(parseLsn).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    expect(sorted.map(formatLsn)).toEqual(['0/0', '0/FFFFFFFF', '2/0', '2/1', '10/0']);
  });

  it.each(['', '16', '16/', '/B374D848', '16/B374D848/1', 'G/1', '1/G', '123456789/0', '0/123456789', ' 16/B374D848', '16/B374D848 ', '-1/0', '0x16/0'])(
    'rejects %j',
    (text) => {
      expect(() => parseLsn(text)).toThrow(`invalid LSN "${text}": expected two hex halves like 16/B374D848`);
    },
  );
});

describe('formatLsn', () => {
  it('writes uppercase hex halves without padding', () => {
    expect(formatLsn(0x16_b374d848n)).toBe('16/B374D848');
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn(0xffff_ffffn)).toBe('0/FFFFFFFF');
    expect(formatLsn(0x1_0000_0000n)).toBe('1/0');
  });

  it.each(['16/B374D848', '0/0', '1/0', '0/1', 'FFFFFFFF/FFFFFFFF', 'ABCDEF/12'])('round-trips %s', (text) => {
    expect(formatLsn(parseLsn(text))).toBe(text);
  });
});
